// The app supervisor: one explicit state machine per app (statuses of seed 000), restart policy with capped
// exponential backoff, pause/resume, and the registry kept on disk (desired state written ahead, status soon after).
//
//   installing → installed ─run→ starting → running ⇄ paused
//   running/paused/starting ─stop→ stopped            ─exit 0→ stopped   ─exit ≠ 0→ error (policy never)
//   exit (policy on-failure/always) → starting (after a jittered backoff from restartDelayMs up to 60 s) → running;
//   too many in a row → error
//   any ─uninstall→ uninstalling → gone
//
// Commands on one app are serialised (a per-app promise chain), so a stop and a run never interleave.
// A command that changes what should run writes the registry first (write-ahead): when dataDir refuses the write
// (read-only, full), the command is refused with STORAGE and nothing is done, so what is acknowledged is on disk.
// Status, pid and exit code are not written ahead: they follow within STATUS_SAVE_MS, one write for every change in
// that time, off the request path (the next start recomputes status from the desired state and the processes it finds).
// installing and uninstalling are the exceptions: a start after a crash in the middle of either must know it.
//
// Over 400 lines on purpose: the transitions above, the per-app chain and the write-ahead are one state machine over
// the private Instance; the parts that stand alone are already their own files (process, console, store, folders,
// process trees, usage, spawn specs).
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Config } from '../config';
import type { Logger } from '../log';
import { backoffDelay } from '../core/backoff';
import { conflict, CommandError, notFound, storageFailure, unavailable } from '../core/errors';
import type { Frame } from '../core/frame';
import { AppConsole } from './console';
import { GroupProcess, isLeftoverOf, type ExitInfo } from './process';
import { letPass, type RunAs } from '../user-code/run-as';
import { appSpawnSpec, onPath } from './spawn-spec';
import { serviceAddresses } from '../user-code/app-env';
import { ImportHint, type HintSource } from './import-hint';
import { AppStore, STATUSES, type AppConfig, type AppRecord, type AppStatus, type AppType } from './store';
import { UsageSampler } from './usage';
import { makeAppFolders, writeAppCode } from './app-folders';
import { ProcessTrees, type ProcessTree } from './process-tree';

export const BACKOFF_MAX_MS = 60_000;
/** Running this long without exiting counts as stable: the crash-loop count and backoff start again. */
export const STABLE_MS = 60_000;
/** How long a status change waits to be written with the others that come meanwhile. */
const STATUS_SAVE_MS = 1000;

export interface DeploySpec {
  prototypeId: string;
  appId: string;
  name: string;
  type: AppType;
  /** python: the source; binary: the executable, base64. */
  code?: string;
  config: AppConfig;
  autoStart: boolean;
}

/** Behaviour for app types that are not a process of their own (mock-service), wired by the signals area. */
export interface ServiceHook {
  start(app: AppRecord, console: AppConsole): Promise<void>;
  stop(app: AppRecord): Promise<void>;
}

interface Instance {
  rec: AppRecord;
  console: AppConsole;
  proc: GroupProcess | null;
  /** A stop was asked for: the coming exit is not a failure. */
  stopping: boolean;
  serviceRunning: boolean;
  backoff: NodeJS.Timeout | null;
  stableTimer: NodeJS.Timeout | null;
  /** Exits in a row without a stable run. */
  failures: number;
  chain: Promise<unknown>;
  /** Every process of the app, also those that left its group (process-tree.ts); ended when the app ends. */
  tree: ProcessTree | null;
  treeEnded: Promise<void>;
}

/** total, and one count per status (an installed app is not stopped, a starting one is not running). */
export type AppCountsShape = { total: number } & Record<AppStatus, number>;

export class AppSupervisor {
  readonly store: AppStore;
  private readonly apps = new Map<string, Instance>();
  private readonly hooks = new Map<string, ServiceHook>();
  private importHints: HintSource | null = null;
  /** The temp-dir FIFO folder already named in the log (see appSpawnSpec). */
  private spareFifoDirSaid: string | null = null;
  readonly usage: UsageSampler;
  private readonly trees: ProcessTrees;
  private closing = false;
  /** A status write waiting (saveSoon). */
  private saveTimer: NodeJS.Timeout | null = null;

