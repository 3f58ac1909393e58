// One deployed app as the supervisor holds it (its record, console, process, run, restart history and command chain):
// how one is made, how its commands are serialised, and what it shows (list_deployed_apps, the counts of /health,
// /metrics). Its transitions are supervisor.ts.
import path = require('node:path');
import type { Config } from '../config';
import type { Frame } from '../core/frame';
import type { RunAs } from '../user-code/run-as';
import { AppConsole } from './console';
import type { GroupProcess } from './process';
import type { ProcessTree } from './process-tree';
import { STATUSES, type AppConfig, type AppRecord, type AppStatus, type AppStore, type AppType } from './store';
import { makeAppFolders } from './app-folders';
import type { AppMetrics, AppWatch, Run } from './app-watch';
import type { UsageSampler } from './usage';
import { freshHistory, type RunHistory } from './restart-policy';

export interface DeploySpec {
  prototypeId: string;
  appId: string;
  name: string;
  type: AppType;
  /** python: the source; binary: the executable, base64. */
  code?: string;
  /** python: a multi-file project already unpacked (src/python/project.ts), which becomes the app's folder. */
  projectDir?: string;
  config: AppConfig;
  autoStart: boolean;
}

/** Behaviour for app kinds that are not a process of their own (mock-service): apps/kinds/kind.ts. */
export type { ServiceHook } from './kinds';

export interface Instance {
  rec: AppRecord;
  console: AppConsole;
  proc: GroupProcess | null;
  /** A stop was asked for: the coming exit is not a failure. */
  stopping: boolean;
  serviceRunning: boolean;
  /** A restart waiting for its backoff (a handle of the clock). */
  backoff: unknown;
  /** Failures in a row, and since when the current run counts toward a stable one (restart-policy.ts). */
  history: RunHistory;
  chain: Promise<unknown>;
  /** Every process of the app, also those that left its group (process-tree.ts); ended when the app ends. */
  tree: ProcessTree | null;
  treeEnded: Promise<void>;
  /** Limits and health checks of the current run (app-watch.ts). */
  run: Run | null;
}

/** total, and one count per status (an installed app is not stopped, a starting one is not running). */
export type AppCountsShape = { total: number } & Record<AppStatus, number>;

/** The record of a deploy, before anything is installed. */
export function recordOf(spec: DeploySpec): AppRecord {
  return {
    id: spec.appId, prototypeId: spec.prototypeId, name: spec.name, type: spec.type,
    createdAt: new Date().toISOString(), config: spec.config, desired: 'stopped', status: 'installing',
    exitCode: null, reason: null, restarts: 0, pid: null, lastSeq: 0,
  };
}

/** A new instance of `rec`, with its folders made and its console numbering on from `rec.lastSeq`. */
export function makeInstance(rec: AppRecord, store: AppStore, runAs: RunAs | null, config: Config): Instance {
  const { own } = makeAppFolders(store, runAs, rec.id);
  const { apps } = config;
  const console = new AppConsole({ appId: rec.id, lines: apps.consoleBufferLines, bytes: apps.consoleBufferBytes, logFile: path.join(own, 'console.log'), logMaxBytes: apps.logMaxBytes });
  console.startAfter(rec.lastSeq ?? 0);
  return { rec, console, proc: null, stopping: false, serviceRunning: false, backoff: null, history: freshHistory(), chain: Promise.resolve(), tree: null, treeEnded: Promise.resolve(), run: null };
}

/** Runs fn after every earlier command of this app; a failure of one does not block the next. */
export function serial<T>(inst: Instance, fn: () => Promise<T>): Promise<T> {
  const next = inst.chain.then(fn, fn);
  inst.chain = next.catch(() => {});
  return next;
}

export interface StatusExtra { exitCode?: number | null; reason?: string | null }

/** The app's record takes the new status (and pid, console seq), and its console's subscribers get the frame. */
export function applyStatus(inst: Instance, status: AppStatus, extra: StatusExtra): AppRecord {
  const rec = inst.rec;
  rec.status = status;
  if (extra.exitCode !== undefined) rec.exitCode = extra.exitCode;
  if (extra.reason !== undefined) rec.reason = extra.reason;
  else if (status === 'running' || status === 'installed') rec.reason = null;
  rec.pid = inst.proc?.alive ? inst.proc.pid : null;
  rec.lastSeq = inst.console.ring.lastSeq;
  const frame: Frame = { type: 'app_status', appId: rec.id, status, timestamp: new Date().toISOString() };
  if (status === 'stopped' || status === 'error') frame.exitCode = rec.exitCode;
  if (rec.reason) frame.reason = rec.reason;
  inst.console.broadcast(frame);
  return rec;
}

/** An app as list_deployed_apps shows it. */
export function listed({ rec, proc }: Instance, usage: UsageSampler, watch: AppWatch): Frame {
  const u = usage.get(rec.id);
  return {
    id: rec.id, name: rec.name, type: rec.type, status: rec.status, createdAt: rec.createdAt,
    pid: proc?.alive ? proc.pid : null, exitCode: rec.exitCode, restarts: rec.restarts,
    cpu: u?.cpu ?? null, memory: u?.memory ?? null, restartPolicy: rec.config.restartPolicy, reason: rec.reason,
    ...watch.listed(rec, !!proc?.alive),
  };
}

/** An app's figures for /metrics (app-watch.ts, doors/metrics.ts). */
export function metricsOf(i: Instance, usage: UsageSampler, watch: AppWatch): AppMetrics {
  return watch.metrics(i.rec, i.proc?.alive ? i.proc.pid : null, usage.get(i.rec.id)?.memory ?? null, i.console.ring.lastSeq);
}

/** The process group leader of every app whose process is alive (what usage.ts samples). */
export function livePids(apps: ReadonlyMap<string, Instance>): Map<string, number> {
  const m = new Map<string, number>();
  for (const [id, inst] of apps) if (inst.proc?.alive) m.set(id, inst.proc.pid);
  return m;
}

export function countsOf(instances: Iterable<Instance>): AppCountsShape {
  const c = { total: 0, ...Object.fromEntries(STATUSES.map((st) => [st, 0])) } as AppCountsShape;
  for (const { rec } of instances) { c.total++; c[rec.status]++; }
  return c;
}
