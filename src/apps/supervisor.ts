// The app supervisor: one explicit state machine per app (statuses of seed 000), pause/resume, the restart policy
// applied (restart-policy.ts decides, this file acts), and the registry kept on disk (registry.ts: desired state
// written ahead, status soon after).
//
//   installing → installed ─run→ starting → running ⇄ paused
//   running/paused/starting ─stop→ stopped            ─exit 0→ stopped   ─exit ≠ 0→ error (policy never)
//   exit (policy on-failure/always) → starting (after a jittered backoff from restartDelayMs up to 60 s) → running;
//   too many in a row → error
//   any ─uninstall→ uninstalling → gone
//
// Commands on one app are serialised (instance.ts `serial`), so a stop and a run never interleave. A command that
// changes what should run writes the registry first (registry.ts): refused with STORAGE, nothing done, when dataDir
// refuses the write. Timers run on the injected clock (core/clock.ts). What stands alone is its own file: the app
// instance (instance.ts), how a run starts (launcher.ts), what is found at start (recovery.ts), start order
// (start-order.ts, start-gate.ts), limits and health checks (app-watch.ts), process, console, store, folders, usage.
import type { Config } from '../config';
import type { Logger } from '../log';
import { systemClock, type Clock } from '../core/clock';
import { conflict, CommandError, notFound, storageFailure, unavailable } from '../core/errors';
import type { Frame } from '../core/frame';
import { AppConsole } from './console';
import type { ExitInfo } from './process';
import type { RunAs } from '../user-code/run-as';
import { kindOf } from './kinds';
import { serviceAddresses } from '../user-code/app-env';
import type { HintSource } from './import-hint';
import { AppStore, type AppRecord, type AppStatus, type AppType } from './store';
import { UsageSampler } from './usage';
import { writeAppCode } from './app-folders';
import { Confinement } from './limits/confinement';
import { AppWatch, type AppMetrics } from './app-watch';
import { applyStatus, countsOf, livePids, recordOf, listed, makeInstance, metricsOf, serial, type AppCountsShape, type DeploySpec, type Instance, type ServiceHook, type StatusExtra } from './instance';
import { checkDependencies } from './start-order';
import { StartGate, waitingFor } from './start-gate';
import { AppRegistry } from './registry';
import { recoverApps, saveRecovered } from './recovery';
import { freshHistory, restartDecision, settle } from './restart-policy';
import { AppLauncher } from './launcher';

export type { AppCountsShape, DeploySpec, ServiceHook } from './instance';

export class AppSupervisor {
  readonly store: AppStore;
  private readonly apps = new Map<string, Instance>();
  /** dataDir/apps/registry.json: write-ahead of desired states, status soon after (registry.ts). */
  private readonly registry: AppRegistry;
  private readonly launcher: AppLauncher;
  readonly usage: UsageSampler;
  /** Limits, health checks and their counters (app-watch.ts); the process trees are its confinement's. */
  readonly watch: AppWatch;
  /** Apps waiting for their dependencies, started once these are there (start-gate.ts). */
  private readonly gate = new StartGate(this.apps, {
    start: (w) => { void serial(w, async () => { if (w.rec.status === 'waiting') await this.launch(w, 'its dependencies are there'); }).catch(() => { /* in error, logged */ }); },
    wait: (w, reason) => this.setStatus(w, 'waiting', { reason }),
  });
  private closing = false;

  constructor(private readonly config: Config, private readonly log: Logger, private readonly notices: string[], private readonly runAs: RunAs | null = null, addresses = serviceAddresses(config), confinement?: Confinement, private readonly clock: Clock = systemClock) {
    this.store = new AppStore(config.runtime.dataDir);
    this.registry = new AppRegistry(this.store.root, () => [...this.apps.values()].map((i) => i.rec), log, clock);
    this.watch = new AppWatch(config, confinement ?? new Confinement(config, log));
    this.launcher = new AppLauncher(config, log, this.store, runAs, addresses, this.watch);
    this.usage = new UsageSampler(() => livePids(this.apps));
  }

  /** Read the registry and bring back every app; the ones meant to run are started again. */
  start(): void {
    const apps = recoverApps(this.registry, this.store, this.runAs, this.watch.confinement, this.log, this.notices);
    for (const { rec, again } of apps) {
      const inst = this.instance(rec);
      // One whose conditions (start-order.ts) do not hold yet waits for them.
      if (again) void serial(inst, () => this.launchWhenReady(inst, 'restored after agent restart')).catch(() => { /* now in error, logged */ });
    }
    saveRecovered(this.registry, this.log, this.notices);
    this.log.info({ apps: apps.length, restarting: apps.filter((a) => a.rec.desired === 'running').length }, 'apps restored');
  }

