// Crash-safe file writes: a reader after a power cut sees the old file or the new one, never half of either.
import fs = require('node:fs');
import path = require('node:path');

/** temp file in the same folder, fsync, rename, fsync the folder. Files are private to the agent's user (0600). */
export function writeFileAtomic(file: string, data: string | Buffer, mode = 0o600): void {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${Date.now()}.tmp`);
  const fd = fs.openSync(tmp, 'w', mode);
  try {
    fs.writeFileSync(fd, data);
    fs.fsyncSync(fd);
  } catch (e) {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  fs.closeSync(fd);
  try {
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  fsyncDir(dir);
}

/** mkdir -p with a private mode: dataDir holds tokens and code. */
export function ensurePrivateDir(dir: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  // mkdir's mode only applies to a folder it creates: tighten one that already existed with group/world bits.
  try {
    if (fs.statSync(dir).mode & 0o077) fs.chmodSync(dir, 0o700);
  } catch { /* not ours to change (another owner): the files inside are still written 0600 */ }
}

/** Reads and parses a JSON file; a file that does not parse is moved aside (never silently dropped). */
export function readJsonOrQuarantine(file: string): { value: unknown; quarantined: string | null; text?: string } {
  let text: string;
  try { text = fs.readFileSync(file, 'utf8'); } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { value: undefined, quarantined: null };
    throw e;
  }
  try {
    return { value: JSON.parse(text), quarantined: null, text };
  } catch {
    const aside = `${file}.corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    fs.renameSync(file, aside);
    return { value: undefined, quarantined: aside };
  }
}

/**
 * A JSON file rewritten atomically that needs no new disk space to be rewritten at about its size, so that a full
 * disk (an app that filled dataDir) cannot refuse the writes that free space or stop things. The file is padded with
 * spaces (JSON ignores them) to a capacity, and a spare of that capacity is kept beside it: a write fills the spare in
 * place (its blocks are allocated already), renames it over the file, and keeps the replaced file as the next spare
 * (a hard link taken before the rename). Only a write that outgrows the capacity allocates, and a full disk refuses
 * it (ENOSPC) as writeFileAtomic would. Copy-on-write file systems (btrfs) allocate on every write whatever we do.
 */
export class ReservedFile {
  private readonly dir: string;
  private readonly spare: string;
  private readonly prev: string;

  constructor(readonly file: string) {
    this.dir = path.dirname(file);
    this.spare = path.join(this.dir, `.${path.basename(file)}.spare`);
    this.prev = path.join(this.dir, `.${path.basename(file)}.prev`);
  }

  write(text: string): void {
    const data = Buffer.from(text);
    // A crash between the rename and taking the spare back leaves the old file under .prev.
    if (sizeOf(this.spare) < 0 && sizeOf(this.prev) >= 0) fs.renameSync(this.prev, this.spare);
    let capacity = sizeOf(this.spare);
    let source = this.spare;
    if (capacity < data.length) {
      capacity = Math.ceil(Math.max(2 * data.length, RESERVE_MIN) / 4096) * 4096;
      source = path.join(this.dir, `.${path.basename(this.file)}.${process.pid}.${Date.now()}.tmp`);
      try { fillFile(source, data, capacity, 'w'); } catch (e) { fs.rmSync(source, { force: true }); throw e; }
    } else {
      fillFile(source, data, capacity, 'r+');
    }
    let kept = false;
    try { fs.rmSync(this.prev, { force: true }); fs.linkSync(this.file, this.prev); kept = true; } catch { /* no file yet, or no room for a name */ }
    try { fs.renameSync(source, this.file); } catch (e) {
      if (source !== this.spare) fs.rmSync(source, { force: true });
      throw e;
    }
    fsyncDir(this.dir);
    if (kept) { try { fs.renameSync(this.prev, this.spare); } catch { /* the next write allocates one */ } }
    // A spare as large as the file, made while there is room (best effort: a full disk leaves the smaller one).
    if (sizeOf(this.spare) < capacity) { try { fillFile(this.spare, Buffer.alloc(0), capacity, 'w'); } catch { /* next time */ } }
  }
}

const RESERVE_MIN = 16 * 1024;

/** Size of a regular file, -1 when there is none. */
function sizeOf(file: string): number {
  try { const st = fs.lstatSync(file); return st.isFile() ? st.size : -1; } catch { return -1; }
}

/** data, then spaces up to `size` bytes, written from offset 0 and fsynced. */
function fillFile(file: string, data: Buffer, size: number, flags: 'w' | 'r+'): void {
  const buf = Buffer.alloc(size, 0x20);
  data.copy(buf);
  const fd = fs.openSync(file, flags, 0o600);
  try {
    fs.writeSync(fd, buf, 0, size, 0);
    fs.fsyncSync(fd);
  } finally { fs.closeSync(fd); }
}

function fsyncDir(dir: string): void {
  try {
    const dfd = fs.openSync(dir, 'r');
    try { fs.fsyncSync(dfd); } finally { fs.closeSync(dfd); }
  } catch { /* some filesystems refuse a directory fsync; the rename is still atomic */ }
}
