// Crash-safe file writes: a reader after a power cut sees the old file or the new one, never half of either.
import * as fs from 'node:fs';
import * as path from 'node:path';

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
  try {
    const dfd = fs.openSync(dir, 'r');
    try { fs.fsyncSync(dfd); } finally { fs.closeSync(dfd); }
  } catch { /* some filesystems refuse a directory fsync; the rename is still atomic */ }
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
export function readJsonOrQuarantine(file: string): { value: unknown; quarantined: string | null } {
  let text: string;
  try { text = fs.readFileSync(file, 'utf8'); } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { value: undefined, quarantined: null };
    throw e;
  }
  try {
    return { value: JSON.parse(text), quarantined: null };
  } catch {
    const aside = `${file}.corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    fs.renameSync(file, aside);
    return { value: undefined, quarantined: aside };
  }
}