  constructor(private readonly config: Config, private readonly log: Logger, private readonly notices: string[], private readonly runAs: RunAs | null = null, private readonly addresses = serviceAddresses(config)) {
    this.store = new AppStore(config.runtime.dataDir);
    this.trees = new ProcessTrees(config.runtime.dataDir, log, config.apps.processTree as 'auto' | 'cgroup' | 'proc');
    this.usage = new UsageSampler(() => {
      const m = new Map<string, number>();
      for (const [id, inst] of this.apps) if (inst.proc?.alive) m.set(id, inst.proc.pid);
      return m;
    });
  }

  /** Read the registry and bring back every app; the ones meant to run are started again. */
  start(): void {
    letPass(this.runAs, this.store.root);
    try {
      fs.mkdirSync(this.store.agentRoot, { recursive: true, mode: 0o700 });
      letPass(this.runAs, this.store.agentRoot);
    } catch { /* read-only dataDir: consoles are not logged, stderr FIFOs go to the temp folder */ }
    const { apps, quarantined } = this.store.load();
    if (quarantined) {
      const msg = `app registry could not be read and was moved to ${quarantined}; apps must be deployed again`;
      this.log.error({ file: quarantined }, msg);
      this.notices.push(msg);
    }
    const swept = this.trees.sweep(apps.map((r) => ({ appId: r.id, marks: marksOf(r.id, path.join(this.store.agentFolder(r.id), 'stderr.fifo')) })));
    if (swept) this.log.warn({ processes: swept }, 'killed app processes left over from the previous agent');
    for (const rec of apps) {
      // A process of the previous agent that survived (kill -9 of the agent, app ignoring SIGHUP) is ended first.
      if (rec.pid && isLeftoverOf(rec.pid, rec.id)) {
        this.log.warn({ appId: rec.id, pid: rec.pid }, 'killing app process left over from the previous agent');
        try { process.kill(-rec.pid, 'SIGKILL'); } catch { /* gone */ }
      }
      rec.pid = null;
      const inst = this.instance(rec);
      if (rec.status === 'installing' || rec.status === 'uninstalling') {
        rec.reason = `agent stopped while ${rec.status}; deploy again`;
        rec.status = 'error';
      } else if (rec.desired === 'running') {
        rec.status = 'stopped';
        void this.serial(inst, () => this.launch(inst, 'restored after agent restart')).catch(() => { /* now in error, logged */ });
      } else if (rec.status === 'running' || rec.status === 'paused' || rec.status === 'starting') {
        rec.status = 'stopped';
      }
    }
    try { this.save(); } catch (e) {
      // A box whose storage went read-only still runs its apps; what would change them is refused (STORAGE).
      const msg = `the app registry cannot be written (${(e as Error).message}): apps run, changes are refused until runtime.dataDir is writable`;
      this.log.error({ err: e }, msg);
      this.notices.push(msg);
    }
    this.log.info({ apps: apps.length, restarting: apps.filter((a) => a.desired === 'running').length }, 'apps restored');
  }

  /** Agent shutdown: processes end, desired states stay as they are so the next start restores them. */
  async shutdown(): Promise<void> {
    this.closing = true;
    const waits: Promise<void>[] = [];
    for (const inst of this.apps.values()) {
      if (inst.backoff) clearTimeout(inst.backoff);
      if (inst.stableTimer) clearTimeout(inst.stableTimer);
      if (inst.proc) { inst.stopping = true; waits.push(inst.proc.stop(this.config.apps.stopGraceMs)); }
      if (inst.serviceRunning) waits.push(this.hooks.get(inst.rec.type)!.stop(inst.rec).catch(() => {}));
    }
    await Promise.all(waits);
    await Promise.all([...this.apps.values()].map((i) => i.treeEnded));
    this.trees.close();
    for (const inst of this.apps.values()) {
      inst.console.close();
      inst.rec.lastSeq = inst.console.ring.lastSeq;
    }
    this.usage.stop();
    this.saveOrLog();
  }

  /**
   * The agent's cgroup folder goes (when no app is in it): at shutdown, and also when the start failed before the
   * supervisor ever ran (the folder was made when it was built).
   */
  closeTrees(): void { this.trees.close(); }

  /** The last failed write of the registry, until a write succeeds: /health shows it and says degraded. */
  storageError: string | null = null;

  setServiceHook(type: AppType, hook: ServiceHook): void { this.hooks.set(type, hook); }

  /** Where a python app's failed import finds the agent's extra console line (the python environment part). */
  setImportHints(source: HintSource): void { this.importHints = source; }

  // ---- queries -------------------------------------------------------------------------------------------------

  has(appId: string): boolean { return this.apps.has(appId); }

