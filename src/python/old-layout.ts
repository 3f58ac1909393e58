// What in packages.dir would hide the agent's own Python files (packages.dir comes first on every app's PYTHONPATH).
// Agents before dataDir/python-agent wrote the `vehicle` package and the `sdv` alias there: at start they are removed.
// A `vehicle` of someone else's (installed by hand, or an image's generated model) is set aside, never deleted, once the
// agent has a package for the model it serves. With apps.runAs that folder is the app user's, so root neither reads,
// renames nor removes anything in it by path: marks are read as the app user (readUserFile), a package is set aside
// with `mv` as that user, and trees are removed as that user (removeUserTree, which leaves to a root `rm` walking by
// descriptor only what the app user cannot remove: the root-owned package an older agent made there).
import fs = require('node:fs');
import path = require('node:path');
import { runChild } from '../core/child-runner';
import { inheritedEnv } from '../user-code/child-env';
import type { RunAs } from '../user-code/run-as';
import { readUserFile, removeUserTree } from '../user-code/user-files';
import { ALIAS_MARKER } from './sdv-alias';

const OLD_STAMP = '.sdv-agent-model.json';

/** What an older agent left in `dir` (packages.dir), removed; returns the names removed. Never throws. */
export async function removeOldAgentFiles(dir: string, runAs: RunAs | null): Promise<string[]> {
  let names: string[];
  try { names = await fs.promises.readdir(dir); } catch { return []; }
  const removed: string[] = [];
  for (const name of names) {
    const p = path.join(dir, name);
    let old = false;
    if (/^\.vehicle-(new|old)-/.test(name)) old = true;
    else if (name === 'vehicle') old = await isOldPackage(p, runAs);
    else if (name === 'sdv') old = (await readUserFile(runAs, path.join(p, '__init__.py'), ALIAS_MARKER.length))?.startsWith(ALIAS_MARKER) === true;
    if (!old) continue;
    await removeUserTree(runAs, p);
    removed.push(name);
  }
  return removed;
}

/**
 * An older agent's `vehicle`: with apps.runAs a folder root made there (no one else can make a root-owned entry; the
 * app user cannot read into it), otherwise one with the agent's stamp. A `vehicle` the user installed stays.
 */
async function isOldPackage(p: string, runAs: RunAs | null): Promise<boolean> {
  let st: fs.Stats;
  try { st = await fs.promises.lstat(p); } catch { return false; }
  if (!st.isDirectory()) return false;
  if (runAs && st.uid === process.getuid?.()) return true;
  return (await readUserFile(runAs, path.join(p, OLD_STAMP), 16))?.startsWith('{"hash":') === true;
}

/**
 * Sets a `vehicle` in `dir` (packages.dir) aside as `vehicle.replaced-<time>`, as the app user with apps.runAs;
 * returns the new name, or null when there is none (or it could not be moved).
 */
export async function setAsideVehicle(dir: string, runAs: RunAs | null): Promise<string | null> {
  const p = path.join(dir, 'vehicle');
  try { await fs.promises.lstat(p); } catch { return null; }
  const aside = path.join(dir, `vehicle.replaced-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  if (!runAs) return fs.promises.rename(p, aside).then(() => aside, () => null);
  const r = await runChild({ file: 'mv', args: ['-T', '--', p, aside], env: inheritedEnv(), runAs, maxKeptBytes: 0 });
  return r.exitCode === 0 ? aside : null;
}
