// Reading the box's cgroup layout and the small files of a cgroup. The parsers are pure (tested on text); the rest
// are thin reads and writes that never throw where a missing file only means "not here".
import fs = require('node:fs');
import path = require('node:path');

export interface CgroupMount {
  /** 'cgroup2', or 'cgroup' for a v1 hierarchy. */
  fstype: 'cgroup' | 'cgroup2';
  /** Where it is mounted. */
  mountPoint: string;
  /** The mount's root inside the hierarchy (not "/" where a container sees part of it). */
  root: string;
  /** v1: the controllers bound to it (memory; cpu, cpuacct; name=systemd…). */
  controllers: string[];
}

/** The cgroup mounts of /proc/self/mountinfo. */
export function parseMounts(mountinfo: string): CgroupMount[] {
  const out: CgroupMount[] = [];
  for (const line of mountinfo.split('\n')) {
    const f = line.split(' ');
    const dash = f.indexOf('-');
    if (dash < 0) continue;
    const fstype = f[dash + 1];
    if (fstype !== 'cgroup' && fstype !== 'cgroup2') continue;
    const superOpts = (f[dash + 3] ?? '').split(',');
    out.push({ fstype, mountPoint: unescapeMount(f[4] ?? ''), root: unescapeMount(f[3] ?? '/'), controllers: fstype === 'cgroup' ? superOpts.filter((o) => o !== 'rw' && o !== 'ro') : [] });
  }
  return out;
}

/** /proc/self/cgroup: hierarchy id → { controllers, path }; v2 is the line "0::<path>". */
export function parseProcCgroup(text: string): Array<{ controllers: string[]; path: string }> {
  const out: Array<{ controllers: string[]; path: string }> = [];
  for (const line of text.split('\n')) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line);
    if (m) out.push({ controllers: m[2] ? m[2].split(',') : [], path: m[3]! });
  }
  return out;
}

/** The folder of a cgroup path on a mount whose root may itself be a sub-path of the hierarchy. */
export function cgroupDir(mount: CgroupMount, cgroupPath: string): string {
  let rel = cgroupPath;
  if (mount.root !== '/' && (rel === mount.root || rel.startsWith(mount.root + '/'))) rel = rel.slice(mount.root.length) || '/';
  // No trailing slash for the mount's root: the folder is compared and joined as it is.
  return path.join(mount.mountPoint, rel).replace(/(.)\/+$/, '$1');
}

/** "key value" lines (memory.events, pids.events, cpu.stat, memory.oom_control) as numbers. */
export function parseKeyed(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined && /^\d+$/.test(v)) out[k] = Number(v);
  }
  return out;
}

export function readKeyed(file: string): Record<string, number> {
  try { return parseKeyed(fs.readFileSync(file, 'utf8')); } catch { return {}; }
}

/** A number file (memory.usage_in_bytes, cpuacct.usage, memory.current); null when absent or "max". */
export function readNumber(file: string): number | null {
  try {
    const t = fs.readFileSync(file, 'utf8').trim();
    return /^\d+$/.test(t) ? Number(t) : null;
  } catch { return null; }
}

export function writeFile(file: string, value: string): void {
  fs.writeFileSync(file, value);
}

export function readProcs(dir: string): number[] {
  try { return fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number); } catch { return []; }
}

/** How many threads the agent has now: they all move with it when it steps into a cgroup (pids counts tasks). */
export function ownTaskCount(): number {
  try { return fs.readdirSync('/proc/self/task').length; } catch { return 32; }
}

/** rmdir of a cgroup and the cgroups under it, deepest first; false when one is still busy. */
export function removeCgroupTree(dir: string): boolean {
  let ok = true;
  let entries: fs.Dirent[];
  try { entries = fs.readdirSync(dir, { withFileTypes: true }); } catch { return true; }
  for (const e of entries) if (e.isDirectory()) ok = removeCgroupTree(path.join(dir, e.name)) && ok;
  try { fs.rmdirSync(dir); } catch (e) { if ((e as NodeJS.ErrnoException).code !== 'ENOENT') ok = false; }
  return ok;
}

/** mountinfo escapes blanks and backslashes as \040-style octal. */
function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

const CLK_TCK = 100;

/** CPU seconds of a process and its reaped children (utime, stime, cutime, cstime of /proc/<pid>/stat); null if gone. */
export function procCpuSeconds(pid: number): number | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // after the name: state is field 3; utime 14 … cstime 17 → indexes 11 … 14 here
    return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / CLK_TCK;
  } catch { return null; }
}