  /** Agent shutdown: processes end, desired states stay as they are so the next start restores them. */
  async shutdown(): Promise<void> {
    this.closing = true;
    this.registry.hold();
    const waits: Promise<void>[] = [];
    for (const inst of this.apps.values()) {
      this.cancelRestart(inst);
      inst.run?.health?.stop();
      if (inst.proc) { inst.stopping = true; waits.push(inst.proc.stop(this.config.apps.stopGraceMs)); }
      if (inst.serviceRunning) waits.push(this.launcher.stopService(inst.rec).catch(() => {}));
    }
    await Promise.all(waits);
    await Promise.all([...this.apps.values()].map((i) => i.treeEnded));
    this.watch.confinement.close();
    for (const inst of this.apps.values()) {
      inst.console.close();
      inst.rec.lastSeq = inst.console.ring.lastSeq;
    }
    this.usage.stop();
    this.registry.saveOrLog();
  }

  /**
   * The agent's cgroup folder goes (when no app is in it): at shutdown, and also when the start failed before the
   * supervisor ever ran (the folder was made when it was built).
   */
  closeTrees(): void { this.watch.confinement.close(); }

  /** The last failed write of the registry, until a write succeeds: /health shows it and says degraded. */
  get storageError(): string | null { return this.registry.storageError; }

  setServiceHook(type: AppType, hook: ServiceHook): void { this.launcher.hooks.set(type, hook); }

  /** Where a python app's failed import finds the agent's extra console line (the python environment part). */
  setImportHints(source: HintSource): void { this.launcher.importHints = source; }

  // ---- queries -------------------------------------------------------------------------------------------------

  has(appId: string): boolean { return this.apps.has(appId); }

  get(appId: string): AppRecord {
    const inst = this.apps.get(appId);
    if (!inst) throw notFound(`no app ${appId}: deploy it first (list_deployed_apps shows what is installed)`);
    return inst.rec;
  }

  console(appId: string): AppConsole { return this.mustGet(appId).console; }

  /** Each app's figures for /metrics (app-watch.ts, doors/metrics.ts). */
  metricsView(): AppMetrics[] { return [...this.apps.values()].map((i) => metricsOf(i, this.usage, this.watch)); }

  list(): Frame[] { return [...this.apps.values()].map((i) => listed(i, this.usage, this.watch)); }

  counts(): AppCountsShape { return countsOf(this.apps.values()); }

  // ---- commands ------------------------------------------------------------------------------------------------

  async deploy(spec: DeploySpec): Promise<AppRecord> {
    const existing = this.apps.get(spec.appId);
    if (!existing && this.apps.size >= this.config.apps.maxApps) {
      throw new CommandError('LIMIT', `at most ${this.config.apps.maxApps} apps (apps.maxApps); uninstall one first`);
    }
    const notHere = kindOf(spec.type).unavailable(this.config.apps);
    if (notHere) throw unavailable(notHere);
    // Dependencies exist and make no cycle (start-order.ts); refused before anything changes.
    checkDependencies(spec.appId, spec.config.dependsOn, new Map([...this.apps].filter(([id]) => id !== spec.appId).map(([id, i]) => [id, i.rec.config.dependsOn])));
    const rec = recordOf(spec);
    const inst = existing ?? this.newInstance(rec);
    return serial(inst, async () => {
      // While this deploy waited its turn, the app was uninstalled or the deploy that created it was refused.
      if (this.apps.get(spec.appId) !== inst) throw conflict(`app ${spec.appId} changed while this deploy waited; send it again`);
      if (existing) {
        // Redeploy: the old instance stops and is replaced; console subscribers stay subscribed.
        this.registry.commit(`app ${spec.appId} was left as it was`);
        await this.halt(existing, 'redeployed');
        rec.lastSeq = existing.console.ring.lastSeq;
        existing.rec = rec;
        existing.history = freshHistory();
      } else {
        try { this.registry.commit('nothing was installed'); } catch (e) { this.drop(inst); throw e; }
      }
      this.setStatus(inst, 'installing');
      try {
        writeAppCode(this.store, this.runAs, spec.appId, spec.type, spec.code, spec.projectDir);
      } catch (e) {
        const reason = `install failed: ${(e as Error).message}`;
        this.setStatus(inst, 'error', { reason });
        if ((e as NodeJS.ErrnoException).code) throw storageFailure(e, `the code of app ${spec.appId}`, 'the app is in error; deploy it again');
        throw new CommandError('INTERNAL', reason);
      }
      this.setStatus(inst, 'installed');
      if (spec.autoStart) await this.launchWhenReady(inst, 'deployed with autoStart');
      return inst.rec;
    });
  }