  get(appId: string): AppRecord {
    const inst = this.apps.get(appId);
    if (!inst) throw notFound(`no app ${appId}: deploy it first (list_deployed_apps shows what is installed)`);
    return inst.rec;
  }

  console(appId: string): AppConsole {
    this.get(appId);
    return this.apps.get(appId)!.console;
  }

  list(): Frame[] {
    return [...this.apps.values()].map(({ rec, proc }) => {
      const u = this.usage.get(rec.id);
      return {
        id: rec.id, name: rec.name, type: rec.type, status: rec.status, createdAt: rec.createdAt,
        pid: proc?.alive ? proc.pid : null, exitCode: rec.exitCode, restarts: rec.restarts,
        cpu: u?.cpu ?? null, memory: u?.memory ?? null, restartPolicy: rec.config.restartPolicy, reason: rec.reason,
      };
    });
  }

  counts(): AppCountsShape {
    const c = { total: 0, ...Object.fromEntries(STATUSES.map((st) => [st, 0])) } as AppCountsShape;
    for (const { rec } of this.apps.values()) { c.total++; c[rec.status]++; }
    return c;
  }

  // ---- commands ------------------------------------------------------------------------------------------------

  async deploy(spec: DeploySpec): Promise<AppRecord> {
    const existing = this.apps.get(spec.appId);
    if (!existing && this.apps.size >= this.config.apps.maxApps) {
      throw new CommandError('LIMIT', `at most ${this.config.apps.maxApps} apps (apps.maxApps); uninstall one first`);
    }
    if (spec.type === 'docker' && !onPath(this.config.apps.docker)) throw unavailable('docker is not available on this box');
    const rec: AppRecord = {
      id: spec.appId, prototypeId: spec.prototypeId, name: spec.name, type: spec.type,
      createdAt: new Date().toISOString(), config: spec.config, desired: 'stopped', status: 'installing',
      exitCode: null, reason: null, restarts: 0, pid: null, lastSeq: 0,
    };
    const inst = existing ?? this.newInstance(rec);
    return this.serial(inst, async () => {
      // While this deploy waited its turn, the app was uninstalled or the deploy that created it was refused.
      if (this.apps.get(spec.appId) !== inst) throw conflict(`app ${spec.appId} changed while this deploy waited; send it again`);
      if (existing) {
        // Redeploy: the old instance stops and is replaced; console subscribers stay subscribed.
        this.commit(`app ${spec.appId} was left as it was`);
        await this.halt(existing, 'redeployed');
        rec.lastSeq = existing.console.ring.lastSeq;
        existing.rec = rec;
        existing.failures = 0;
      } else {
        try { this.commit('nothing was installed'); } catch (e) { this.drop(inst); throw e; }
      }
      this.setStatus(inst, 'installing');
      try {
        this.install(spec);
      } catch (e) {
        const reason = `install failed: ${(e as Error).message}`;
        this.setStatus(inst, 'error', { reason });
        if ((e as NodeJS.ErrnoException).code) throw storageFailure(e, `the code of app ${spec.appId}`, 'the app is in error; deploy it again');
        throw new CommandError('INTERNAL', reason);
      }
      this.setStatus(inst, 'installed');
      if (spec.autoStart) await this.launch(inst, 'deployed with autoStart');
      return inst.rec;
    });
  }

  run(appId: string): Promise<AppRecord> {
    const inst = this.mustGet(appId);
    return this.serial(inst, async () => {
      const s = inst.rec.status;
      if (s === 'running' || s === 'paused' || s === 'starting') throw conflict(`app ${appId} is already ${s}`);
      if (s === 'installing' || s === 'uninstalling') throw conflict(`app ${appId} is ${s}`);
      this.intend(inst, 'running', `app ${appId} was not started`);
      inst.failures = 0;
      await this.launch(inst, 'run_app');
      return inst.rec;
    });
  }

  stop(appId: string): Promise<AppRecord> {
    const inst = this.mustGet(appId);
    return this.serial(inst, async () => {
      const s = inst.rec.status;
      if (s !== 'running' && s !== 'paused' && s !== 'starting') throw conflict(`app ${appId} is not running (status ${s})`);
      this.intend(inst, 'stopped', `app ${appId} keeps running`);
      await this.halt(inst, 'stop_app');
      return inst.rec;
    });
  }

