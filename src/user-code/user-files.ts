// Files in folders the app user can write (its app folder, dataDir/python-packages, run and build folders once handed
// over). With apps.runAs the agent is root and the app user is not: anything there may have been replaced by a link
// to /etc/shadow a moment ago. So the agent never follows a path there: it creates new files exclusively (O_EXCL,
// O_NOFOLLOW) and hands over the open file (fchown), changes owners only with lchown and only below folders the app
// user cannot change, and removes such trees as the app user. The agent's own files (console log, seq mark, stderr
// FIFO, registry) live in folders the app user cannot write at all (see AppStore.agentFolder).
import fs = require('node:fs');
import path = require('node:path');
import { runChild } from '../core/child-runner';
import { inheritedEnv } from './child-env';
import type { RunAs } from './run-as';

const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW, O_RDONLY, O_NONBLOCK } = fs.constants;
/** How long reading a file as the app user may take (a FIFO planted at its name never answers). */
const READ_AS_USER_MS = 10_000;

/**
 * Writes a new file into a folder the app user may write, owned by the app user when runAs is set. What is at that
 * name now (a file, a link planted there) is unlinked, never followed; the new file is created exclusively, so a link
 * planted between the unlink and the create makes the create fail instead of writing through it.
 */
export function writeUserFile(runAs: RunAs | null, file: string, data: string | Buffer, mode: number): void {
  for (let attempt = 0; ; attempt++) {
    fs.rmSync(file, { force: true });
    let fd: number;
    try { fd = fs.openSync(file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode); } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST' && attempt < 3) continue;
      throw e;
    }
    try {
      fs.writeFileSync(fd, data);
      fs.fchmodSync(fd, mode);
      if (runAs) fs.fchownSync(fd, runAs.uid, runAs.gid);
    } finally { fs.closeSync(fd); }
    return;
  }
}

/**
 * The app user's folder for a tree an earlier root-run install left behind (packages.dir before runAs was set). Walks only folders that are not the app user's and that no one else may write, so no part of a path it uses
 * can be swapped under it; a folder already owned by the app user is left as it is (what is in it is the user's own
 * doing). Owners change with lchown, children before their folder.
 */
export function handOverTree(runAs: RunAs | null, root: string): void {
  if (!runAs) return;
  const walk = (p: string, st: fs.Stats) => {
    if (st.isDirectory()) {
      if (st.uid === runAs.uid) return;
      if ((st.mode & 0o022) === 0) for (const n of fs.readdirSync(p)) { const c = path.join(p, n); walk(c, fs.lstatSync(c)); }
    }
    if (st.uid !== runAs.uid || st.gid !== runAs.gid) fs.lchownSync(p, runAs.uid, runAs.gid);
  };
  // The walk is only as safe as the folder the tree sits in (packages.dir may be anywhere): one the app user could
  // change could swap the tree for a link between two steps, so such a tree is left as it is.
  const parent = fs.lstatSync(path.dirname(root));
  if (parent.uid === runAs.uid || (parent.mode & 0o022) !== 0) return;
  walk(root, fs.lstatSync(root));
}

/**
 * Removes a tree the app user may write. As the app user (`rm -rf`, which cannot reach beyond that user's rights
 * whatever links the tree holds), then the folder itself, which sits in a folder of the agent's. Without runAs the
 * tree is the agent's own user's and fs.rm removes it. Never throws; resolves when done.
 */
export async function removeUserTree(runAs: RunAs | null, dir: string): Promise<void> {
  if (!runAs) { await fs.promises.rm(dir, { recursive: true, force: true }).catch(() => {}); return; }
  await rmAs(runAs, dir);
  try { fs.rmdirSync(dir); } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    // Left: files a root-run program made in it before runAs was set. GNU rm walks with openat and O_NOFOLLOW.
    if (code === 'ENOTEMPTY' || code === 'EEXIST') await rmAs(null, dir);
  }
}

async function rmAs(runAs: RunAs | null, dir: string): Promise<void> {
  await runChild({ file: 'rm', args: ['-rf', '--one-file-system', '--', dir], env: inheritedEnv(), runAs, maxKeptBytes: 0 });
}

/**
 * The first `max` bytes of a file in a folder the app user may write, read as that user (`head` with the user's uid:
 * whatever link is at that name, the read cannot reach beyond that user's rights), or directly without runAs (no
 * non-blocking open of a FIFO, nothing but a regular file). null when it cannot be read.
 */
export async function readUserFile(runAs: RunAs | null, file: string, max: number): Promise<string | null> {
  if (!runAs) {
    let fh: fs.promises.FileHandle | null = null;
    try {
      fh = await fs.promises.open(file, O_RDONLY | O_NONBLOCK);
      if (!(await fh.stat()).isFile()) return null;
      const buf = Buffer.alloc(max);
      const { bytesRead } = await fh.read(buf, 0, max, 0);
      return buf.subarray(0, bytesRead).toString('utf8');
    } catch { return null; } finally { await fh?.close().catch(() => {}); }
  }
  const r = await runChild({ file: 'head', args: [`--bytes=${max}`, '--', file], env: inheritedEnv(), runAs, timeoutMs: READ_AS_USER_MS, maxKeptBytes: max });
  return r.exitCode === 0 ? r.stdout : null;
}
