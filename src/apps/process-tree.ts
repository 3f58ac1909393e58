// The whole process tree of an app, so that stop, uninstall and the app's own end take every process it started with
// it — also one that left the app's process group and session (setsid(), a daemon's double fork), which the group
// signals of process.ts cannot reach. Two ways, chosen once at start (apps.processTree):
//   cgroup — where the agent may create cgroups (cgroup v2; root, or a subtree delegated to it): the app's first
//     process is born in <agent's cgroup>/sdv-agent-<dataDir hash>/<appId> (the agent steps into that cgroup for
//     the synchronous moment of the spawn and back out, as clone3's CLONE_INTO_CGROUP would do), so even its very
//     first fork is inside; nothing the app does can take a process out of it, and ending is cgroup.kill.
//   proc — everywhere else, from /proc when the tree ends: the processes in the leader's session or group, their
//     descendants, and every process started since the launch whose environment carries the app's marks (its
//     SDV_APP_ID and its stderr FIFO, which no other app of any agent shares; a detached child keeps them). A program
//     that re-executes itself with a cleared environment and detaches escapes.
// Both kill with SIGKILL and wait (up to END_WAIT_MS) until the processes are gone.
import fs = require('node:fs');
import path = require('node:path');
import { sha256Hex } from '../core/sha256';
import type { Logger } from '../log';
import { enableControllers } from './limits/cgroup-v2';

export type TreeMode = 'cgroup' | 'proc';
const END_WAIT_MS = 2000;

export interface ProcessTree {
  readonly mode: TreeMode;
  /** The tree's cgroup v2 folder (mode cgroup): its cpu.stat and, with limits, its controllers' files. */
  readonly dir: string | null;
  /** A signal to every process of the tree (pause, resume). */
  signal(sig: NodeJS.Signals): void;
  /** A signal to the processes that left the app's process group (stop's SIGTERM: the group has its own). */
  signalDetached(sig: NodeJS.Signals): void;
  /** SIGKILL to every process left, resolved when they are gone; the tree is done after this. */
  end(): Promise<void>;
}

/** What the limits layer does around a spawn in the app's cgroup (limits/confinement.ts). */
export interface SpawnHooks {
  /** The folder is made, the agent is about to step in. */
  before(dir: string): void;
  /** The agent has stepped out; the app's first process is in there. */
  after(dir: string): void;
}

interface Stat { pid: number; ppid: number; pgrp: number; session: number; start: number }

export class ProcessTrees {
  readonly mode: TreeMode;
  private readonly where: { base: string; own: string; controllers: string[]; why?: string } | null;
  private get base(): string | null { return this.where?.base ?? null; }
  /** cgroup v2 controllers enabled for the apps' cgroups (asked for by the limits layer). */
  get controllers(): string[] { return this.where?.controllers ?? []; }
  /** Why the controllers asked for are not there (none in v2, the agent not alone in its cgroup…). */
  get controllersWhy(): string | undefined { return this.where?.why; }

  /**
   * `want`: apps.processTree. 'cgroup' that cannot be had throws (the start fails, saying why). `controllers`: the
   * cgroup v2 controllers the limits layer would like enabled below the agent (none when it has no limits to set).
   */
  constructor(dataDir: string, private readonly log: Logger, want: 'auto' | TreeMode, controllers: readonly string[] = []) {
    this.where = want === 'proc' ? null : cgroupBase(dataDir, controllers);
    if (want === 'cgroup' && !this.where) throw new Error('apps.processTree is cgroup, but the agent may not create a cgroup here (cgroup v2 with a writable or delegated subtree is needed)');
    this.mode = this.where ? 'cgroup' : 'proc';
    log.info({ mode: this.mode, cgroup: this.base ?? undefined }, 'app process trees are tracked');
  }

  /**
   * Runs `spawn` (which starts the app's first process, synchronously) and tracks the tree of that process;
   * `marks`: environment entries only this app's processes carry (for /proc tracking).
   */
  spawn<T extends { readonly pid: number }>(appId: string, marks: readonly string[], spawn: () => T, hooks?: SpawnHooks): { proc: T; tree: ProcessTree } {
    if (this.where) {
      const dir = path.join(this.where.base, appId);
      let inside = false;
      try {
        fs.mkdirSync(dir, { recursive: true });
        hooks?.before(dir);
        fs.writeFileSync(path.join(dir, 'cgroup.procs'), `${process.pid}\n`);
        inside = true;
      } catch (e) {
        this.log.warn({ appId, err: (e as Error).message }, 'could not start the app in its cgroup; its tree is tracked through /proc');
      }
      if (inside) {
        let proc: T;
        try { proc = spawn(); } finally { this.stepOut(); }
        hooks?.after(dir);
        return { proc, tree: new CgroupTree(dir, proc.pid) };
      }
    }
    const proc = spawn();
    return { proc, tree: new ProcTree(proc.pid, marks) };
  }

