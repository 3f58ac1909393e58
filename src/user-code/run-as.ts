// apps.runAs: when the agent runs as root, everything that executes code a user sent — deployed apps, Kit-Manager
// ad-hoc runs, Rust/C++ builds and their programs, pip installs — runs as this user instead. The user is resolved
// once at start (`id` run by core/child-runner: an argument vector, never a shell); an unknown user stops the start.
import fs = require('node:fs');
import { runChild } from '../core/child-runner';
import type { Logger } from '../log';
import { inheritedEnv } from './child-env';

/** `id` answers from the user database at once; one that hangs (a dead directory service) stops the start. */
const ID_TIMEOUT_MS = 30_000;

export interface RunAs { readonly name: string; readonly uid: number; readonly gid: number }

/** null when apps.runAs is empty or the agent is not root (then there are no privileges to drop). */
export async function resolveRunAs(name: string, log: Logger): Promise<RunAs | null> {
  if (!name || process.getuid?.() !== 0) return null;
  const id = async (flag: string) => {
    const r = await runChild({ file: 'id', args: [flag, name], env: inheritedEnv(), timeoutMs: ID_TIMEOUT_MS, maxKeptBytes: 1024 });
    if (r.notInstalled) throw new Error(`apps.runAs: cannot look up user ${name}: the program id is not installed`);
    const n = Number(r.stdout.trim());
    if (r.exitCode !== 0 || !Number.isInteger(n)) throw new Error(`apps.runAs: no user ${name} on this box`);
    return n;
  };
  const out = { name, uid: await id('-u'), gid: await id('-g') };
  log.info({ runAs: name, uid: out.uid, gid: out.gid }, 'user code runs as an unprivileged user');
  return out;
}

/**
 * The app user must pass through these folders to reach its own (which it owns, 0700): search only (0711), so it can
 * neither list them nor read the agent's files (0600) in them. Nothing changes without runAs.
 */
export function letPass(runAs: RunAs | null, ...dirs: string[]): void {
  // Only when needed: a read-only dataDir that is already right must not stop the start.
  if (runAs) for (const d of dirs) if ((fs.statSync(d).mode & 0o777) !== 0o711) fs.chmodSync(d, 0o711);
}

/**
 * Gives what the agent has just created to the app user (no-op without runAs): the files first, the folder last, so
 * the app user cannot reach any of them before all are handed over, and with lchown, which never follows a link.
 * Only for things the agent itself made in a folder the app user cannot write yet (see user-files.ts for the rest).
 */
export function handOver(runAs: RunAs | null, folder: string, ...files: string[]): void {
  if (!runAs) return;
  for (const p of files) fs.lchownSync(p, runAs.uid, runAs.gid);
  fs.lchownSync(folder, runAs.uid, runAs.gid);
}

/** spawn/pty options that make a child run as the app user. */
export function asUser(runAs: RunAs | null): { uid?: number; gid?: number } {
  return runAs ? { uid: runAs.uid, gid: runAs.gid } : {};
}
