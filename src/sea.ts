// Single-binary bootstrap. When the agent runs as a Node single-executable application (SEA, built by
// scripts/build-binary.sh) nothing but the binary is on disk: node-pty's native addon and the files the agent reads
// at run time (resources/) travel inside as SEA assets. They are written once to a per-version cache folder,
// compared byte for byte with the binary's own asset on every start (a tampered or half-written file is replaced,
// never loaded), and then used from there: the addon through process.dlopen, the rest via setResourceRoot(). The
// SHA-256 of each asset, recorded at build time, names the folder, so a new build never reads an older one's files.
// (No digest of a file is made at a start: node:crypto stays unloaded, src/core/crypto-module.ts.)
//
// Where the folder lives, first usable wins: $CACHE_DIRECTORY (systemd CacheDirectory=, on /var/cache which allows
// mapping code — /run and /tmp are often mounted noexec, and dlopen needs exec), $XDG_RUNTIME_DIR, os.tmpdir().
// The folder must be ours (owner = our uid, not writable by group/others); otherwise the next candidate is used,
// so another user cannot plant a library in a shared /tmp for us to load. It must also allow mapping code: the addon
// is loaded right after extraction, and a folder where that fails (a noexec mount) is passed over too. When none
// works the start ends with one line saying why for each folder and what to set, never a stack trace.
import fs = require('node:fs');
import os = require('node:os');
import path = require('node:path');
import { sha256Hex } from './core/sha256';
import { setResourceRoot } from './resources';

/** Written by scripts/build-sea.mjs as the asset "manifest.json". */
interface Manifest {
  version: string;
  arch: string;
  /** asset key → sha256 hex (they name the folder). Keys: "native/pty.node", "res/<path relative to the repo>". */
  files: Record<string, string>;
}

interface SeaApi {
  isSea(): boolean;
  getAsset(key: string): ArrayBuffer;
  /** The asset in place, no copy (Node 20.12/21.7 on; every Node the binary embeds has it). */
  getRawAsset?(key: string): ArrayBuffer;
}

let extracted: string | null = null;
/** node-pty's addon, loaded by bootstrapSea from the extracted folder. */
let ptyAddon: unknown = null;

function seaApi(): SeaApi | null {
  try {
    // node:sea exists from Node 20.12/21.7; older or non-SEA runs have nothing to do here.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const sea = require('node:sea') as SeaApi;
    return sea.isSea() ? sea : null;
  } catch { return null; }
}

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

/** Writes each asset unless a file with the same bytes is already there; temp file + rename so a crash mid-write never leaves a short file under the real name. */
function extractTo(sea: SeaApi, dir: string, manifest: Manifest): void {
  for (const key of Object.keys(manifest.files)) {
    const dest = path.join(dir, ...key.split('/'));
    const asset = Buffer.from(sea.getRawAsset ? sea.getRawAsset(key) : sea.getAsset(key));
    let ok = false;
    try { ok = asset.equals(fs.readFileSync(dest)); } catch { /* missing */ }
    if (ok) continue;
    fs.mkdirSync(path.dirname(dest), { recursive: true, mode: 0o700 });
    const tmp = `${dest}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, asset, { mode: key.startsWith('native/') ? 0o700 : 0o600 });
    fs.renameSync(tmp, dest);
  }
}

/** Called first thing by src/sea-main.ts. No-op outside a single binary. */
export function bootstrapSea(): void {
  const sea = seaApi();
  if (!sea || extracted) return;
  const manifest = JSON.parse(Buffer.from(sea.getAsset('manifest.json')).toString('utf8')) as Manifest;
  const tag = sha256Hex(JSON.stringify(manifest.files)).slice(0, 12);
  const folder = `sdv-agent-${manifest.version}-${tag}`;
  const errors: string[] = [];
  for (const dir of candidates(folder)) {
    if (!ownedPrivateDir(dir)) { errors.push(`${dir}: not a private folder of ours`); continue; }
    try {
      extractTo(sea, dir, manifest);
    } catch (e) { errors.push(`${dir}: ${(e as Error).message}`); continue; }
    try {
      ptyAddon = dlopen(path.join(dir, 'native', 'pty.node'));
    } catch (e) {
      const why = mountedNoexec(dir) ? 'its file system is mounted noexec' : firstLine((e as Error).message);
      errors.push(`${dir}: cannot load code from there (${why})`);
      continue;
    }
    extracted = dir;
    const digests: Record<string, string> = {};
    for (const [key, hash] of Object.entries(manifest.files)) if (key.startsWith('res/')) digests[key.slice(4)] = hash;
    setResourceRoot(path.join(dir, 'res'), digests);
    return;
  }
  throw new Error(`cannot use the single binary's assets: ${errors.join('; ')}. Set CACHE_DIRECTORY (or XDG_RUNTIME_DIR, or TMPDIR) to a private folder on a file system that allows executing code (not mounted noexec)`);
}

function dlopen(file: string): unknown {
  const mod = { exports: {} as unknown };
  process.dlopen(mod, file);
  return mod.exports;
}

function firstLine(text: string): string { return text.split('\n')[0]!; }

/** True when the mount holding dir has the noexec option (from /proc/self/mountinfo: the longest matching mount point). */
function mountedNoexec(dir: string): boolean {
  let real: string;
  let info: string;
  try { real = fs.realpathSync(dir); info = fs.readFileSync('/proc/self/mountinfo', 'utf8'); } catch { return false; }
  let best = '';
  let noexec = false;
  for (const line of info.split('\n')) {
    const f = line.split(' ');
    if (f.length < 6) continue;
    const point = f[4]!.replace(/\\040/g, ' ');
    const inside = point === '/' || real === point || real.startsWith(point + '/');
    // Later lines are mounted over earlier ones at the same point: >= keeps the last.
    if (inside && point.length >= best.length) { best = point; noexec = f[5]!.split(',').includes('noexec'); }
  }
  return noexec;
}

/**
 * Replaces node-pty's loadNativeModule in the single binary (scripts/build-sea.mjs redirects it here): the SEA's
 * require() only knows built-in modules, so the addon is loaded with process.dlopen from the extracted file.
 */
export function loadNativeModule(name: string): { dir: string; module: unknown } {
  if (!extracted) bootstrapSea();
  if (!extracted) throw new Error(`native module ${name}: not running as a single binary`);
  const file = path.join(extracted, 'native', `${name}.node`);
  return { dir: path.dirname(file), module: name === 'pty' && ptyAddon ? ptyAddon : dlopen(file) };
}