  pause(appId: string): Promise<AppRecord> {
    const inst = this.mustGet(appId);
    return this.serial(inst, async () => {
      if (inst.rec.status !== 'running') throw conflict(`app ${appId} cannot be paused: it is ${inst.rec.status}, not running`);
      if (!inst.proc) throw conflict(`app ${appId} has no process to pause (type ${inst.rec.type})`);
      inst.proc.pause();
      inst.tree?.signal('SIGSTOP');
      if (inst.stableTimer) { clearTimeout(inst.stableTimer); inst.stableTimer = null; }
      this.setStatus(inst, 'paused');
      return inst.rec;
    });
  }

  resume(appId: string): Promise<AppRecord> {
    const inst = this.mustGet(appId);
    return this.serial(inst, async () => {
      if (inst.rec.status !== 'paused') throw conflict(`app ${appId} cannot be resumed: it is ${inst.rec.status}, not paused`);
      inst.proc?.resume();
      inst.tree?.signal('SIGCONT');
      this.setStatus(inst, 'running');
      this.armStable(inst);
      return inst.rec;
    });
  }

  /** New command-line arguments (kuksa-server --vss after generate_vehicle_model); a live app restarts with them. */
  setArgs(appId: string, args: string[]): Promise<{ rec: AppRecord; restarted: boolean }> {
    const inst = this.mustGet(appId);
    return this.serial(inst, async () => {
      const s = inst.rec.status;
      if (s === 'installing' || s === 'uninstalling') throw conflict(`app ${appId} is ${s}`);
      const before = inst.rec.config;
      inst.rec.config = { ...before, args };
      try { this.commit(`app ${appId} keeps its old arguments`); } catch (e) { inst.rec.config = before; throw e; }
      const live = s === 'running' || s === 'paused' || s === 'starting';
      if (!live) return { rec: inst.rec, restarted: false };
      await this.halt(inst, 'restarting with new arguments');
      inst.failures = 0;
      await this.launch(inst, 'new arguments');
      return { rec: inst.rec, restarted: true };
    });
  }

  uninstall(appId: string): Promise<AppRecord> {
    const inst = this.mustGet(appId);
    return this.serial(inst, async () => {
      if (inst.rec.status === 'uninstalling') throw conflict(`app ${appId} is already being uninstalled`);
      this.intend(inst, 'stopped', `app ${appId} was left installed`);
      this.setStatus(inst, 'uninstalling');
      await this.halt(inst, 'uninstall_app', false);
      inst.console.close();
      this.apps.delete(appId);
      this.commit(`app ${appId} was stopped and removed, but the registry on disk still lists it`);
      try { await this.store.removeFolders(appId, this.runAs); } catch (e) { this.log.warn({ err: e, appId }, 'could not remove the app folder'); }
      this.log.info({ appId }, 'app uninstalled');
      return inst.rec;
    });
  }

  // ---- internals -----------------------------------------------------------------------------------------------

  private mustGet(appId: string): Instance {
    this.get(appId);
    return this.apps.get(appId)!;
  }

  /** instance() for a deploy: a folder that cannot be made is the requester's STORAGE error. */
  private newInstance(rec: AppRecord): Instance {
    try { return this.instance(rec); } catch (e) { throw storageFailure(e, `the folder of app ${rec.id}`, 'nothing was installed'); }
  }

  /** Forgets an instance whose deploy was refused before anything ran. */
  private drop(inst: Instance): void {
    inst.console.close();
    if (this.apps.get(inst.rec.id) === inst) this.apps.delete(inst.rec.id);
    this.store.removeFolders(inst.rec.id, this.runAs).catch(() => { /* read-only: an empty folder stays, and is harmless */ });
  }

  private instance(rec: AppRecord): Instance {
    const { own } = makeAppFolders(this.store, this.runAs, rec.id);
    const { apps } = this.config;
    const console = new AppConsole({ appId: rec.id, lines: apps.consoleBufferLines, bytes: apps.consoleBufferBytes, logFile: path.join(own, 'console.log'), logMaxBytes: apps.logMaxBytes });
    console.startAfter(rec.lastSeq ?? 0);
    const inst: Instance = { rec, console, proc: null, stopping: false, serviceRunning: false, backoff: null, stableTimer: null, failures: 0, chain: Promise.resolve(), tree: null, treeEnded: Promise.resolve() };
    this.apps.set(rec.id, inst);
    return inst;
  }

  /** Runs fn after every earlier command of this app; a failure of one does not block the next. */
  private serial<T>(inst: Instance, fn: () => Promise<T>): Promise<T> {
    const next = inst.chain.then(fn, fn);
    inst.chain = next.catch(() => {});
    return next;
  }

