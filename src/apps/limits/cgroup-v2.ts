// Limits through cgroup v2, in the app's own cgroup that process-tree.ts makes (one tree holds every controller):
//   memory.max (and memory.swap.max 0, so swap is no way around it): past it the kernel reclaims, then OOM-kills a
//     process of the group (memory.events counts oom_kill);
//   cpu.max "<quota> 100000": the group is throttled once it used its share of each 100 ms period;
//   pids.max: a fork or thread past it fails with EAGAIN (pids.events counts "max").
// The controllers must be enabled in cgroup.subtree_control of every cgroup above the app's, which v2 allows only in
// a cgroup without processes of its own (except the root): enableControllers() moves the agent into a leaf of its own
// cgroup when it is alone there (systemd's Delegate=yes hands the unit's cgroup over that way) and gives up otherwise.
import fs = require('node:fs');
import path = require('node:path');
import type { Limits } from './spec';
import { readKeyed, readNumber, readProcs, writeFile } from './cgroup-fs';

export const V2_CONTROLLERS = ['memory', 'cpu', 'pids'] as const;

export interface V2Counters { oomKills: number; forkRefusals: number; memoryBytes: number | null; cpuSeconds: number | null }

/**
 * Enables `want` (those the agent's cgroup offers) below `own` and in `base`. Returns the controllers enabled, where
 * the agent lives now (a leaf when it had to move) and why nothing could be enabled.
 */
export function enableControllers(own: string, base: string, leafName: string, want: readonly string[]): { enabled: string[]; own: string; why?: string } {
  let offered: string[];
  try { offered = fs.readFileSync(path.join(own, 'cgroup.controllers'), 'utf8').trim().split(/\s+/); } catch { offered = []; }
  const enabled = want.filter((c) => offered.includes(c));
  if (enabled.length === 0) return { enabled, own, why: `the agent's cgroup offers none of ${want.join(', ')}` };
  const line = enabled.map((c) => `+${c}`).join(' ');
  let where = own;
  try {
    writeFile(path.join(own, 'cgroup.subtree_control'), line);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EBUSY') return { enabled: [], own, why: `cannot enable ${line} in ${own}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` };
    // Processes in its own cgroup: only when the agent is alone there may it move into a leaf and free it.
    const others = readProcs(own).filter((p) => p !== process.pid);
    if (others.length) return { enabled: [], own, why: `the agent's cgroup ${own} holds ${others.length} other process(es); cgroup v2 limits need it alone there (systemd: Delegate=yes)` };
    const leaf = path.join(own, leafName);
    try {
      fs.mkdirSync(leaf, { recursive: true });
      writeFile(path.join(leaf, 'cgroup.procs'), `${process.pid}\n`);
      where = leaf;
      writeFile(path.join(own, 'cgroup.subtree_control'), line);
    } catch (e2) {
      return { enabled: [], own: where, why: `cannot enable ${line} in ${own}: ${(e2 as NodeJS.ErrnoException).code ?? (e2 as Error).message}` };
    }
  }
  try {
    fs.mkdirSync(base, { recursive: true });
    writeFile(path.join(base, 'cgroup.subtree_control'), line);
  } catch (e) {
    return { enabled: [], own: where, why: `cannot enable ${line} in ${base}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` };
  }
  return { enabled, own: where };
}

/** Writes the limits into an app's cgroup; pids.max with `extraTasks` more while the agent's threads are in it. */
export function writeV2Limits(dir: string, limits: Limits, enabled: readonly string[], extraTasks: number): void {
  if (enabled.includes('memory')) {
    writeFile(path.join(dir, 'memory.max'), limits.memoryMB > 0 ? String(limits.memoryMB * 1024 * 1024) : 'max');
    const swap = path.join(dir, 'memory.swap.max');
    if (fs.existsSync(swap)) writeFile(swap, limits.memoryMB > 0 ? '0' : 'max');
  }
  if (enabled.includes('cpu')) writeFile(path.join(dir, 'cpu.max'), `${limits.cpuPercent > 0 ? Math.max(1000, limits.cpuPercent * 1000) : 'max'} 100000`);
  if (enabled.includes('pids')) writeFile(path.join(dir, 'pids.max'), limits.pids > 0 ? String(limits.pids + extraTasks) : 'max');
}

export function settleV2(dir: string, limits: Limits, enabled: readonly string[]): void {
  if (enabled.includes('pids') && limits.pids > 0) writeFile(path.join(dir, 'pids.max'), String(limits.pids));
}

export function v2Counters(dir: string): V2Counters {
  const usec = readKeyed(path.join(dir, 'cpu.stat')).usage_usec;
  return {
    oomKills: readKeyed(path.join(dir, 'memory.events')).oom_kill ?? 0,
    forkRefusals: readKeyed(path.join(dir, 'pids.events')).max ?? 0,
    memoryBytes: readNumber(path.join(dir, 'memory.current')),
    // cpu.stat is there in every v2 cgroup, with or without the cpu controller.
    cpuSeconds: usec === undefined ? null : usec / 1e6,
  };
}
