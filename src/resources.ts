// Files the agent reads at run time (protos, the default vehicle model). From a checkout or the bundle they sit
// beside dist/; the single binary extracts them from its SEA assets first (see src/sea.ts).
import fs = require('node:fs');
import path = require('node:path');

let root: string | null = null;
let digests: Readonly<Record<string, string>> = {};

/**
 * Set by the single-binary bootstrap to its extraction folder, with the SHA-256 of each file there as recorded at
 * build time (`rel` → hex; the files are compared byte for byte with the binary's own at start, src/sea.ts).
 */
export function setResourceRoot(dir: string, sha256: Readonly<Record<string, string>> = {}): void { root = dir; digests = sha256; }

/** The SHA-256 of a resource file when it is known without reading it (the single binary), else undefined. */
export function resourceDigest(rel: string): string | undefined { return root ? digests[rel] : undefined; }

export function resourcePath(rel: string): string {
  if (root) return path.join(root, rel);
  // dist/sdv-agent.js → .., src/resources.ts → ..
  for (const base of [path.join(__dirname, '..'), path.join(__dirname, '..', '..')]) {
    const p = path.join(base, rel);
    if (fs.existsSync(p)) return p;
  }
  return path.join(__dirname, '..', rel);
}
