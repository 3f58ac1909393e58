// The long-lived parts the commands work on, all built by agent.ts before the doors open (and stopped in reverse);
// doors reach them only through commands and the part queries at the bottom (uptime, runtime state).
import type { Config } from './config';
import type { Logger } from './log';
import type { RuntimeState, StatusBoard } from './core/status';
import type { RunAs } from './user-code/run-as';
import type { AppSupervisor } from './apps/supervisor';
import type { AdhocRuns } from './apps/adhoc';
import type { TraceRegistry } from './apps/tracer';
import type { PendingConsoles } from './apps/pending-consoles';
import type { SignalHub } from './signals/hub';
import type { PackageInstaller } from './python/installer';
import type { PythonEnvironment } from './python/environment';
import type { BoxFiles } from './files/box-files';
import type { MqttService } from './mqtt/service';

export interface Parts {
  readonly config: Config;
  readonly log: Logger;
  readonly runtime: RuntimeState;
  readonly status: StatusBoard;
  /** apps.runAs resolved at start: who runs user code (null = the agent's own user). */
  readonly runAs: RunAs | null;
  /** Deployed apps: lifecycle, console, restart policy, the registry on disk. */
  readonly apps: AppSupervisor;
  /** Console subscriptions to apps not deployed yet. */
  readonly pendingConsoles: PendingConsoles;
  /** Ad-hoc runs for the Kit-Manager (run_python_app / run_bin_app). */
  readonly adhoc: AdhocRuns;
  /** Traced python runs by owner, for set_vars_value. */
  readonly traces: TraceRegistry;
  /** Vehicle signals: hub, backend, mock provider, model. */
  readonly signals: SignalHub;
  /** The MQTT broker apps are given (embedded, external or off). */
  readonly mqtt: MqttService;
  /** The Python vehicle environment: vehicle model package, sdv alias, SDK probe. */
  readonly python: PythonEnvironment;
  /** Python packages in dataDir/python-packages. */
  readonly packages: PackageInstaller;
  /** The playground's file folder (read-file / write-file, runtime.filesDir). */
  readonly files: BoxFiles;
}

// ---- part queries (what the doors report besides command replies) ---------------------------------------------------

/** Seconds since the agent started (get_runtime_info, /health). */
export function uptimeS(parts: Parts): number {
  return Math.floor((Date.now() - parts.runtime.startedAt) / 1000);
}

/** What a Kit-Manager's runtime-state report lists: the Python runtime's lsOfRunner / lsOfApiSubscriber (epoch s). */
export interface RuntimeStateData {
  [key: string]: unknown;
  noOfRunner: number;
  noOfApiSubscriber: number;
  lsOfRunner: Array<{ runId: string; appName: string; request_from: string; from: unknown }>;
  lsOfApiSubscriber: Record<string, { apis: string[]; from: number }>;
}

/** The ad-hoc runs and the signal subscribers now, in the Kit-Manager's runtime-state shape. */
export function runtimeState(parts: Parts): RuntimeStateData {
  const lsOfRunner: RuntimeStateData['lsOfRunner'] = parts.adhoc.list().map((r) => ({ runId: r.runId, appName: r.appName, request_from: r.request_from, from: r.from }));
  const lsOfApiSubscriber: RuntimeStateData['lsOfApiSubscriber'] = {};
  for (const s of parts.signals.subscribers()) lsOfApiSubscriber[s.clientId] = { apis: s.apis, from: Math.floor(s.since / 1000) };
  return { noOfRunner: lsOfRunner.length, noOfApiSubscriber: Object.keys(lsOfApiSubscriber).length, lsOfRunner, lsOfApiSubscriber };
}