  private install(spec: DeploySpec): void {
    writeAppCode(this.store, this.runAs, spec.appId, spec.type, spec.code);
  }

  private setStatus(inst: Instance, status: AppStatus, extra: { exitCode?: number | null; reason?: string | null } = {}): void {
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
    this.log.info({ appId: rec.id, status, exitCode: rec.exitCode, reason: rec.reason ?? undefined }, 'app status');
    if (!this.closing && this.apps.get(rec.id) === inst) {
      if (status === 'installing' || status === 'uninstalling') this.saveOrLog();
      else this.saveSoon();
    }
  }

  private saveOrLog(): void {
    try { this.save(); } catch (e) { this.log.error({ err: e }, 'could not save the app registry'); }
  }

  /** One registry write for the status changes of the next STATUS_SAVE_MS (any write in between takes them too). */
  private saveSoon(): void {
    if (this.saveTimer) return;
    this.saveTimer = setTimeout(() => {
      this.saveTimer = null;
      if (!this.closing) this.saveOrLog();
    }, STATUS_SAVE_MS);
    this.saveTimer.unref();
  }

  private save(): void {
    if (this.saveTimer) { clearTimeout(this.saveTimer); this.saveTimer = null; }
    try {
      this.store.save([...this.apps.values()].map((i) => i.rec));
      this.storageError = null;
    } catch (e) {
      this.storageError = `could not write the app registry: ${(e as Error).message}`;
      throw e;
    }
  }

  /** Writes the registry now; a refused write is the requester's STORAGE error, saying what it means (`outcome`). */
  private commit(outcome: string): void {
    try { this.save(); } catch (e) { throw storageFailure(e, 'the app registry', outcome); }
  }

  /** Write-ahead of a new desired state: it is on disk before anything is done, or nothing is done. */
  private intend(inst: Instance, desired: AppRecord['desired'], outcome: string): void {
    const before = inst.rec.desired;
    inst.rec.desired = desired;
    try { this.commit(outcome); } catch (e) { inst.rec.desired = before; throw e; }
  }

  /** Start the app's process (or service). A failure to start ends in `error` with the reason, and is thrown. */
  private async launch(inst: Instance, why: string): Promise<void> {
    const rec = inst.rec;
    if (inst.backoff) { clearTimeout(inst.backoff); inst.backoff = null; }
    rec.desired = 'running';
    inst.stopping = false;
    this.setStatus(inst, 'starting', { exitCode: null, reason: null });
    try {
      if (rec.type === 'mock-service') {
        const hook = this.hooks.get(rec.type);
        if (!hook) throw unavailable('mock-service is not available in this build of the agent');
        await hook.start(rec, inst.console);
        inst.serviceRunning = true;
      } else {
        const spec = appSpawnSpec(rec, this.store.folder(rec.id), this.config, this.runAs, this.store.agentFolder(rec.id), this.addresses);
        const fifoDir = spec.stderrFifo ? path.dirname(spec.stderrFifo) : null;
        if (fifoDir && fifoDir !== this.store.agentFolder(rec.id) && fifoDir !== this.spareFifoDirSaid) {
          // Where the FIFOs went when dataDir cannot be written: an operator (and a cleanup after a crash) can find it.
          this.spareFifoDirSaid = fifoDir;
          this.log.warn({ dir: fifoDir }, 'the apps folder is not writable: stderr FIFOs are made in the temp dir');
        }
        const hint = rec.type === 'python' && this.importHints ? new ImportHint(this.importHints) : null;
        const started = this.trees.spawn(rec.id, marksOf(rec.id, spec.stderrFifo), () => new GroupProcess(spec, {
          onStdout: (c) => inst.console.write('stdout', c),
          onStderr: (c) => {
            inst.console.write('stderr', c);
            const line = hint?.feed(c);
            if (line) inst.console.note('stderr', line);
          },
          onExit: (info) => this.exited(inst, info),
        }));
        inst.proc = started.proc;
        inst.tree = started.tree;
      }
    } catch (e) {
      inst.proc = null;
      rec.desired = 'stopped';
      const reason = `could not start: ${(e as Error).message}`;
      inst.console.note('stderr', `[sdv-agent] ${reason}`);
      this.setStatus(inst, 'error', { reason });
      throw e instanceof CommandError ? e : new CommandError('INTERNAL', reason);
    }
    this.log.info({ appId: rec.id, pid: inst.proc?.pid, why }, 'app started');
    this.setStatus(inst, 'running');
    this.armStable(inst);
    this.usage.update();
  }

