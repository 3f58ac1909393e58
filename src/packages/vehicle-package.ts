// Writes the generated `vehicle` package into the python-packages folder. The package carries a stamp with the hash
// of its content: at start it is rewritten only when missing or made from another model, and after a model change
// before the reply. The new package is written beside the old one and swapped in with two renames, so a program
// starting meanwhile imports one whole package or the other, never a half-written one.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { RunAs } from '../apps/run-as';
import { handOverTree } from '../apps/user-files';
import type { PythonModel } from '../signals/python-model';

export const STAMP_FILE = '.sdv-agent-model.json';
const PACKAGE = 'vehicle';

export interface VehicleStamp { readonly hash: string; readonly signals: number; readonly branches: number; readonly source: string }

/** The stamp of the package in `dir`, or null when there is none (or it is not the agent's). */
export function readStamp(dir: string): VehicleStamp | null {
  try {
    const s = JSON.parse(fs.readFileSync(path.join(dir, PACKAGE, STAMP_FILE), 'utf8')) as VehicleStamp;
    return typeof s.hash === 'string' ? s : null;
  } catch { return null; }
}

/** Leftovers of a write cut short by a crash (`.vehicle-new-*`, `.vehicle-old-*`). */
function removeLeftovers(dir: string): void {
  let names: string[];
  try { names = fs.readdirSync(dir); } catch { return; }
  for (const n of names) if (/^\.vehicle-(new|old)-/.test(n)) fs.rmSync(path.join(dir, n), { recursive: true, force: true });
}

/**
 * Makes `dir/vehicle` (dir exists: ensurePythonPackagesDir) the given model. Files are private (0600 in 0700 folders)
 * and, with apps.runAs, the run user's (source says where the model came from, for get_runtime_info). Returns false
 * when the package there already has this hash. Throws on a write error (the old package then stays as it was).
 */
export function writeVehiclePackage(dir: string, model: PythonModel, source: string, runAs: RunAs | null, atStart = false): boolean {
  const current = readStamp(dir);
  if (current?.hash === model.hash && fs.existsSync(path.join(dir, PACKAGE, '__init__.py'))) return false;
  // Only at start: later, an old package may still be being removed in the background.
  if (atStart) removeLeftovers(dir);
  const tag = `${process.pid}-${crypto.randomBytes(4).toString('hex')}`;
  const fresh = path.join(dir, `.vehicle-new-${tag}`);
  try {
    for (const [rel, text] of model.files) {
      // rel starts with "vehicle/": the package folder is `fresh` itself. Files come parents first, so each folder is
      // made once, after its parent.
      const file = path.join(fresh, rel.slice(PACKAGE.length + 1));
      fs.mkdirSync(path.dirname(file), { mode: 0o700 });
      fs.writeFileSync(file, text, { mode: 0o600 });
    }
    const stamp: VehicleStamp = { hash: model.hash, signals: model.signals, branches: model.branches, source };
    fs.writeFileSync(path.join(fresh, STAMP_FILE), JSON.stringify(stamp) + '\n', { mode: 0o600 });
    handOverTree(runAs, fresh);
  } catch (e) {
    fs.rmSync(fresh, { recursive: true, force: true });
    throw e;
  }
  const target = path.join(dir, PACKAGE);
  const old = path.join(dir, `.vehicle-old-${tag}`);
  let moved = false;
  try { fs.renameSync(target, old); moved = true; } catch (e) { if ((e as NodeJS.ErrnoException).code !== 'ENOENT') { fs.rmSync(fresh, { recursive: true, force: true }); throw e; } }
  try { fs.renameSync(fresh, target); } catch (e) {
    if (moved) fs.renameSync(old, target);
    fs.rmSync(fresh, { recursive: true, force: true });
    throw e;
  }
  if (moved && !current) {
    // A `vehicle` package the agent did not write (installed by hand): kept aside, never deleted.
    fs.renameSync(old, path.join(dir, `vehicle.replaced-${new Date().toISOString().replace(/[:.]/g, '-')}`));
  } else if (moved) {
    // In the background: removing a few hundred folders can take longer than writing them (a journalled disk).
    fs.rm(old, { recursive: true, force: true }, () => {});
  }
  return true;
}

/** Removes the agent's package (one without the agent's stamp is not the agent's and stays). */
export function removeVehiclePackage(dir: string): boolean {
  if (!readStamp(dir)) return false;
  fs.rmSync(path.join(dir, PACKAGE), { recursive: true, force: true });
  return true;
}