  /** Back to the agent's own cgroup: it must never stay in one that an app's end kills. */
  private stepOut(): void {
    const own = path.join(this.where!.own, 'cgroup.procs');
    for (let attempt = 0; ; attempt++) {
      try { fs.writeFileSync(own, `${process.pid}\n`); return; } catch (e) {
        if (attempt >= 3) { this.log.fatal({ err: (e as Error).message }, 'could not leave an app\'s cgroup; exiting'); process.exit(1); }
      }
    }
  }

  /** At start: processes of these apps that outlived an earlier agent (kill -9) are killed before they run again. */
  sweep(apps: ReadonlyArray<{ appId: string; marks: readonly string[] }>): number {
    let n = 0;
    const rest: Array<readonly string[]> = [];
    for (const { appId, marks } of apps) {
      const dir = this.base ? path.join(this.base, appId) : null;
      if (!dir || !fs.existsSync(dir)) rest.push(marks);
    }
    // Every cgroup under the base is of this dataDir's agent (apps and ad-hoc runs), and nothing runs yet.
    let left: string[] = [];
    try { left = this.base ? fs.readdirSync(this.base, { withFileTypes: true }).filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name) : []; } catch { /* none */ }
    for (const name of left) {
      const dir = path.join(this.base!, name);
      const tree = new CgroupTree(dir, 0);
      n += tree.pids().length;
      tree.signal('SIGKILL');
      try { fs.writeFileSync(path.join(dir, 'cgroup.kill'), '1'); } catch { /* older kernel: signalled one by one */ }
    }
    if (rest.length === 0) return n;
    for (const s of allStats()) {
      if (s.pid === process.pid) continue;
      const env = environOf(s.pid);
      if (env && rest.some((marks) => marks.length > 0 && marks.every((m) => env.has(m)))) { kill(s.pid, 'SIGKILL'); n++; }
    }
    return n;
  }

  /** Agent shutdown: the agent's cgroup folder goes when no app is left in it. */
  close(): void {
    if (!this.base) return;
    try { for (const n of fs.readdirSync(this.base)) { try { fs.rmdirSync(path.join(this.base, n)); } catch { /* still busy */ } } fs.rmdirSync(this.base); } catch { /* busy or gone */ }
  }
}

class CgroupTree implements ProcessTree {
  readonly mode = 'cgroup' as const;
  constructor(readonly dir: string, private readonly leader: number) {}

  pids(): number[] {
    try { return fs.readFileSync(path.join(this.dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number); } catch { return []; }
  }

  signal(sig: NodeJS.Signals): void { for (const p of this.pids()) kill(p, sig); }

  signalDetached(sig: NodeJS.Signals): void { for (const p of this.pids()) if (readStat(p)?.pgrp !== this.leader) kill(p, sig); }

  async end(): Promise<void> {
    // cgroup.kill (Linux 5.14+) kills atomically, also what is forking right now; else one by one until empty.
    try { fs.writeFileSync(path.join(this.dir, 'cgroup.kill'), '1'); } catch { /* older kernel */ }
    const deadline = Date.now() + END_WAIT_MS;
    while (this.pids().length > 0 && Date.now() < deadline) {
      this.signal('SIGKILL');
      await sleep(20);
    }
    try { fs.rmdirSync(this.dir); } catch { /* a process is still on its way out: the next launch reuses it */ }
  }
}

class ProcTree implements ProcessTree {
  readonly mode = 'proc' as const;
  readonly dir = null;
  private readonly start: number;
  /** Members seen so far: a later scan keeps them even when their parents are gone. */
  private readonly known = new Map<number, number>();

  constructor(private readonly leader: number, private readonly marks: readonly string[]) {
    this.start = readStat(leader)?.start ?? 0;
    this.known.set(leader, this.start);
  }

