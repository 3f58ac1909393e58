// Writing into the agent's Python folder (dataDir/python-agent, which only the agent can write): folders and new files
// with the folder's access (mode, and with apps.runAs the app user's group, set on the descriptor). Files are created
// exclusively and never through a link (O_EXCL|O_NOFOLLOW), though no one else could have planted one there.
// TreeWriter writes a whole package asynchronously, a bounded number of files at a time, each folder after its parent,
// so writing thousands of files never holds the event loop.
import fs = require('node:fs');
import path = require('node:path');
import type { AgentAccess } from '../user-code/python-folders';

const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = fs.constants;
/** Files being written at once: enough to keep the disk busy, few enough to bound the memory of their texts. */
const IN_FLIGHT = 16;

export async function makeDir(dir: string, a: AgentAccess): Promise<void> {
  await fs.promises.mkdir(dir, { mode: a.dirMode });
  // mkdir's mode is masked by the umask: set it as meant.
  await fs.promises.chmod(dir, a.dirMode);
  if (a.gid !== null) await fs.promises.chown(dir, a.uid, a.gid);
}

/** A new file from a text or from chunks (written with writev, never copied into one buffer). */
export async function writeNewFile(file: string, data: string | readonly Buffer[], a: AgentAccess): Promise<void> {
  const fh = await fs.promises.open(file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, a.fileMode);
  try {
    if (typeof data === 'string') await fh.writeFile(data);
    else await writeAll(fh, data);
    await fh.chmod(a.fileMode);
    if (a.gid !== null) await fh.chown(a.uid, a.gid);
  } finally { await fh.close(); }
}

/** writev until every chunk is written (a short write writes the rest); at most IOV_MAX chunks a call. */
async function writeAll(fh: fs.promises.FileHandle, chunks: readonly Buffer[]): Promise<void> {
  let rest = chunks.filter((c) => c.length > 0);
  while (rest.length) {
    const batch = rest.slice(0, 1024);
    let { bytesWritten } = await fh.writev(batch);
    let i = 0;
    while (i < batch.length && bytesWritten >= batch[i]!.length) bytesWritten -= batch[i++]!.length;
    rest = i < batch.length ? [batch[i]!.subarray(bytesWritten), ...batch.slice(i + 1), ...rest.slice(batch.length)] : rest.slice(batch.length);
  }
}

export function makeDirSync(dir: string, a: AgentAccess): void {
  try { fs.mkdirSync(dir, { mode: a.dirMode }); } catch (e) { if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e; }
  fs.chmodSync(dir, a.dirMode);
  if (a.gid !== null) fs.chownSync(dir, a.uid, a.gid);
}

export function writeNewFileSync(file: string, data: string, a: AgentAccess): void {
  const fd = fs.openSync(file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, a.fileMode);
  try {
    fs.writeFileSync(fd, data);
    fs.fchmodSync(fd, a.fileMode);
    if (a.gid !== null) fs.fchownSync(fd, a.uid, a.gid);
  } finally { fs.closeSync(fd); }
}

/** Removes a tree of the agent's folder without holding the event loop; errors are left (a start removes leftovers). */
export function removeInBackground(p: string): void {
  void fs.promises.rm(p, { recursive: true, force: true }).catch(() => {});
}

/** Writes files below `root` (which exists), at most IN_FLIGHT at a time; the first failure fails the whole tree. */
export class TreeWriter {
  private readonly dirs = new Map<string, Promise<void>>([['.', Promise.resolve()]]);
  private readonly running = new Set<Promise<void>>();
  private failure: unknown = null;
  private failed = false;

  constructor(private readonly root: string, private readonly access: AgentAccess) {}

  /** Queues `rel` (its folders are made first, each after its parent); resolves once another file may be queued. */
  async add(rel: string, data: readonly Buffer[]): Promise<void> {
    this.check();
    const task = this.folder(path.dirname(rel))
      .then(() => writeNewFile(path.join(this.root, rel), data, this.access))
      .catch((e: unknown) => { if (!this.failed) { this.failed = true; this.failure = e; } });
    this.running.add(task);
    void task.then(() => this.running.delete(task));
    while (this.running.size >= IN_FLIGHT) await Promise.race(this.running);
    this.check();
  }

  /** Resolves when every queued file is written; throws the first failure. */
  async done(): Promise<void> {
    await Promise.all(this.running);
    this.check();
  }

  /** Waits for what is still being written (before the tree is removed after a failure). */
  async settle(): Promise<void> { await Promise.all(this.running); }

  private check(): void { if (this.failed) throw this.failure; }

  private folder(rel: string): Promise<void> {
    let p = this.dirs.get(rel);
    if (!p) {
      // Queued in tree order, so the parent's promise exists (or is made here first) and no folder waits for a later one.
      p = this.folder(path.dirname(rel)).then(() => makeDir(path.join(this.root, rel), this.access));
      this.dirs.set(rel, p);
    }
    return p;
  }
}
