// Limits through cgroup v1 hierarchies (memory, cpu, pids), where that is what the box has: each controller is a tree
// of its own, so an app has one folder in each, <the agent's cgroup there>/sdv-agent-<hash of dataDir>/<id>.
//   memory  memory.limit_in_bytes (and memory.memsw.limit_in_bytes where swap is accounted, so swap is no way around
//           it): past it the kernel reclaims, then its OOM killer kills a process of the group (memory.oom_control
//           counts them as oom_kill, Linux 4.13+);
//   cpu     cpu.cfs_quota_us per cpu.cfs_period_us (100 ms): the group is throttled once it used its share of a period;
//   pids    pids.max: a fork or thread past it fails with EAGAIN (pids.events counts the refusals as "max").
// The agent may use a hierarchy when it can make that folder and step into it and back (as root, or a cgroup chowned
// to it: systemd on v1 delegates only name=systemd, so the unit's ExecStartPre=+ chowns these, see the unit).
import fs = require('node:fs');
import path = require('node:path');
import type { Limits } from './spec';
import { cgroupDir, parseMounts, parseProcCgroup, readKeyed, readNumber, readProcs, removeCgroupTree, writeFile } from './cgroup-fs';

export const V1_CONTROLLERS = ['memory', 'cpu', 'pids'] as const;
export type V1Controller = (typeof V1_CONTROLLERS)[number];

export interface V1Place { controller: V1Controller; own: string }

/** Where the agent is in each v1 hierarchy it has of memory, cpu and pids (pure: from the two /proc files). */
export function findV1(mountinfo: string, procCgroup: string): V1Place[] {
  const mounts = parseMounts(mountinfo).filter((m) => m.fstype === 'cgroup');
  const lines = parseProcCgroup(procCgroup);
  const out: V1Place[] = [];
  for (const controller of V1_CONTROLLERS) {
    const mount = mounts.find((m) => m.controllers.includes(controller));
    const line = lines.find((l) => l.controllers.includes(controller));
    if (mount && line) out.push({ controller, own: cgroupDir(mount, line.path) });
  }
  return out;
}

interface Hierarchy { controller: V1Controller; own: string; base: string }

export interface V1Counters { oomKills: number; forkRefusals: number; memoryBytes: number | null }

export class V1Groups {
  private constructor(private readonly hierarchies: Hierarchy[]) {}

  /**
   * The hierarchies among `want` where the agent can make its folder and step into a probe there and back; the
   * others are named in `refused` with the reason.
   */
  static open(baseName: string, want: readonly V1Controller[]): { groups: V1Groups | null; refused: Record<string, string> } {
    const refused: Record<string, string> = {};
    let places: V1Place[];
    try { places = findV1(fs.readFileSync('/proc/self/mountinfo', 'utf8'), fs.readFileSync('/proc/self/cgroup', 'utf8')); } catch { places = []; }
    const usable: Hierarchy[] = [];
    for (const controller of want) {
      const place = places.find((p) => p.controller === controller);
      if (!place) { refused[controller] = 'no cgroup v1 hierarchy with it'; continue; }
      const base = path.join(place.own, baseName);
      const probe = path.join(base, `.probe-${process.pid}`);
      try {
        fs.mkdirSync(probe, { recursive: true });
        writeFile(path.join(probe, 'cgroup.procs'), `${process.pid}\n`);
        writeFile(path.join(place.own, 'cgroup.procs'), `${process.pid}\n`);
        usable.push({ controller, own: place.own, base });
      } catch (e) {
        try { writeFile(path.join(place.own, 'cgroup.procs'), `${process.pid}\n`); } catch { /* never left */ }
        refused[controller] = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
        try { fs.rmdirSync(base); } catch { /* not made, or busy */ }
      }
      try { fs.rmdirSync(probe); } catch { /* not made */ }
    }
    return { groups: usable.length ? new V1Groups(usable) : null, refused };
  }

