// Reaching a running C++ program's memory, and nothing else. Node has no process_vm_readv: the watcher reads and writes
// /proc/<pid>/mem with pread/pwrite. Which process it opens, and what the open file can still reach, is decided here:
//   - the program is a direct child of the run's wrapper (the shell apps/process.ts starts under the pty), and that
//     wrapper a child of the agent itself: only the agent's own run is ever opened;
//   - its executable (/proc/<pid>/exe) is the very file the build made (same device and inode), and every one of its
//     user ids (real, effective, saved, filesystem) is the run user's (apps.runAs, or the agent's own user): a program
//     that became something else (exec of another file, a set-user-id program) is refused;
//   - these checks run again after the open: an open file of /proc/<pid>/mem stays bound to the memory of the process
//     image it was opened on, so once they pass, an exec or exit afterwards leaves the file reading nothing (pread
//     returns 0 bytes), never another program's memory;
//   - every read and write lies inside a mapping of the process with the permission it needs (/proc/<pid>/maps).
import fs = require('node:fs');

export interface ExeIdentity { readonly dev: number; readonly ino: number }
interface Region { readonly start: number; readonly end: number; readonly readable: boolean; readonly writable: boolean }

export interface Attached {
  readonly pid: number;
  /** Added to a link-time address to get the address in the process (0 for a non-PIE executable). */
  readonly bias: number;
  /** Reads `len` bytes at `addr`; null when the memory is gone (the program exited or became another image). */
  read(addr: number, len: number): Buffer | null;
  /** Still the run's program (same parent, executable and users)? A write is made only after this holds. */
  alive(): boolean;
  /** Writes; throws Error with the reason when the range is not writable memory of the program. */
  write(addr: number, data: Buffer): void;
  close(): void;
}

/** At most this many /proc entries are looked at in one search for the program. */
const MAX_PROC_SCAN = 100_000;

function statusFields(pid: number): { ppid: number; uids: number[] } | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
    // pid (comm) state ppid …: comm may hold spaces and parentheses, so read after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const status = fs.readFileSync(`/proc/${pid}/status`, 'latin1');
    const uids = /^Uid:\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)/m.exec(status);
    if (!uids) return null;
    return { ppid: Number(rest[1]), uids: uids.slice(1).map(Number) };
  } catch { return null; }
}

function exeIs(pid: number, exe: ExeIdentity): boolean {
  try { const st = fs.statSync(`/proc/${pid}/exe`); return st.dev === exe.dev && st.ino === exe.ino; } catch { return false; }
}

/** Why `pid` is not the run's program, or null when it is. */
function refusal(pid: number, wrapperPid: number, exe: ExeIdentity, uid: number): string | null {
  const wrapper = statusFields(wrapperPid);
  if (!wrapper || wrapper.ppid !== process.pid) return 'the run is not a child of the agent';
  const me = statusFields(pid);
  if (!me || me.ppid !== wrapperPid) return 'the program is not the run\'s';
  if (!exeIs(pid, exe)) return 'the program runs another executable than the one built';
  if (me.uids.some((u) => u !== uid)) return `the program does not run as user ${uid} only`;
  return null;
}

/** The pid of the run's program once the wrapper has started it; null while it is not there (yet). */
export function findProgram(wrapperPid: number, exe: ExeIdentity, uid: number): number | null {
  let names: string[];
  try { names = fs.readdirSync('/proc'); } catch { return null; }
  let looked = 0;
  for (const n of names) {
    if (!/^\d+$/.test(n) || ++looked > MAX_PROC_SCAN) continue;
    const pid = Number(n);
    if (pid === wrapperPid) continue;
    const st = statusFields(pid);
    if (st?.ppid === wrapperPid && refusal(pid, wrapperPid, exe, uid) === null) return pid;
  }
  return null;
}

function regions(pid: number): Region[] {
  const out: Region[] = [];
  for (const line of fs.readFileSync(`/proc/${pid}/maps`, 'latin1').split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) ([0-9a-f]+) \S+ (\d+)/.exec(line);
    if (m) out.push({ start: parseInt(m[1]!, 16), end: parseInt(m[2]!, 16), readable: m[3]![0] === 'r', writable: m[3]![1] === 'w' });
  }
  return out;
}

/** The lowest address the executable (by inode) is mapped at from file offset 0. */
function mappedAt(pid: number, ino: number): number | null {
  let low: number | null = null;
  for (const line of fs.readFileSync(`/proc/${pid}/maps`, 'latin1').split('\n')) {
    const m = /^([0-9a-f]+)-[0-9a-f]+ \S{4} ([0-9a-f]+) \S+ (\d+)/.exec(line);
    if (m && parseInt(m[2]!, 16) === 0 && Number(m[3]) === ino) {
      const at = parseInt(m[1]!, 16);
      if (low === null || at < low) low = at;
    }
  }
  return low;
}

/** True when [addr, addr+len) is covered by consecutive mappings that all allow `what`. */
function covered(rs: readonly Region[], addr: number, len: number, what: 'readable' | 'writable'): boolean {
  let at = addr;
  const end = addr + len;
  for (const r of rs) {
    if (r.end <= at || r.start > at) continue;
    if (!r[what]) return false;
    at = r.end;
    if (at >= end) return true;
  }
  return at >= end;
}

/**
 * Opens the program's memory after the checks above (made before and after the open). `linkBase` is the link-time
 * address of the executable's first loadable byte (ElfFile.firstLoadVaddr), for a PIE's load address.
 */
export function attach(pid: number, wrapperPid: number, exe: ExeIdentity, uid: number, pie: boolean, linkBase: number): Attached | string {
  const before = refusal(pid, wrapperPid, exe, uid);
  if (before) return before;
  let fd: number;
  try { fd = fs.openSync(`/proc/${pid}/mem`, fs.constants.O_RDWR); } catch (e) {
    return `cannot open the program's memory: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`;
  }
  let bias = 0;
  let maps: Region[] = [];
  try {
    maps = regions(pid);
    if (pie) {
      const at = mappedAt(pid, exe.ino);
      if (at === null) throw new Error('the executable is not mapped');
      bias = at - linkBase;
    }
  } catch (e) { fs.closeSync(fd); return `cannot read the program's mappings: ${(e as Error).message}`; }
  const after = refusal(pid, wrapperPid, exe, uid);
  if (after) { fs.closeSync(fd); return after; }
  let open = true;
  return {
    pid, bias,
    read(addr, len) {
      if (!open || !covered(maps, addr, len, 'readable')) return null;
      const buf = Buffer.alloc(len);
      try { return fs.readSync(fd, buf, 0, len, addr) === len ? buf : null; } catch { return null; }
    },
    alive() { return open && refusal(pid, wrapperPid, exe, uid) === null; },
    write(addr, data) {
      if (!open || refusal(pid, wrapperPid, exe, uid) !== null) throw new Error('the program has ended or become another program');
      // Writes are rare: the mappings are read again, so a region the program unmapped or protected is not written.
      try { maps = regions(pid); } catch { throw new Error('the program has ended'); }
      if (!covered(maps, addr, data.length, 'writable')) throw new Error('it is not in writable memory of the program');
      if (fs.writeSync(fd, data, 0, data.length, addr) !== data.length) throw new Error('the write was cut short');
    },
    close() { if (open) { open = false; fs.closeSync(fd); } },
  };
}
