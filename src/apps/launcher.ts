// How one run of a deployed app starts, for the supervisor: its spawn spec (spawn-spec.ts), its process group
// (process.ts) inside its limits and with its health checks (app-watch.ts), its output into its console with the
// import hint of a kind that wants one (python: import-hint.ts); or, for a kind that is no process of its own
// (mock-service), the service hook plugged in for it (apps/kinds/). The supervisor decides when, and what follows an exit.
import path = require('node:path');
import type { Config } from '../config';
import type { Logger } from '../log';
import type { RunAs } from '../user-code/run-as';
import type { ServiceAddresses } from '../user-code/app-env';
import type { AppConsole } from './console';
import { GroupProcess, type ExitInfo } from './process';
import { appSpawnSpec } from './spawn-spec';
import { ImportHint, type HintSource } from './import-hint';
import type { AppStore, AppRecord } from './store';
import type { AppWatch, Run } from './app-watch';
import { kindOf, type ServiceHook } from './kinds';
import { unavailable } from '../core/errors';

/** Environment entries only this app's processes carry (its id and its FIFO path: unique per agent and app). */
export function marksOf(appId: string, fifo: string | undefined): string[] {
  return fifo ? [`SDV_APP_ID=${appId}`, `SDV_STDERR_FIFO=${fifo}`] : [];
}

export interface LaunchEvents {
  onExit(info: ExitInfo): void;
  /** A health check gave up on the run: the supervisor ends it. */
  onUnhealthy(): void;
}

export class AppLauncher {
  /** Where a python app's failed import finds the agent's extra console line (the python environment part). */
  importHints: HintSource | null = null;
  /** Behaviour of the kinds that are a service, not a process of their own (mock-service), by type. */
  readonly hooks = new Map<string, ServiceHook>();
  /** The temp-dir FIFO folder already named in the log (see appSpawnSpec). */
  private spareFifoDirSaid: string | null = null;

  constructor(
    private readonly config: Config, private readonly log: Logger, private readonly store: AppStore,
    private readonly runAs: RunAs | null, private readonly addresses: ServiceAddresses, private readonly watch: AppWatch,
  ) {}

  /** Starts the service of a kind that is no process (its hook); UNAVAILABLE when this build has none. */
  async startService(rec: AppRecord, console: AppConsole): Promise<void> {
    const hook = this.hooks.get(rec.type);
    if (!hook) throw unavailable(`${rec.type} is not available in this build of the agent`);
    await hook.start(rec, console);
  }

  async stopService(rec: AppRecord): Promise<void> { await this.hooks.get(rec.type)?.stop(rec); }

  /** Starts the app's process; throws when it cannot be started (missing executable, no docker, a refused spawn). */
  start(rec: AppRecord, console: AppConsole, events: LaunchEvents): Run {
    const spec = appSpawnSpec(rec, this.store.folder(rec.id), this.config, this.runAs, this.store.agentFolder(rec.id), this.addresses);
    const fifoDir = spec.stderrFifo ? path.dirname(spec.stderrFifo) : null;
    if (fifoDir && fifoDir !== this.store.agentFolder(rec.id) && fifoDir !== this.spareFifoDirSaid) {
      // Where the FIFOs went when dataDir cannot be written: an operator (and a cleanup after a crash) can find it.
      this.spareFifoDirSaid = fifoDir;
      this.log.warn({ dir: fifoDir }, 'the apps folder is not writable: stderr FIFOs are made in the temp dir');
    }
    const hint = kindOf(rec.type).importHints && this.importHints ? new ImportHint(this.importHints) : null;
    // Inside its limits (app-watch.ts); the wrapper gets what it needs for rlimits in its environment.
    const run = this.watch.start(rec, console, marksOf(rec.id, spec.stderrFifo), (env) => new GroupProcess({ ...spec, env: { ...spec.env, ...env } }, {
      onStdout: (c) => console.write('stdout', c),
      onStderr: (c) => {
        console.write('stderr', c);
        const line = hint?.feed(c);
        if (line) console.note('stderr', line);
      },
      onExit: events.onExit,
    }));
    this.watch.watchHealth(rec, run, spec, events.onUnhealthy);
    return run;
  }
}
