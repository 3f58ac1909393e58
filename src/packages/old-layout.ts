// Agents before dataDir/python-agent wrote the `vehicle` package and the `sdv` alias into packages.dir, which comes
// first on every app's PYTHONPATH: left there, they would hide the agent's own. At start they are removed, and with
// apps.runAs that folder is the app user's, so root neither reads nor removes anything in it by path: the marks are
// read as the app user (readUserFile) and the trees removed as that user (removeUserTree, which leaves to a root `rm`
// walking by descriptor only what the app user cannot remove: the root-owned package an older agent made there).
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { RunAs } from '../apps/run-as';
import { readUserFile, removeUserTree } from '../apps/user-files';
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
