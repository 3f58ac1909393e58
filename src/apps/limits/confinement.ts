// Where every app and ad-hoc run is started: in its process tree (process-tree.ts) and within its limits. Chosen once
// at start, per limit, the strongest way the box allows (apps.limits.enforcement):
//   cgroup v2  the controllers enabled in the app's own cgroup (the one its tree is tracked by): cgroup-v2.ts;
//   cgroup v1  a folder in each v1 hierarchy the agent may write (memory, cpu, pids): cgroup-v1.ts;
//   rlimit     memory and processes only, per process, by the wrapper shell: rlimit.ts;
//   none       CPU where no cgroup can be had.
// The app's first process is born inside its cgroups: the agent steps into them for the synchronous moment of the
// spawn and back out (as clone3's CLONE_INTO_CGROUP would), so not even its first fork is outside. pids.max allows the
// agent's own threads for that moment and is set to the real value once it is out.
import path = require('node:path');
import type { Config } from '../../config';
import type { Logger } from '../../log';
import { dataDirTag, ProcessTrees, type ProcessTree } from '../process-tree';
import { ownTaskCount, writeFile } from './cgroup-fs';
import { V1Groups, type V1Controller } from './cgroup-v1';
import { settleV2, v2Counters, V2_CONTROLLERS, writeV2Limits } from './cgroup-v2';
import { LimitGuard, ZERO_COUNTERS, type LimitCounters, type LimitEvent } from './guard';
import { rlimitEnv } from './rlimit';
import { anyLimit, LIMIT_NAMES, type LimitName, type Limits } from './spec';

export type Mechanism = 'cgroup v2' | 'cgroup v1' | 'rlimit' | 'none';
export type Enforcement = Record<LimitName, Mechanism>;

const POLL_MS = 1000;
/** Tasks the agent may add while it is inside (a thread the runtime starts in that moment). */
const TASK_MARGIN = 16;
const CONTROLLER: Record<LimitName, V1Controller> = { memoryMB: 'memory', cpuPercent: 'cpu', pids: 'pids' };

/** Limit kills and refusals of one id (an app) since the agent started: for /metrics. */
export interface LimitTotals { memoryKills: number; forkRefusals: number }

export interface Confined<T> {
  proc: T;
  /** The process tree; its end() also empties and removes the run's v1 cgroups. */
  tree: ProcessTree;
  guard: LimitGuard;
  /** CPU seconds and memory of the whole tree from its cgroups (null where none accounts for it). */
  usage(): { cpuSeconds: number | null; memoryBytes: number | null };
}

export class Confinement {
  readonly trees: ProcessTrees;
  readonly box: Limits;
  readonly enforcement: Enforcement;
  private readonly v1: V1Groups | null = null;
  private readonly live = new Set<LimitGuard>();
  private timer: NodeJS.Timeout | null = null;
  private readonly totals = new Map<string, LimitTotals>();
  /** Of every app and ad-hoc run since the agent started. */
  readonly allTotals: LimitTotals = { memoryKills: 0, forkRefusals: 0 };