  run(appId: string): Promise<AppRecord> {
    const inst = this.mustGet(appId);
    return serial(inst, async () => {
      const s = inst.rec.status;
      // Already what was asked for: not an error (as `systemctl start` of a running unit); the reply's status says it.
      if (s === 'running' || s === 'starting' || s === 'waiting') return inst.rec;
      if (s === 'paused') throw conflict(`app ${appId} is paused: resume_app continues it`);
      if (s === 'installing' || s === 'uninstalling') throw conflict(`app ${appId} is ${s}`);
      this.registry.intend(inst.rec, 'running', `app ${appId} was not started`);
      inst.history = freshHistory();
      await this.launchWhenReady(inst, 'run_app');
      return inst.rec;
    });
  }

  stop(appId: string): Promise<AppRecord> {
    const inst = this.mustGet(appId);
    return serial(inst, async () => {
      const s = inst.rec.status;
      if (s !== 'running' && s !== 'paused' && s !== 'starting' && s !== 'waiting') throw conflict(`app ${appId} is not running (status ${s})`);
      this.registry.intend(inst.rec, 'stopped', `app ${appId} keeps running`);
      await this.halt(inst, 'stop_app');
      return inst.rec;
    });
  }

  pause(appId: string): Promise<AppRecord> {
    const inst = this.mustGet(appId);
    return serial(inst, async () => {
      if (inst.rec.status !== 'running') throw conflict(`app ${appId} cannot be paused: it is ${inst.rec.status}, not running`);
      if (!inst.proc) throw conflict(`app ${appId} has no process to pause (type ${inst.rec.type})`);
      inst.proc.pause();
      inst.tree?.signal('SIGSTOP');
      inst.history = settle(inst.history, this.clock.now());
      this.setStatus(inst, 'paused');
      return inst.rec;
    });
  }

  resume(appId: string): Promise<AppRecord> {
    const inst = this.mustGet(appId);
    return serial(inst, async () => {
      if (inst.rec.status !== 'paused') throw conflict(`app ${appId} cannot be resumed: it is ${inst.rec.status}, not paused`);
      inst.proc?.resume();
      inst.tree?.signal('SIGCONT');
      this.setStatus(inst, 'running');
      this.countSteady(inst);
      return inst.rec;
    });
  }

  /** New command-line arguments (kuksa-server --vss after generate_vehicle_model); a live app restarts with them. */
  setArgs(appId: string, args: string[]): Promise<{ rec: AppRecord; restarted: boolean }> {
    const inst = this.mustGet(appId);
    return serial(inst, async () => {
      const s = inst.rec.status;
      if (s === 'installing' || s === 'uninstalling') throw conflict(`app ${appId} is ${s}`);
      const before = inst.rec.config;
      inst.rec.config = { ...before, args };
      try { this.registry.commit(`app ${appId} keeps its old arguments`); } catch (e) { inst.rec.config = before; throw e; }
      const live = s === 'running' || s === 'paused' || s === 'starting';
      if (!live) return { rec: inst.rec, restarted: false };
      await this.halt(inst, 'restarting with new arguments');
      inst.history = freshHistory();
      await this.launch(inst, 'new arguments');
      return { rec: inst.rec, restarted: true };
    });
  }

  uninstall(appId: string): Promise<AppRecord> {
    const inst = this.mustGet(appId);
    return serial(inst, async () => {
      if (inst.rec.status === 'uninstalling') throw conflict(`app ${appId} is already being uninstalled`);
      this.registry.intend(inst.rec, 'stopped', `app ${appId} was left installed`);
      this.setStatus(inst, 'uninstalling');
      await this.halt(inst, 'uninstall_app', false);
      inst.console.close();
      this.apps.delete(appId);
      this.watch.forget(appId);
      this.registry.commit(`app ${appId} was stopped and removed, but the registry on disk still lists it`);
      try { await this.store.removeFolders(appId, this.runAs); } catch (e) { this.log.warn({ err: e, appId }, 'could not remove the app folder'); }
      this.log.info({ appId }, 'app uninstalled');
      return inst.rec;
    });
  }

  // ---- internals -----------------------------------------------------------------------------------------------

