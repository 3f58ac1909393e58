// The generated `vehicle` package in the agent's Python folder (dataDir/python-agent, which only the agent writes).
// A new package is staged beside the current one (`.vehicle-new-<random>`), in slices that yield to the event loop,
// and swapped in with two renames only once it is whole, so a program starting meanwhile imports one whole package or
// the other, and a model whose package cannot be made (a name Python cannot hold, past PYTHON_LIMITS, a full disk)
// changes nothing. The package carries a stamp with the hash of the model text it was made from: a start compares
// that with the model it loads and writes nothing when they agree.
import { cryptoModule } from '../core/crypto-module';
import fs = require('node:fs');
import path = require('node:path');
import { emitPythonModel, PYTHON_MODEL_FORMAT, type PythonPlan } from './model-code';
import { makeDir, removeInBackground, TreeWriter, writeNewFile } from './agent-tree';
import type { AgentAccess } from '../user-code/python-folders';

export const STAMP_FILE = '.sdv-agent-model.json';
const PACKAGE = 'vehicle';
/** The longest the package's generation holds the event loop between two yields. */
export const SLICE_MS = 10;

export interface VehicleStamp {
  readonly format: number;
  /** sha256 of the model text the package was made from (ModelSource.hash). */
  readonly model: string;
  /** The built-in model file's identity when it was made from that (ModelSource.file). */
  readonly modelFile?: string;
  /** The folder's access it was written with (accessTag). */
  readonly access: string;
  readonly signals: number;
  readonly branches: number;
  readonly bytes: number;
  readonly source: string;
}

/** The stamp of the package in `dir`, or null when there is none. */
export function readStamp(dir: string): VehicleStamp | null {
  try {
    const s = JSON.parse(fs.readFileSync(path.join(dir, PACKAGE, STAMP_FILE), 'utf8')) as VehicleStamp;
    return typeof s.model === 'string' ? s : null;
  } catch { return null; }
}

/**
 * True when the package in `dir` was made by this format from this model, for this access: the same built-in model
 * file (its identity, no read), else the same text (its hash, computed only then).
 */
export function isCurrent(dir: string, model: { readonly hash: string; readonly file?: string }, access: string): boolean {
  const s = readStamp(dir);
  if (s === null || s.format !== PYTHON_MODEL_FORMAT || s.access !== access) return false;
  const same = (model.file !== undefined && s.modelFile === model.file) || s.model === model.hash;
  return same && fs.existsSync(path.join(dir, PACKAGE, '__init__.py'));
}

/** Leftovers of a write cut short by a crash (`.vehicle-new-*`, `.vehicle-old-*`): removed in the background. */
export function removeLeftovers(dir: string): void {
  let names: string[];
  try { names = fs.readdirSync(dir); } catch { return; }
  for (const n of names) if (/^\.vehicle-(new|old)-/.test(n)) removeInBackground(path.join(dir, n));
}

/** Yields to the event loop (after I/O callbacks, so pings and health checks are answered between slices). */
const breathe = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Runs a generator of pause points to its end, yielding to the event loop every SLICE_MS. */
export async function sliced<T>(g: Generator<undefined, T>): Promise<T> {
  let t0 = performance.now();
  for (;;) {
    const r = g.next();
    if (r.done) return r.value;
    if (performance.now() - t0 > SLICE_MS) { await breathe(); t0 = performance.now(); }
  }
}

export interface StagedPackage { readonly path: string; readonly stamp: VehicleStamp }

/**
 * Writes the package of `plan` beside the current one; throws a PythonModelError past PYTHON_LIMITS.maxPackageBytes
 * (emitPythonModel), or the write's error (ENOSPC…), after removing what it wrote.
 */
export async function stageVehiclePackage(dir: string, plan: PythonPlan, meta: { model: string; modelFile?: string; access: string; source: string }, access: AgentAccess): Promise<StagedPackage> {
  const fresh = path.join(dir, `.vehicle-new-${cryptoModule().randomBytes(8).toString('hex')}`);
  await makeDir(fresh, access);
  const writer = new TreeWriter(fresh, access);
  let bytes = 0;
  try {
    let t0 = performance.now();
    for (const piece of emitPythonModel(plan)) {
      if (performance.now() - t0 > SLICE_MS) { await breathe(); t0 = performance.now(); }
      if (!piece) continue;
      bytes += piece.size;
      // piece.file starts with "vehicle/": the package folder is `fresh` itself.
      await writer.add(piece.file.slice(PACKAGE.length + 1), piece.chunks);
    }
    await writer.done();
    const stamp: VehicleStamp = { format: PYTHON_MODEL_FORMAT, ...meta, signals: plan.signals, branches: plan.branches, bytes };
    await writeNewFile(path.join(fresh, STAMP_FILE), JSON.stringify(stamp) + '\n', access);
    return { path: fresh, stamp };
  } catch (e) {
    await writer.settle();
    await fs.promises.rm(fresh, { recursive: true, force: true }).catch(() => {});
    throw e;
  }
}

/** Swaps the staged package in (two renames); the old one is removed in the background. Throws when a rename fails. */
export function commitVehiclePackage(dir: string, staged: StagedPackage): void {
  const target = path.join(dir, PACKAGE);
  const old = path.join(dir, `.vehicle-old-${cryptoModule().randomBytes(8).toString('hex')}`);
  let moved = false;
  try { fs.renameSync(target, old); moved = true; } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') { removeInBackground(staged.path); throw e; }
  }
  try { fs.renameSync(staged.path, target); } catch (e) {
    if (moved) { try { fs.renameSync(old, target); } catch { /* the start after will make it again */ } }
    removeInBackground(staged.path);
    throw e;
  }
  if (moved) removeInBackground(old);
}

/** Removes the package (when the agent no longer knows the model). */
export function removeVehiclePackage(dir: string): boolean {
  const old = path.join(dir, `.vehicle-old-${cryptoModule().randomBytes(8).toString('hex')}`);
  try { fs.renameSync(path.join(dir, PACKAGE), old); } catch { return false; }
  removeInBackground(old);
  return true;
}
