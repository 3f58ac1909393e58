// The long-lived parts the commands work on. Built by agent.ts in order; doors reach them only through commands.
import type { Config } from './config';
import type { Logger } from './log';

/** Connection flags the health endpoint and get_runtime_info read; each part sets its own. */
export interface StatusBoard {
  kitManager: { configured: boolean; connected: boolean; url: string; droppedReplies: number; lastLoss?: { reason: string; at: string } | null };
  kuksa: { mode: string; connected: boolean; address: string; api: string; serveError?: string | null };
}

export interface RuntimeState {
  readonly runtimeId: string;
  readonly kitId: string;
  readonly name: string;
  readonly version: string;
  readonly startedAt: number;
  /** Things an operator should know (a quarantined registry, a refused config part): shown in get_runtime_info. */
  readonly notices: string[];
}

export interface Parts {
  readonly config: Config;
  readonly log: Logger;
  readonly runtime: RuntimeState;
  readonly status: StatusBoard;
  /** apps.runAs resolved at start: who runs user code (null = the agent's own user). */
  readonly runAs: import('./apps/run-as').RunAs | null;
  // parts of later areas are added below, one line each
  /** The app supervisor (issue 3); set in agent.ts step 2. */ apps?: import('./apps/supervisor').AppSupervisor;
  /** Vehicle signals (issue 4): hub, backend, mock provider, model; set in agent.ts step 2. */ signals?: import('./signals/hub').SignalHub;
  /** Ad-hoc runs for the Kit-Manager (run_python_app / run_bin_app); set in agent.ts step 2. */ adhoc?: import('./apps/adhoc').AdhocRuns;
  /** Python packages in dataDir/python-packages (issue 6); set in agent.ts step 2. */ packages?: import('./packages/installer').PackageInstaller;
  /** Traced python runs by owner, for set_vars_value (issue 6); created on first use. */ traces?: import('./apps/tracer').TraceRegistry;
  /** The playground's file folder (read-file / write-file, runtime.filesDir); created on first use. */ files?: import('./files/box-files').BoxFiles;
  /** Console subscriptions to apps not deployed yet; created on first use. */ pendingConsoles?: import('./commands/console-pending').PendingConsoles;
  /** The MQTT broker apps are given (embedded, external or off); set in agent.ts step 2. */ mqtt?: import('./mqtt/service').MqttService;
  /** The Python vehicle environment: vehicle model package, sdv alias, SDK probe; set in agent.ts step 2. */ python?: import('./packages/python-env').PythonEnvironment;
}
