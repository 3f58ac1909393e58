// The `python` kind: `code` is the app's source, stored as main.py (0600) and run as `apps.python -u main.py`; its
// output is watched for a failed import of the vehicle environment. (A multi-file project replaces the app's folder
// before the install: src/python/project.ts.)
import path = require('node:path');
import { badRequest } from '../../core/errors';
import { writeUserFile } from '../../user-code/user-files';
import type { AppKind } from './kind';

export const PYTHON_MAIN = 'main.py';

export const python: AppKind = {
  name: 'python',
  code: 'source',
  files: [PYTHON_MAIN],
  checkConfig(_config, hasCode): void {
    if (!hasCode) throw badRequest('prototype.code: a python app needs its source code');
  },
  install(folder, runAs, code): void {
    writeUserFile(runAs, path.join(folder, PYTHON_MAIN), code ?? '', 0o600);
  },
  service: false,
  spawn: ({ apps }) => ({ file: apps.python, args: ['-u', PYTHON_MAIN] }),
  unavailable: () => null,
  rlimits: true,
  importHints: true,
};
