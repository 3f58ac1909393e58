// Ad-hoc runs: a piece of code a Kit-Manager user runs once (run_python_app / run_bin_app), not a deployed app.
//
// API (Parts.adhoc):
//   runs.start({ owner, name, kind: 'python' | 'binary', code?, path?, args?, onOutput(text), onExit(code) }): AdhocRun
//       Runs in a fresh folder dataDir/runs/<run id>/ under a pty, in its own process group, as apps.runAs when the
//       agent is root (the folder and its files are the run user's). python: `code` becomes
//       main.py, run with `apps.python -u main.py`; or `project` is unpacked there and its requirements.txt installed
//       into the folder (its lines through onOutput) before its main.py starts; binary: `path` (absolute, on the box) with `args`, or `code` as
//       the executable in base64. A new run of the same owner stops and replaces the owner's previous run.
//       onOutput gets whole lines (each ending in "\n"), coalesced about every 20 ms; a partial line is flushed after
//       the same idle time. When apps.adhocMaxS (0 = no cap) strikes, onOutput gets a line saying so and the group
//       is killed. onExit(code) comes exactly once, after the last onOutput (code null when killed by a signal).
//       Throws Error (with a person-readable message) when the run cannot start.
//   runs.stopOwner(ownerId): Promise<boolean>  — stop the owner's run (SIGTERM to the group, SIGKILL after
//       apps.stopGraceMs); false when it had none. A new run that replaces it, and the agent's shutdown, stop so.
//   runs.stopOnRequest(ownerId, why): Promise<boolean>  — a user's Stop: SIGKILL to the group at once, then one
//       output line "[sdv-agent] stopped on request (<why>): …" and onExit(137); no handler runs, no traceback.
//   runs.stopRun(runId): Promise<boolean>  — the same for the run with that id, whoever started it (a frontend that
//       reconnected under a new request_from finds its run in list()).
//   runs.list(): Array<{ runId, appName, request_from, from (epoch s), door }>  — for lsOfRunner: one per live run.
//   runs.stopAll(): Promise<void>  — agent shutdown.
// Bounds: one run per owner, at most MAX_RUNS runs at once (the oldest is stopped to make room); output is not kept.
// The slot is taken synchronously when start() is called, before anything is awaited, so parallel starts cannot
// overshoot the bound: a start whose slot was given to a newer one before its process began is refused.
import { cryptoModule } from '../core/crypto-module';
import fs = require('node:fs');
import path = require('node:path');
import type { Config } from '../config';
import type { Logger } from '../log';
import { GroupProcess } from './process';
import { asUser, handOver, letPass, type RunAs } from '../user-code/run-as';
import { appEnv, serviceAddresses } from '../user-code/app-env';
import { ImportHint, type HintSource } from './import-hint';
import { handOverTree, removeUserTree } from '../user-code/user-files';
import { installProjectRequirements, unpackPythonProject } from '../python/project';
import type { ProjectTree } from '../user-code/project-tree';
import { Confinement, type Confined } from './limits/confinement';
import { KINDS } from './kinds';
import { PYTHON_MAIN } from './kinds/python';

export const MAX_RUNS = 16;
const COALESCE_MS = 20;
/** Chunks larger than this are handed over at once, not held for the coalesce timer. */
const MAX_CHUNK = 64 * 1024;

export interface AdhocStart {
  /** Client id of who asked (a Kit-Manager request_from or a local client id). */
  owner: string;
  /** The door of the owner (lsOfRunner.from). */
  from?: string;
  name: string;
  kind: 'python' | 'binary';
  code?: string;
  /** python: a multi-file project (src/user-code/project-tree.ts) instead of `code`; its main.py runs. */
  project?: ProjectTree;
  path?: string;
  args?: string[];
  onOutput(text: string): void;
  onExit(code: number | null): void;
  /** python only: run main.py under the variable tracer (src/apps/tracer.ts): its script and environment. */
  tracer?: { script: string; env: Record<string, string> };
}

export interface AdhocRun { readonly id: string; readonly owner: string; readonly name: string; readonly pid: number; readonly folder: string }

/** proc is null while the slot is taken and the process not started yet. */
interface Live { run: AdhocRun | null; proc: GroupProcess | null; from: string; startedAt: number; capTimer: NodeJS.Timeout | null; stoppedBy?: string }

/** The exit status a shell gives a program ended by SIGKILL: what a Stop's run ends with. */
export const STOPPED_EXIT_CODE = 128 + 9;

export class AdhocRuns {
  private readonly live = new Map<string, Live>(); // owner → run
  private readonly root: string;

  /** Where runs start: inside apps.limits, in a process tree of their own (limits/confinement.ts). */
  private readonly confinement: Confinement;

  constructor(private readonly config: Config, private readonly log: Logger, private readonly runAs: RunAs | null = null, private readonly addresses = serviceAddresses(config), confinement?: Confinement) {
    this.root = path.join(config.runtime.dataDir, 'runs');
    this.confinement = confinement ?? new Confinement(config, log);
  }