  constructor(config: Config, private readonly log: Logger) {
    const cfg = config.apps.limits;
    this.box = { memoryMB: cfg.memoryMB, cpuPercent: cfg.cpuPercent, pids: cfg.pids };
    const cgroups = cfg.enforcement !== 'rlimit';
    // Also on a box without limits of its own: an app's config.limits may set some (enabling v2 controllers may move
    // the agent into a leaf of its cgroup, cgroup-v2.ts).
    const limited = anyLimit(this.box);
    this.trees = new ProcessTrees(config.runtime.dataDir, log, config.apps.processTree as 'auto' | 'cgroup' | 'proc', cgroups ? V2_CONTROLLERS : []);
    const v2 = this.trees.controllers;
    const wantV1 = cgroups ? (['memory', 'cpu', 'pids'] as const).filter((c) => !v2.includes(c)) : [];
    const opened = wantV1.length ? V1Groups.open(`sdv-agent-${dataDirTag(config.runtime.dataDir)}`, wantV1) : { groups: null, refused: {} };
    this.v1 = opened.groups;
    const has1 = this.v1?.controllers ?? [];
    const enforcement = {} as Enforcement;
    for (const name of LIMIT_NAMES) {
      const c = CONTROLLER[name];
      enforcement[name] = v2.includes(c) ? 'cgroup v2' : has1.includes(c) ? 'cgroup v1' : name === 'cpuPercent' || cfg.enforcement === 'cgroup' ? 'none' : 'rlimit';
    }
    this.enforcement = enforcement;
    const missing = LIMIT_NAMES.filter((n) => this.box[n] > 0 && !enforcement[n].startsWith('cgroup'));
    if (cfg.enforcement === 'cgroup' && missing.length) {
      throw new Error(`apps.limits.enforcement is cgroup, but ${missing.map((n) => `apps.limits.${n}`).join(', ')} cannot be set through a cgroup here (${this.trees.controllersWhy ?? 'no cgroup v2 controllers'}; v1: ${JSON.stringify(opened.refused)})`);
    }
    log.info({ limits: this.box, enforcement, cgroups: this.v1?.bases, v2Why: this.trees.controllersWhy, v1Refused: Object.keys(opened.refused).length ? opened.refused : undefined }, 'app limits');
    if (limited && LIMIT_NAMES.some((n) => this.box[n] > 0 && (enforcement[n] === 'none' || enforcement[n] === 'rlimit'))) {
      log.warn({ enforcement }, 'some app limits cannot be enforced through a cgroup here: see docs/apps.md (Limits)');
    }
  }

  /**
   * Starts `spawn` (synchronous: it starts the first process) for `id` within `limits`. `spawn` gets the environment
   * the wrapper needs for rlimits (empty where cgroups do it all, or `rlimits: false`); `onEvent` what a limit did,
   * as it happens.
   */
  spawn<T extends { readonly pid: number }>(id: string, marks: readonly string[], limits: Limits, spawn: (env: Record<string, string>) => T, onEvent: (e: LimitEvent) => void, opts: { rlimits?: boolean } = {}): Confined<T> {
    const e = this.enforcement;
    const env = opts.rlimits === false ? {} : rlimitEnv(limits, { memory: e.memoryMB === 'rlimit', pids: e.pids === 'rlimit' });
    const v2 = this.trees.controllers.filter((c) => limits[nameOf(c)] > 0);
    const v1 = this.v1 && LIMIT_NAMES.some((n) => limits[n] > 0 && e[n] === 'cgroup v1') ? this.v1 : null;
    const extra = ownTaskCount() + TASK_MARGIN;
    let entered: string[] = [];
    if (v1) {
      try {
        entered = v1.prepare(id, limits, extra);
        for (const d of entered) writeFile(path.join(d, 'cgroup.procs'), `${process.pid}\n`);
      } catch (err) {
        this.stepOutV1(v1);
        entered = [];
        this.log.warn({ id, err: (err as Error).message }, 'could not start in its cgroup v1 limits; it runs without them');
      }
    }
    let started: { proc: T; tree: ProcessTree };
    try {
      started = this.trees.spawn(id, marks, () => spawn(env), v2.length ? { before: (dir) => writeV2Limits(dir, limits, v2, extra), after: (dir) => settleV2(dir, limits, v2) } : undefined);
    } finally {
      if (entered.length) this.stepOutV1(v1!);
    }
    if (entered.length) { try { v1!.settle(id, limits); } catch (err) { this.log.warn({ id, err: (err as Error).message }, 'could not set pids.max after the start'); } }
    const tree = started.tree;
    const read = (): LimitCounters => {
      const c2 = tree.dir ? v2Counters(tree.dir) : null;
      const c1 = entered.length ? v1!.counters(id) : null;
      return {
        oomKills: (c2 && v2.includes('memory') ? c2.oomKills : 0) + (c1?.oomKills ?? 0),
        forkRefusals: (c2 && v2.includes('pids') ? c2.forkRefusals : 0) + (c1?.forkRefusals ?? 0),
        memoryBytes: c2?.memoryBytes ?? c1?.memoryBytes ?? null,
        cpuSeconds: c2?.cpuSeconds ?? null,
      };
    };
    const watched = v2.length > 0 || entered.length > 0;
    const totals = this.totalsOf(id);
    const guard = new LimitGuard(limits, watched ? read : () => ZERO_COUNTERS, (ev) => {
      for (const t of [totals, this.allTotals]) {
        if (ev.limit === 'memoryMB') t.memoryKills += ev.count;
        if (ev.limit === 'pids') t.forkRefusals += ev.count;
      }
      onEvent(ev);
    });
    if (watched) this.watch(guard);
    const end = async (): Promise<void> => {
      await tree.end();
      this.live.delete(guard);
      if (!entered.length) return;
      // What the v2 tree or the process group did not reach (proc mode) is in the v1 folders: it goes too.
      for (let i = 0; i < 100 && v1!.pids(id).length; i++) {
        for (const p of v1!.pids(id)) { try { process.kill(p, 'SIGKILL'); } catch { /* gone */ } }
        await new Promise((r) => setTimeout(r, 20));
      }
      v1!.remove(id);
    };
    return {
      proc: started.proc,
      tree: { ...bind(tree), end },
      guard,
      usage: () => { const c = read(); return { cpuSeconds: c.cpuSeconds, memoryBytes: c.memoryBytes }; },
    };
  }