  get controllers(): V1Controller[] { return this.hierarchies.map((h) => h.controller); }
  get bases(): string[] { return this.hierarchies.map((h) => h.base); }
  /** The agent's own folders, where it steps back to after a spawn. */
  get owns(): string[] { return this.hierarchies.map((h) => h.own); }

  dirs(id: string): string[] { return this.hierarchies.map((h) => path.join(h.base, id)); }

  private dir(controller: V1Controller, id: string): string | null {
    const h = this.hierarchies.find((x) => x.controller === controller);
    return h ? path.join(h.base, id) : null;
  }

  /**
   * Makes the id's folders and writes its limits; pids.max gets `extraTasks` more for the moment the agent's own
   * threads are in there (settle() writes the real value). Returns the folders to step into.
   */
  prepare(id: string, limits: Limits, extraTasks: number): string[] {
    const dirs = this.dirs(id);
    for (const d of dirs) fs.mkdirSync(d, { recursive: true });
    const mem = this.dir('memory', id);
    if (mem) {
      const bytes = limits.memoryMB > 0 ? String(limits.memoryMB * 1024 * 1024) : '-1';
      // memsw (memory + swap) must stay at or above the memory limit: lifted first, set last.
      const memsw = path.join(mem, 'memory.memsw.limit_in_bytes');
      const hasSwap = fs.existsSync(memsw);
      if (hasSwap) writeFile(memsw, '-1');
      writeFile(path.join(mem, 'memory.limit_in_bytes'), bytes);
      if (hasSwap) writeFile(memsw, bytes);
    }
    const cpu = this.dir('cpu', id);
    if (cpu) {
      writeFile(path.join(cpu, 'cpu.cfs_period_us'), '100000');
      writeFile(path.join(cpu, 'cpu.cfs_quota_us'), limits.cpuPercent > 0 ? String(Math.max(1000, limits.cpuPercent * 1000)) : '-1');
    }
    const pids = this.dir('pids', id);
    if (pids) writeFile(path.join(pids, 'pids.max'), limits.pids > 0 ? String(limits.pids + extraTasks) : 'max');
    return dirs;
  }

  /** After the agent stepped out: the pids limit without the agent's allowance. */
  settle(id: string, limits: Limits): void {
    const pids = this.dir('pids', id);
    if (pids && limits.pids > 0) writeFile(path.join(pids, 'pids.max'), String(limits.pids));
  }

  counters(id: string): V1Counters {
    const mem = this.dir('memory', id);
    const pids = this.dir('pids', id);
    return {
      oomKills: mem ? readKeyed(path.join(mem, 'memory.oom_control')).oom_kill ?? 0 : 0,
      forkRefusals: pids ? readKeyed(path.join(pids, 'pids.events')).max ?? 0 : 0,
      memoryBytes: mem ? readNumber(path.join(mem, 'memory.usage_in_bytes')) : null,
    };
  }

  /** Processes still in the id's folders (any hierarchy). */
  pids(id: string): number[] {
    const all = new Set<number>();
    for (const d of this.dirs(id)) for (const p of readProcs(d)) all.add(p);
    return [...all];
  }

  /** Removes the id's folders; false while a process is still in one. */
  remove(id: string): boolean {
    let ok = true;
    for (const d of this.dirs(id)) ok = removeCgroupTree(d) && ok;
    return ok;
  }

  /** Every id folder left under the bases (by an agent killed with -9): their processes, for the sweep. */
  leftovers(): Map<string, number[]> {
    const out = new Map<string, number[]>();
    for (const h of this.hierarchies) {
      let names: string[] = [];
      try { names = fs.readdirSync(h.base, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name); } catch { /* none */ }
      for (const n of names) out.set(n, [...new Set([...(out.get(n) ?? []), ...readProcs(path.join(h.base, n))])]);
    }
    return out;
  }

  /** Agent shutdown: the bases go when nothing is left in them. */
  close(): void {
    for (const h of this.hierarchies) removeCgroupTree(h.base);
  }
}