  private members(): number[] {
    const stats = allStats().filter((s) => s.start >= this.start && s.pid !== process.pid);
    const byPid = new Map(stats.map((s) => [s.pid, s]));
    const set = new Set<number>();
    for (const [pid, start] of this.known) if (byPid.get(pid)?.start === start) set.add(pid);
    for (const s of stats) if (s.session === this.leader || s.pgrp === this.leader) set.add(s.pid);
    for (const s of stats) {
      if (set.has(s.pid) || this.marks.length === 0) continue;
      const env = environOf(s.pid);
      if (env && this.marks.length > 0 && this.marks.every((m) => env.has(m))) set.add(s.pid);
    }
    // Descendants of members, until nothing is added (a child may have a lower pid than its parent).
    for (let grew = true; grew;) {
      grew = false;
      for (const s of stats) if (!set.has(s.pid) && set.has(s.ppid)) { set.add(s.pid); grew = true; }
    }
    for (const pid of set) this.known.set(pid, byPid.get(pid)!.start);
    return [...set];
  }

  signal(sig: NodeJS.Signals): void { for (const p of this.members()) kill(p, sig); }

  signalDetached(sig: NodeJS.Signals): void { for (const p of this.members()) if (readStat(p)?.pgrp !== this.leader) kill(p, sig); }

  async end(): Promise<void> {
    const deadline = Date.now() + END_WAIT_MS;
    for (;;) {
      const left = this.members();
      if (left.length === 0 || Date.now() >= deadline) return;
      for (const p of left) kill(p, 'SIGKILL');
      await sleep(20);
    }
  }
}

/** The agent's cgroups are named `sdv-agent-<tag>` after its dataDir, so two agents on one box keep apart. */
export function dataDirTag(dataDir: string): string {
  return sha256Hex(path.resolve(dataDir)).slice(0, 12);
}

/**
 * <cgroup v2 mount><the agent's own cgroup>/sdv-agent-<hash of dataDir>, made here, and the agent's own cgroup; null
 * where that is not possible. Proven by stepping into a probe cgroup and back, as every app start will. With
 * `controllers` (limits), those of them the agent's cgroup offers are enabled for the apps' cgroups (cgroup-v2.ts;
 * the agent may move into a leaf of its cgroup for that).
 */
function cgroupBase(dataDir: string, controllers: readonly string[]): { base: string; own: string; controllers: string[]; why?: string } | null {
  let ownDir: string | null = null;
  let probe: string | null = null;
  try {
    const mount = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' '))
      .find((f) => f[f.indexOf('-') + 1] === 'cgroup2')?.[4];
    const own = fs.readFileSync('/proc/self/cgroup', 'utf8').split('\n').find((l) => l.startsWith('0::'))?.slice(3);
    if (!mount || own === undefined) return null;
    ownDir = path.join(mount, own);
    const base = path.join(ownDir, `sdv-agent-${dataDirTag(dataDir)}`);
    let enabled: string[] = [];
    let why: string | undefined;
    if (controllers.length) {
      const r = enableControllers(ownDir, base, 'agent', controllers);
      enabled = r.enabled;
      why = r.why;
      ownDir = r.own;
    }
    fs.mkdirSync(base, { recursive: true });
    probe = path.join(base, `.probe-${process.pid}`);
    fs.mkdirSync(probe);
    fs.writeFileSync(path.join(probe, 'cgroup.procs'), `${process.pid}\n`);
    fs.writeFileSync(path.join(ownDir, 'cgroup.procs'), `${process.pid}\n`);
    fs.rmdirSync(probe);
    return { base, own: ownDir, controllers: enabled, ...(why ? { why } : {}) };
  } catch {
    // Never stay in the probe: back to where the agent was (a no-op when it never left).
    if (ownDir) { try { fs.writeFileSync(path.join(ownDir, 'cgroup.procs'), `${process.pid}\n`); } catch { /* was not moved */ } }
    if (probe) { try { fs.rmdirSync(probe); } catch { /* not made */ } }
    return null;
  }
}

function readStat(pid: number): Stat | null {
  try {
    const text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name in parentheses: state ppid pgrp session tty tpgid flags … starttime is field 22.
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { pid, ppid: Number(f[1]), pgrp: Number(f[2]), session: Number(f[3]), start: Number(f[19]) };
  } catch { return null; }
}

function allStats(): Stat[] {
  let names: string[];
  try { names = fs.readdirSync('/proc'); } catch { return []; }
  const out: Stat[] = [];
  for (const n of names) if (/^\d+$/.test(n)) { const s = readStat(Number(n)); if (s) out.push(s); }
  return out;
}

/** The environment a process was started with, null when it is gone or not ours to read. */
function environOf(pid: number): Set<string> | null {
  try { return new Set(fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')); } catch { return null; }
}

function kill(pid: number, sig: NodeJS.Signals): void {
  try { process.kill(pid, sig); } catch { /* gone */ }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