  private armStable(inst: Instance): void {
    if (inst.stableTimer) clearTimeout(inst.stableTimer);
    inst.stableTimer = setTimeout(() => { inst.stableTimer = null; inst.failures = 0; }, STABLE_MS);
    inst.stableTimer.unref();
  }

  /** Stop whatever runs (process, service, pending restart) and wait for it; status `stopped` unless told not to. */
  private async halt(inst: Instance, why: string, markStopped = true): Promise<void> {
    if (inst.backoff) { clearTimeout(inst.backoff); inst.backoff = null; }
    if (inst.stableTimer) { clearTimeout(inst.stableTimer); inst.stableTimer = null; }
    if (inst.proc) {
      inst.stopping = true;
      const proc = inst.proc;
      // The group gets process.ts's stop (SIGTERM to the program, SIGKILL to the group); what left the group, its own.
      inst.tree?.signalDetached('SIGTERM');
      await proc.stop(this.config.apps.stopGraceMs);
      await inst.treeEnded;
      // exited() ran and set the status; wait for it if the exit event is still on its way.
    } else if (inst.serviceRunning) {
      await this.hooks.get(inst.rec.type)?.stop(inst.rec);
      inst.serviceRunning = false;
      if (markStopped) this.setStatus(inst, 'stopped', { reason: why });
    } else if (markStopped && (inst.rec.status === 'starting' || inst.rec.status === 'running')) {
      this.setStatus(inst, 'stopped', { reason: why });
    }
    this.log.debug({ appId: inst.rec.id, why }, 'app halted');
  }

  private exited(inst: Instance, info: ExitInfo): void {
    inst.proc = null;
    // What the app started goes with it, also a child that left its session.
    if (inst.tree) { inst.treeEnded = inst.tree.end(); inst.tree = null; }
    inst.console.flush();
    this.usage.update();
    if (inst.stableTimer) { clearTimeout(inst.stableTimer); inst.stableTimer = null; }
    const rec = inst.rec;
    const how = info.signal ? `killed by signal ${info.signal}` : `exited with code ${info.exitCode}`;
    const exitCode = info.exitCode ?? (info.signal ? 128 + info.signal : null);
    if (inst.stopping || this.closing) {
      inst.stopping = false;
      if (this.closing) { rec.exitCode = exitCode; return; }
      if (rec.status !== 'uninstalling') this.setStatus(inst, 'stopped', { exitCode, reason: `stopped (${how})` });
      return;
    }
    const failed = exitCode !== 0;
    const policy = rec.config.restartPolicy;
    const restart = policy === 'always' || (policy === 'on-failure' && failed);
    if (!restart) {
      rec.desired = 'stopped';
      inst.console.note(failed ? 'stderr' : 'stdout', `[sdv-agent] app ${how}`);
      this.setStatus(inst, failed ? 'error' : 'stopped', { exitCode, reason: how });
      return;
    }
    inst.failures++;
    if (inst.failures > rec.config.maxRestarts) {
      rec.desired = 'stopped';
      const reason = `crash loop: ${how}, ${inst.failures} times in a row without running ${STABLE_MS / 1000} s; not restarted again`;
      inst.console.note('stderr', `[sdv-agent] ${reason}`);
      this.setStatus(inst, 'error', { exitCode, reason });
      return;
    }
    const delay = backoffDelay(inst.failures - 1, rec.config.restartDelayMs, BACKOFF_MAX_MS);
    rec.restarts++;
    const reason = `${how}; restarting in ${delay} ms (policy ${policy}, attempt ${inst.failures} of ${rec.config.maxRestarts})`;
    inst.console.note('stderr', `[sdv-agent] ${reason}`);
    this.setStatus(inst, 'starting', { exitCode, reason });
    inst.backoff = setTimeout(() => {
      inst.backoff = null;
      void this.serial(inst, async () => {
        if (rec.status !== 'starting' || inst.rec !== rec) return; // stopped or redeployed meanwhile
        await this.launch(inst, 'restart policy').catch(() => {});
      });
    }, delay);
  }
}

/** Environment entries only this app's processes carry (its id and its FIFO path: unique per agent and app). */
function marksOf(appId: string, fifo: string | undefined): string[] {
  return fifo ? [`SDV_APP_ID=${appId}`, `SDV_STDERR_FIFO=${fifo}`] : [];
}
