// Files the agent reads at run time (protos, the default vehicle model). From a checkout or the bundle they sit
// beside dist/; the single binary extracts them from its SEA assets first (see src/sea.ts).
import fs = require('node:fs');
import path = require('node:path');

let root: string | null = null;

/** Set by the single-binary bootstrap to its extraction folder. */
export function setResourceRoot(dir: string): void { root = dir; }

export function resourcePath(rel: string): string {
  if (root) return path.join(root, rel);
  // dist/sdv-agent.js → .., src/resources.ts → ..
  for (const base of [path.join(__dirname, '..'), path.join(__dirname, '..', '..')]) {
    const p = path.join(base, rel);
    if (fs.existsSync(p)) return p;
  }
  return path.join(__dirname, '..', rel);
}