  private importHints: HintSource | null = null;

  /** Where a python run's failed import finds the agent's extra output line (the python environment part). */
  setImportHints(source: HintSource): void { this.importHints = source; }

  async start(opts: AdhocStart): Promise<AdhocRun> {
    // Everything up to the first await happens at once: the owner's previous run and, past the bound, the oldest runs
    // leave the map, and this start's slot enters it.
    const stopping = [this.stopOwner(opts.owner)];
    while (this.live.size >= MAX_RUNS) {
      const oldest = this.live.keys().next().value as string;
      this.log.warn({ owner: oldest }, `more than ${MAX_RUNS} ad-hoc runs; stopping the oldest`);
      stopping.push(this.stopOwner(oldest));
    }
    const slot: Live = { run: null, proc: null, from: opts.from ?? 'kit', startedAt: Date.now(), capTimer: null };
    this.live.set(opts.owner, slot);
    try { await Promise.all(stopping); } catch { /* stopped anyway */ }
    // One turn of the event loop before the spawn: starts arriving in a burst take their slots first, so a run that a
    // later one of the same burst replaces is never spawned at all.
    await new Promise((r) => setImmediate(r));
    if (this.live.get(opts.owner) !== slot) throw new Error('a newer run took this run\'s place before it started');
    let folder: string | null = null;
    try {
      const id = `${Date.now().toString(36)}-${cryptoModule().randomBytes(4).toString('hex')}`;
      folder = path.join(this.root, id);
      const prepared = this.prepare(opts, id, folder);
      if (opts.project) {
        // A project's requirements.txt, into the run's own folder, before the program starts (src/python/project.ts).
        await installProjectRequirements(this.config, this.log, this.runAs, opts.project, folder, 'the run\'s folder', (l) => opts.onOutput(`${l}\n`));
        if (this.live.get(opts.owner) !== slot) throw new Error('the run was stopped while its requirements were installed');
      }
      return this.spawn(opts, slot, prepared);
    } catch (e) {
      if (this.live.get(opts.owner) === slot) this.live.delete(opts.owner);
      if (folder && fs.existsSync(folder)) void removeUserTree(this.runAs, folder);
      throw e;
    }
  }

  /** The run's folder, with its program in it, handed to apps.runAs. */
  private prepare(opts: AdhocStart, id: string, folder: string): { id: string; folder: string; file: string; args: string[] } {
    fs.mkdirSync(this.root, { recursive: true, mode: 0o700 });
    letPass(this.runAs, this.root);
    fs.mkdirSync(folder, { mode: 0o700 });
    // Installed and spawned as a deployed app of its kind is (apps/kinds/), in the run's folder; handed over below.
    const kind = KINDS[opts.kind];
    if (opts.kind === 'binary' && !opts.code && (!opts.path || !path.isAbsolute(opts.path) || opts.path.includes('\0'))) throw new Error('an ad-hoc binary run needs an absolute path or code');
    if (opts.project) unpackPythonProject(opts.project, folder);
    else kind.install(folder, null, opts.code);
    const config = { ...(!opts.code && !opts.project && opts.path ? { path: opts.path } : {}), args: opts.args ?? [], env: {}, extra: {} };
    const launch = kind.spawn({ id, config, folder, apps: this.config.apps, env: {} });
    let args = launch.args;
    if (opts.kind === 'python' && opts.tracer) {
      // A copy in the run's folder: the run user may not read the agent's resources (the binary's are private).
      fs.copyFileSync(opts.tracer.script, path.join(folder, '.sdv_trace.py'));
      args = ['-u', '.sdv_trace.py', PYTHON_MAIN];
    }
    if (opts.project) handOverTree(this.runAs, folder);
    else handOver(this.runAs, folder, ...fs.readdirSync(folder).map((n) => path.join(folder, n)));
    return { id, folder, file: launch.file, args };
  }

