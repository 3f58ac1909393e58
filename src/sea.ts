// Single-binary bootstrap. When the agent runs as a Node single-executable application (SEA, built by
// scripts/build-binary.sh) nothing but the binary is on disk: node-pty's native addon and the files the agent reads
// at run time (proto/, resources/) travel inside as SEA assets. They are written once to a per-version cache folder,
// verified against the SHA-256 recorded at build time on every start (a tampered or half-written file is replaced,
// never loaded), and then used from there: the addon through process.dlopen, the rest via setResourceRoot().
//
// Where the folder lives, first usable wins: $CACHE_DIRECTORY (systemd CacheDirectory=, on /var/cache which allows
// mapping code — /run and /tmp are often mounted noexec, and dlopen needs exec), $XDG_RUNTIME_DIR, os.tmpdir().
// The folder must be ours (owner = our uid, not writable by group/others); otherwise the next candidate is used,
// so another user cannot plant a library in a shared /tmp for us to load.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { setResourceRoot } from './resources';

/** Written by scripts/build-sea.mjs as the asset "manifest.json". */
interface Manifest {
  version: string;
  arch: string;
  /** asset key → sha256 hex. Keys: "native/pty.node", "res/<path relative to the repo>". */
  files: Record<string, string>;
}

interface SeaApi { isSea(): boolean; getAsset(key: string): ArrayBuffer }

let extracted: string | null = null;

function seaApi(): SeaApi | null {
  try {
    // node:sea exists from Node 20.12/21.7; older or non-SEA runs have nothing to do here.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const sea = require('node:sea') as SeaApi;
    return sea.isSea() ? sea : null;
  } catch { return null; }
}

export function isSea(): boolean { return seaApi() !== null; }

function sha256(buf: Uint8Array): string { return crypto.createHash('sha256').update(buf).digest('hex'); }

function ownedPrivateDir(dir: string): boolean {
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const st = fs.lstatSync(dir);
    const uid = typeof process.getuid === 'function' ? process.getuid() : st.uid;
    return st.isDirectory() && st.uid === uid && (st.mode & 0o022) === 0;
  } catch { return false; }
}

function candidates(folder: string): string[] {
  const uid = typeof process.getuid === 'function' ? process.getuid() : 0;
  const out: string[] = [];
  if (process.env.CACHE_DIRECTORY) out.push(path.join(process.env.CACHE_DIRECTORY.split(':')[0]!, folder));
  if (process.env.XDG_RUNTIME_DIR) out.push(path.join(process.env.XDG_RUNTIME_DIR, folder));
  out.push(path.join(os.tmpdir(), `${folder}-${uid}`));
  return out;
}

/** Writes each asset unless a file with the right hash is already there; temp file + rename so a crash mid-write never leaves a short file under the real name. */
function extractTo(sea: SeaApi, dir: string, manifest: Manifest): void {
  for (const [key, hash] of Object.entries(manifest.files)) {
    const dest = path.join(dir, ...key.split('/'));
    let ok = false;
    try { ok = sha256(fs.readFileSync(dest)) === hash; } catch { /* missing */ }
    if (ok) continue;
    const data = new Uint8Array(sea.getAsset(key));
    if (sha256(data) !== hash) throw new Error(`single binary is corrupt: asset ${key} does not match its build-time hash`);
    fs.mkdirSync(path.dirname(dest), { recursive: true, mode: 0o700 });
    const tmp = `${dest}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, data, { mode: key.startsWith('native/') ? 0o700 : 0o600 });
    fs.renameSync(tmp, dest);
  }
}

/** Called first thing by src/sea-main.ts. No-op outside a single binary. */
export function bootstrapSea(): void {
  const sea = seaApi();
  if (!sea || extracted) return;
  const manifest = JSON.parse(Buffer.from(sea.getAsset('manifest.json')).toString('utf8')) as Manifest;
  const tag = sha256(Buffer.from(JSON.stringify(manifest.files))).slice(0, 12);
  const folder = `sdv-agent-${manifest.version}-${tag}`;
  const errors: string[] = [];
  for (const dir of candidates(folder)) {
    if (!ownedPrivateDir(dir)) { errors.push(`${dir}: not a private folder of ours`); continue; }
    try {
      extractTo(sea, dir, manifest);
      extracted = dir;
      setResourceRoot(path.join(dir, 'res'));
      return;
    } catch (e) { errors.push(`${dir}: ${(e as Error).message}`); }
  }
  throw new Error(`cannot extract the single binary's assets: ${errors.join('; ')}`);
}

/**
 * Replaces node-pty's loadNativeModule in the single binary (scripts/build-sea.mjs redirects it here): the SEA's
 * require() only knows built-in modules, so the addon is loaded with process.dlopen from the extracted file.
 */
export function loadNativeModule(name: string): { dir: string; module: unknown } {
  if (!extracted) bootstrapSea();
  if (!extracted) throw new Error(`native module ${name}: not running as a single binary`);
  const file = path.join(extracted, 'native', `${name}.node`);
  const mod = { exports: {} as unknown };
  process.dlopen(mod, file);
  return { dir: path.dirname(file), module: mod.exports };
}
