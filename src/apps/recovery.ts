// What the supervisor finds when the agent starts, after a clean stop or a crash (kill -9, power loss): the registry
// read back (one that does not parse moved aside and said), the processes a previous agent left behind killed (by
// their marks, and each recorded leader), and every app's status as its desired state makes it (registry.ts
// `restore`), in start order (start-order.ts): an app comes after the apps it depends on.
import fs = require('node:fs');
import path = require('node:path');
import type { Logger } from '../log';
import { letPass, type RunAs } from '../user-code/run-as';
import { isLeftoverOf } from './process';
import type { AppRecord, AppStore } from './store';
import type { Confinement } from './limits/confinement';
import { restore, type AppRegistry } from './registry';
import { startOrder } from './start-order';
import { marksOf } from './launcher';

/** The apps of the registry in start order; `again`: meant to run, to be started again. */
export function recoverApps(registry: AppRegistry, store: AppStore, runAs: RunAs | null, confinement: Confinement, log: Logger, notices: string[]): Array<{ rec: AppRecord; again: boolean }> {
  letPass(runAs, store.root);
  try {
    fs.mkdirSync(store.agentRoot, { recursive: true, mode: 0o700 });
    letPass(runAs, store.agentRoot);
  } catch { /* read-only dataDir: consoles are not logged, stderr FIFOs go to the temp folder */ }
  const { apps, quarantined } = registry.load();
  if (quarantined) {
    const msg = `app registry could not be read and was moved to ${quarantined}; apps must be deployed again`;
    log.error({ file: quarantined }, msg);
    notices.push(msg);
  }
  const swept = confinement.sweep(apps.map((r) => ({ appId: r.id, marks: marksOf(r.id, path.join(store.agentFolder(r.id), 'stderr.fifo')) })));
  if (swept) log.warn({ processes: swept }, 'killed app processes left over from the previous agent');
  const order = startOrder(apps.map((r) => r.id), (id) => apps.find((r) => r.id === id)?.config.dependsOn);
  return order.map((id) => apps.find((r) => r.id === id)!).map((rec) => {
    // A process of the previous agent that survived (kill -9 of the agent, app ignoring SIGHUP) is ended first.
    if (rec.pid && isLeftoverOf(rec.pid, rec.id)) {
      log.warn({ appId: rec.id, pid: rec.pid }, 'killing app process left over from the previous agent');
      try { process.kill(-rec.pid, 'SIGKILL'); } catch { /* gone */ }
    }
    return { rec, again: restore(rec) };
  });
}

/** The registry as recovered is written; a box whose storage went read-only still runs its apps (said once). */
export function saveRecovered(registry: AppRegistry, log: Logger, notices: string[]): void {
  try { registry.save(); } catch (e) {
    // What would change the apps is refused (STORAGE) until it is writable.
    const msg = `the app registry cannot be written (${(e as Error).message}): apps run, changes are refused until runtime.dataDir is writable`;
    log.error({ err: e }, msg);
    notices.push(msg);
  }
}