  private spawn(opts: AdhocStart, slot: Live, { id, folder, file, args }: { id: string; folder: string; file: string; args: string[] }): AdhocRun {

    let pending = '';
    let timer: NodeJS.Timeout | null = null;
    const flush = () => {
      if (timer) { clearTimeout(timer); timer = null; }
      if (!pending) return;
      const text = pending.replace(/\r\n/g, '\n');
      pending = '';
      opts.onOutput(text.endsWith('\n') ? text : `${text}\n`);
    };
    const output = (chunk: string) => {
      pending += chunk;
      if (pending.length >= MAX_CHUNK) { flush(); return; }
      if (!timer) timer = setTimeout(() => {
        // Whole lines every COALESCE_MS; a trailing partial line waits one more round, then goes out as it is.
        timer = null;
        const cut = pending.lastIndexOf('\n');
        if (cut < 0 || cut === pending.length - 1) { flush(); return; }
        const head = pending.slice(0, cut + 1);
        pending = pending.slice(cut + 1);
        opts.onOutput(head.replace(/\r\n/g, '\n'));
        timer = setTimeout(flush, COALESCE_MS);
      }, COALESCE_MS);
    };

    const hint = KINDS[opts.kind].importHints && this.importHints ? new ImportHint(this.importHints) : null;
    const withHint = (c: string) => {
      output(c);
      const line = hint?.feed(c);
      if (line) output(`${line}\n`);
    };
    let run: AdhocRun | null = null;
    let confined: Confined<GroupProcess> | null = null;
    // Within apps.limits, like every app; what a limit does is a line of the run's output.
    confined = this.confinement.spawn(`run-${id}`, [], this.confinement.box, (limitEnv) => new GroupProcess({
      file, args, cwd: folder, ...asUser(this.runAs),
      env: { ...appEnv(this.config, folder, this.runAs, {}, this.addresses), ...(opts.kind === 'python' ? opts.tracer?.env : undefined), ...limitEnv },
    }, {
      // Without a stderr FIFO an ad-hoc run's traceback comes through the pty, so both streams are watched.
      onStdout: withHint,
      onStderr: withHint,
      onExit: ({ exitCode, signal }) => {
        const killedBy = confined?.guard.verdict(signal);
        if (killedBy) output(`[sdv-agent] run ${killedBy.reason}\n`);
        flush();
        const l = this.live.get(opts.owner);
        if (l && l.run === run && run) { if (l.capTimer) clearTimeout(l.capTimer); this.live.delete(opts.owner); }
        // What the run started goes with it (also a child that left its group), then its folder.
        void (confined?.tree.end() ?? Promise.resolve()).then(() => removeUserTree(this.runAs, folder));
        this.confinement.forget(`run-${id}`);
        if (slot.stoppedBy) {
          // A Stop: said as such, with the status a shell would show, instead of whatever the kill left unsaid.
          opts.onOutput(`[sdv-agent] stopped on request (${slot.stoppedBy}): the run's processes were ended with SIGKILL\n`);
          opts.onExit(STOPPED_EXIT_CODE);
          return;
        }
        opts.onExit(exitCode);
      },
    }), (e) => { if (e.line) output(`${e.line}\n`); });
    const proc = confined.proc;
    const started: AdhocRun = { id, owner: opts.owner, name: opts.name, pid: proc.pid, folder };
    run = started;
    const live = slot;
    live.run = started;
    live.proc = proc;
    live.startedAt = Date.now();
    const maxS = this.config.apps.adhocMaxS;
    if (maxS > 0) {
      live.capTimer = setTimeout(() => {
        flush();
        opts.onOutput(`[sdv-agent] run stopped: it reached the ${maxS} s limit (apps.adhocMaxS)\n`);
        proc.signalGroup('SIGKILL');
      }, maxS * 1000);
    }
    this.log.info({ owner: opts.owner, name: opts.name, pid: proc.pid, kind: opts.kind }, 'ad-hoc run started');
    return started;
  }

  async stopOwner(ownerId: string): Promise<boolean> {
    const l = this.live.get(ownerId);
    if (!l) return false;
    this.live.delete(ownerId);
    if (l.capTimer) clearTimeout(l.capTimer);
    await l.proc?.stop(this.config.apps.stopGraceMs);
    return true;
  }

  async stopRun(runId: string, why?: string): Promise<boolean> {
    for (const [owner, l] of this.live) if (l.run?.id === runId) return why ? this.stopOnRequest(owner, why) : this.stopOwner(owner);
    return false;
  }

  /**
   * A user's Stop (`why`: the command, shown in the run's last line). The run's whole process group gets SIGKILL at
   * once: the playground's templates stop their event loop on SIGTERM (`LOOP.add_signal_handler(signal.SIGTERM,
   * LOOP.stop)`), which makes `run_until_complete` raise a traceback the agent's own signal caused; the old runtime
   * killed the process. The run then ends with one line saying it was stopped and exit code 137 (128 + SIGKILL).
   * Deployed apps keep their graceful stop (SIGTERM, SIGKILL after apps.stopGraceMs): they may save state.
   */
  async stopOnRequest(ownerId: string, why: string): Promise<boolean> {
    const l = this.live.get(ownerId);
    if (!l) return false;
    this.live.delete(ownerId);
    if (l.capTimer) clearTimeout(l.capTimer);
    l.stoppedBy = why;
    await l.proc?.kill();
    return true;
  }

  list(): Array<{ runId: string; appName: string; request_from: string; from: number; door: string }> {
    // `from` is the start time in epoch seconds, as the Python runtime reported it.
    return [...this.live].filter(([, l]) => l.run).map(([owner, l]) => ({ runId: l.run!.id, appName: l.run!.name, request_from: owner, from: Math.floor(l.startedAt / 1000), door: l.from }));
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.live.keys()].map((o) => this.stopOwner(o)));
  }
}