  /** Counters of an id since the agent started (kept across its restarts). */
  totalsOf(id: string): LimitTotals {
    let t = this.totals.get(id);
    if (!t) this.totals.set(id, (t = { memoryKills: 0, forkRefusals: 0 }));
    return t;
  }

  forget(id: string): void { this.totals.delete(id); }

  /** At start: what an earlier agent left in the cgroups (kill -9) is killed, like the trees' own sweep. */
  sweep(apps: ReadonlyArray<{ appId: string; marks: readonly string[] }>): number {
    let n = this.trees.sweep(apps);
    for (const [id, pids] of this.v1?.leftovers() ?? []) {
      for (const p of pids) { try { process.kill(p, 'SIGKILL'); n++; } catch { /* gone */ } }
      this.v1!.remove(id);
    }
    return n;
  }

  close(): void {
    if (this.timer) { clearInterval(this.timer); this.timer = null; }
    this.trees.close();
    this.v1?.close();
  }

  private watch(guard: LimitGuard): void {
    this.live.add(guard);
    if (this.timer) return;
    this.timer = setInterval(() => {
      for (const g of this.live) g.poll();
      if (this.live.size === 0 && this.timer) { clearInterval(this.timer); this.timer = null; }
    }, POLL_MS);
    this.timer.unref();
  }

  /** Back to the agent's own v1 cgroups: it must never stay in one that an app's end kills or a limit throttles. */
  private stepOutV1(v1: V1Groups): void {
    for (const own of v1.owns) {
      for (let attempt = 0; ; attempt++) {
        try { writeFile(path.join(own, 'cgroup.procs'), `${process.pid}\n`); break; } catch (e) {
          if (attempt >= 3) { this.log.fatal({ err: (e as Error).message, own }, 'could not leave an app\'s cgroup; exiting'); process.exit(1); }
        }
      }
    }
  }
}

function nameOf(controller: string): LimitName {
  return controller === 'memory' ? 'memoryMB' : controller === 'cpu' ? 'cpuPercent' : 'pids';
}

/** The tree's methods bound to it, so they can be spread into the confined tree. */
function bind(tree: ProcessTree): ProcessTree {
  return { mode: tree.mode, dir: tree.dir, signal: (s) => tree.signal(s), signalDetached: (s) => tree.signalDetached(s), end: () => tree.end() };
}
