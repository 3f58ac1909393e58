// Ad-hoc runs: a piece of code a Kit-Manager user runs once (run_python_app / run_bin_app), not a deployed app.
//
// API (Parts.adhoc):
//   runs.start({ owner, name, kind: 'python' | 'binary', code?, path?, args?, onOutput(text), onExit(code) }): AdhocRun
//       Runs in a fresh folder dataDir/runs/<run id>/ under a pty, in its own process group, as apps.runAs when the
//       agent is root (the folder and its files are the run user's). python: `code` becomes
//       main.py, run with `apps.python -u main.py`; binary: `path` (absolute, on the box) with `args`, or `code` as
//       the executable in base64. A new run of the same owner stops and replaces the owner's previous run.
//       onOutput gets whole lines (each ending in "\n"), coalesced about every 20 ms; a partial line is flushed after
//       the same idle time. When apps.adhocMaxS (0 = no cap) strikes, onOutput gets a line saying so and the group
//       is killed. onExit(code) comes exactly once, after the last onOutput (code null when killed by a signal).
//       Throws Error (with a person-readable message) when the run cannot start.
//   runs.stopOwner(ownerId): Promise<boolean>  — stop the owner's run (SIGTERM to the group, SIGKILL after
//       apps.stopGraceMs); false when it had none.
//   runs.stopRun(runId): Promise<boolean>  — the same for the run with that id, whoever started it (a frontend that
//       reconnected under a new request_from finds its run in list()).
//   runs.list(): Array<{ runId, appName, request_from, from (epoch s), door }>  — for lsOfRunner: one per live run.
//   runs.stopAll(): Promise<void>  — agent shutdown.
// Bounds: one run per owner, at most MAX_RUNS runs at once (the oldest is stopped to make room); output is not kept.
// The slot is taken synchronously when start() is called, before anything is awaited, so parallel starts cannot
// overshoot the bound: a start whose slot was given to a newer one before its process began is refused.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Config } from '../config';
import type { Logger } from '../log';
import { GroupProcess } from './process';
import { asUser, handOver, letPass, type RunAs } from '../user-code/run-as';
import { appEnv, serviceAddresses } from '../user-code/app-env';
import { ImportHint, type HintSource } from './import-hint';
import { removeUserTree } from '../user-code/user-files';

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
  path?: string;
  args?: string[];
  onOutput(text: string): void;
  onExit(code: number | null): void;
  /** python only: run main.py under the variable tracer (src/apps/tracer.ts): its script and environment. */
  tracer?: { script: string; env: Record<string, string> };
}

export interface AdhocRun { readonly id: string; readonly owner: string; readonly name: string; readonly pid: number; readonly folder: string }

/** proc is null while the slot is taken and the process not started yet. */
interface Live { run: AdhocRun | null; proc: GroupProcess | null; from: string; startedAt: number; capTimer: NodeJS.Timeout | null }

export class AdhocRuns {
  private readonly live = new Map<string, Live>(); // owner → run
  private readonly root: string;

  constructor(private readonly config: Config, private readonly log: Logger, private readonly runAs: RunAs | null = null, private readonly addresses = serviceAddresses(config)) {
    this.root = path.join(config.runtime.dataDir, 'runs');
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
    try { return this.spawn(opts, slot); } catch (e) {
      if (this.live.get(opts.owner) === slot) this.live.delete(opts.owner);
      throw e;
    }
  }

  private spawn(opts: AdhocStart, slot: Live): AdhocRun {
    const id = `${Date.now().toString(36)}-${crypto.randomBytes(4).toString('hex')}`;
    const folder = path.join(this.root, id);
    fs.mkdirSync(this.root, { recursive: true, mode: 0o700 });
    letPass(this.runAs, this.root);
    fs.mkdirSync(folder, { mode: 0o700 });
    let file: string;
    let args: string[];
    if (opts.kind === 'python') {
      fs.writeFileSync(path.join(folder, 'main.py'), opts.code ?? '', { mode: 0o600 });
      file = this.config.apps.python;
      args = ['-u', 'main.py'];
      if (opts.tracer) {
        // A copy in the run's folder: the run user may not read the agent's resources (the binary's are private).
        fs.copyFileSync(opts.tracer.script, path.join(folder, '.sdv_trace.py'));
        args = ['-u', '.sdv_trace.py', 'main.py'];
      }
    } else if (opts.code) {
      file = path.join(folder, 'app.bin');
      fs.writeFileSync(file, Buffer.from(opts.code, 'base64'), { mode: 0o700 });
      args = opts.args ?? [];
    } else {
      if (!opts.path || !path.isAbsolute(opts.path) || opts.path.includes('\0')) throw new Error('an ad-hoc binary run needs an absolute path or code');
      file = opts.path;
      args = opts.args ?? [];
    }
    handOver(this.runAs, folder, ...fs.readdirSync(folder).map((n) => path.join(folder, n)));

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

    const hint = opts.kind === 'python' && this.importHints ? new ImportHint(this.importHints) : null;
    const withHint = (c: string) => {
      output(c);
      const line = hint?.feed(c);
      if (line) output(`${line}\n`);
    };
    let run: AdhocRun | null = null;
    const proc = new GroupProcess({
      file, args, cwd: folder, ...asUser(this.runAs),
      env: { ...appEnv(this.config, folder, this.runAs, {}, this.addresses), ...(opts.kind === 'python' ? opts.tracer?.env : undefined) },
    }, {
      // Without a stderr FIFO an ad-hoc run's traceback comes through the pty, so both streams are watched.
      onStdout: withHint,
      onStderr: withHint,
      onExit: ({ exitCode }) => {
        flush();
        const l = this.live.get(opts.owner);
        if (l && l.run === run && run) { if (l.capTimer) clearTimeout(l.capTimer); this.live.delete(opts.owner); }
        void removeUserTree(this.runAs, folder);
        opts.onExit(exitCode);
      },
    });
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

  async stopRun(runId: string): Promise<boolean> {
    for (const [owner, l] of this.live) if (l.run?.id === runId) return this.stopOwner(owner);
    return false;
  }

  list(): Array<{ runId: string; appName: string; request_from: string; from: number; door: string }> {
    // `from` is the start time in epoch seconds, as the Python runtime reported it.
    return [...this.live].filter(([, l]) => l.run).map(([owner, l]) => ({ runId: l.run!.id, appName: l.run!.name, request_from: owner, from: Math.floor(l.startedAt / 1000), door: l.from }));
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.live.keys()].map((o) => this.stopOwner(o)));
  }
}
