// The unit tier (`npm run test:unit`): the pure and in-process modules, in one process so that the tier costs one
// start of the TypeScript loader instead of one per file. Each file under test/unit/ tests one module (its first line
// says which); the end-to-end tier (the real agent over real sockets) is the rest of test/, chaos under test/chaos/.
import './unit/core-errors';
import './unit/core-json-size';
import './unit/child-env';
import './unit/fsutil';
import './unit/core-backoff';
import './unit/core-clock';
import './unit/core-heap';
import './unit/sha256';
import './unit/kit-wire';
import './unit/send-bound';
import './unit/mqtt-units';
import './unit/python-requirement';
import './unit/sdv-query';
import './unit/signal-failure';
import './unit/signals-units';
import './unit/kuksa-v2-proto';
import './unit/protos';
import './unit/signals-sampling';
import './unit/no-shell';
import './unit/project-tree';
import './unit/python-project';
import './unit/python-syntax-check';
import './unit/cpp-values';
import './unit/python-model-root';
import './unit/kit-frame-cap';
import './unit/apps-limits';
import './unit/apps-health-order';
import './unit/apps-restart-policy';
import './unit/apps-registry';
import './unit/apps-kinds';
import './unit/dispatch';
import './unit/apps-console';
import './unit/core-child-runner';
import './unit/src-layers';