  private mustGet(appId: string): Instance { this.get(appId); return this.apps.get(appId)!; }

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
    const inst = makeInstance(rec, this.store, this.runAs, this.config);
    this.apps.set(rec.id, inst);
    return inst;
  }

  private setStatus(inst: Instance, status: AppStatus, extra: StatusExtra = {}): void {
    const rec = applyStatus(inst, status, extra);
    this.log.info({ appId: rec.id, status, exitCode: rec.exitCode, reason: rec.reason ?? undefined }, 'app status');
    if (!this.closing && this.apps.get(rec.id) === inst) {
      if (status === 'installing' || status === 'uninstalling') this.registry.saveOrLog();
      else this.registry.saveSoon();
    }
    if (!this.closing) this.gate.wake();
  }

  /** launch(), or status `waiting` (with what it waits for as the reason) while a dependency's condition does not hold. */
  private async launchWhenReady(inst: Instance, why: string): Promise<void> {
    const missing = this.gate.missing(inst.rec);
    if (missing.length === 0) return this.launch(inst, why);
    this.cancelRestart(inst);
    inst.rec.desired = 'running';
    this.setStatus(inst, 'waiting', { reason: waitingFor(missing) });
  }

  /** A restart waiting for its backoff does not come. */
  private cancelRestart(inst: Instance): void {
    if (inst.backoff !== null) { this.clock.clearTimeout(inst.backoff); inst.backoff = null; }
  }

  /** Start the app's process (or service). A failure to start ends in `error` with the reason, and is thrown. */
  private async launch(inst: Instance, why: string): Promise<void> {
    const rec = inst.rec;
    this.cancelRestart(inst);
    rec.desired = 'running';
    inst.stopping = false;
    rec.succeeded = false;
    this.setStatus(inst, 'starting', { exitCode: null, reason: null });
    try {
      if (kindOf(rec.type).service) {
        await this.launcher.startService(rec, inst.console);
        inst.serviceRunning = true;
      } else {
        const run = this.launcher.start(rec, inst.console, {
          onExit: (info) => this.exited(inst, info),
          onUnhealthy: () => { void inst.proc?.stop(this.config.apps.stopGraceMs); },
        });
        inst.run = run;
        inst.proc = run.confined!.proc;
        inst.tree = run.confined!.tree;
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
    this.countSteady(inst);
    this.usage.update();
  }

  /** From now the run counts toward a stable one (restart-policy.ts STABLE_MS). */
  private countSteady(inst: Instance): void {
    inst.history = { failures: inst.history.failures, steadySince: this.clock.now() };
  }

  /** Stop whatever runs (process, service, pending restart) and wait for it; status `stopped` unless told not to. */
  private async halt(inst: Instance, why: string, markStopped = true): Promise<void> {
    this.cancelRestart(inst);
    inst.history = settle(inst.history, this.clock.now());
    inst.run?.health?.stop();
    if (inst.proc) {
      inst.stopping = true;
      const proc = inst.proc;
      // The group gets process.ts's stop (SIGTERM to the program, SIGKILL to the group); what left the group, its own.
      inst.tree?.signalDetached('SIGTERM');
      await proc.stop(this.config.apps.stopGraceMs);
      await inst.treeEnded;
      // exited() ran and set the status; wait for it if the exit event is still on its way.
    } else if (inst.serviceRunning) {
      await this.launcher.stopService(inst.rec);
      inst.serviceRunning = false;
      if (markStopped) this.setStatus(inst, 'stopped', { reason: why });
    } else if (markStopped && (inst.rec.status === 'starting' || inst.rec.status === 'running' || inst.rec.status === 'waiting')) {
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
    const rec = inst.rec;
    // A limit or a failed health check that ended the run is what ended it (app-watch.ts); the policy says what next.
    const endedBy = this.watch.ended(inst.run, info.signal);
    const d = restartDecision(rec.config, inst.history, { ...info, endedBy, asked: inst.stopping || this.closing }, this.clock.now(), () => this.clock.random());
    inst.history = { failures: d.failures, steadySince: null };
    if (d.action === 'stopped') {
      inst.stopping = false;
      if (this.closing) rec.exitCode = d.exitCode;
      else if (rec.status !== 'uninstalling') this.setStatus(inst, 'stopped', { exitCode: d.exitCode, reason: d.reason });
      return;
    }
    rec.succeeded = !d.failed;
    if (d.action === 'restart') rec.restarts++;
    else rec.desired = 'stopped';
    if (d.note) inst.console.note(d.note.stream, d.note.text);
    this.setStatus(inst, d.status, { exitCode: d.exitCode, reason: d.reason });
    if (d.delayMs === null) return;
    inst.backoff = this.clock.setTimeout(() => {
      inst.backoff = null;
      void serial(inst, async () => {
        if (rec.status !== 'starting' || inst.rec !== rec) return; // stopped or redeployed meanwhile
        await this.launchWhenReady(inst, 'restart policy').catch(() => {});
      });
    }, d.delayMs);
  }
}
