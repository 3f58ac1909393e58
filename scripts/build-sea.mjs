#!/usr/bin/env node
// Prepares a Node single-executable application (SEA) blob input for scripts/build-binary.sh:
//   node scripts/build-sea.mjs --addon <pty.node> --out <dir>
// writes <dir>/sdv-agent-sea.js (src/sea-main.ts bundled WITH node-pty's JavaScript, whose native require is
// redirected to src/sea.ts because a SEA's require() only loads built-in modules), <dir>/manifest.json (asset key →
// sha256, checked by src/sea.ts before use) and <dir>/sea-config.json listing every asset: the addon and all files
// under resources/ (enumerated now, so files other areas add travel along without editing this script). The protos
// are in the bundle itself (src/signals/proto-descriptors.json).
// The normal dist/sdv-agent.js (scripts/build.mjs, node-pty external) is not touched.
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));

function arg(name) {
  const i = process.argv.indexOf(name);
  if (i < 0 || !process.argv[i + 1]) { process.stderr.write(`build-sea: ${name} is required\n`); process.exit(2); }
  return path.resolve(process.argv[i + 1]);
}
const addon = arg('--addon');
const outDir = arg('--out');
const arch = process.argv.includes('--arch') ? process.argv[process.argv.indexOf('--arch') + 1] : process.arch;
// V8 code cache is only valid for the exact Node binary that made it: keep it for native builds, skip when cross-building.
const useCodeCache = process.argv.includes('--code-cache');
// --entry: another entry point (a check of the SEA machinery itself); default src/sea-main.ts.
const entry = process.argv.includes('--entry') ? arg('--entry') : path.join(root, 'src', 'sea-main.ts');
fs.mkdirSync(outDir, { recursive: true });

const seaJs = path.join(outDir, 'sdv-agent-sea.js');
const seaTs = path.join(root, 'src', 'sea.ts');

/** node-pty/lib/utils.js → same exports, but loadNativeModule comes from src/sea.ts (process.dlopen of the extracted addon). */
const redirectPtyNative = {
  name: 'sea-node-pty-native',
  setup(b) {
    b.onLoad({ filter: /node-pty[\\/]lib[\\/]utils\.js$/ }, () => ({
      loader: 'js',
      resolveDir: path.dirname(seaTs),
      contents: `"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.assign = function assign(target, ...sources) { sources.forEach((s) => Object.keys(s).forEach((k) => { target[k] = s[k]; })); return target; };
exports.loadNativeModule = function loadNativeModule(name) { return require(${JSON.stringify(seaTs)}).loadNativeModule(name); };
`,
    }));
  },
};

await build({
  entryPoints: [entry],
  outfile: seaJs,
  bundle: true,
  platform: 'node',
  target: 'node24',
  format: 'cjs',
  // As scripts/build.mjs (see there why): whitespace and comments out, identifiers kept, ASCII.
  minifyWhitespace: true,
  minifySyntax: true,
  charset: 'ascii',
  legalComments: 'none',
  define: { __SDV_AGENT_VERSION__: JSON.stringify(pkg.version) },
  plugins: [redirectPtyNative],
  nodePaths: [path.join(root, 'node_modules')],
  logLevel: 'warning',
});

function walk(dir) {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? walk(p) : e.isFile() ? [p] : [];
  });
}

const assets = { 'native/pty.node': addon };
for (const top of ['resources']) {
  for (const file of walk(path.join(root, top))) assets[`res/${path.relative(root, file).split(path.sep).join('/')}`] = file;
}
const files = {};
for (const [key, file] of Object.entries(assets)) files[key] = createHash('sha256').update(fs.readFileSync(file)).digest('hex');
const manifestPath = path.join(outDir, 'manifest.json');
fs.writeFileSync(manifestPath, JSON.stringify({ version: pkg.version, arch, files }, null, 1));
assets['manifest.json'] = manifestPath;

// The V8 heap a box runs with (scripts/heap-flags.json; docs/operations.md, "Heap limit", and bench/README.md have the
// figures that chose it): V8 sizes its old generation from the machine's memory (~4 GB on a 24 GiB host), not for a
// 1-2 GB ECU. The systemd unit states the same flags in its ExecStart (`--node-options=`, which execArgvExtension
// 'cli' lets override these; test/install.test.ts keeps the two in step). 'cli' also means the binary reads no
// NODE_OPTIONS: nothing in a box's environment changes its V8.
const heap = JSON.parse(fs.readFileSync(path.join(root, 'scripts', 'heap-flags.json'), 'utf8'));
const HEAP_FLAGS = [`--max-old-space-size=${heap.maxOldSpaceSizeMB}`];
if (heap.maxSemiSpaceSizeMB) HEAP_FLAGS.push(`--max-semi-space-size=${heap.maxSemiSpaceSizeMB}`);

fs.writeFileSync(path.join(outDir, 'sea-config.json'), JSON.stringify({
  main: seaJs,
  output: path.join(outDir, 'sea-prep.blob'),
  disableExperimentalSEAWarning: true,
  useSnapshot: false,
  useCodeCache,
  execArgv: HEAP_FLAGS,
  execArgvExtension: 'cli',
  assets,
}, null, 1));
process.stderr.write(`build-sea: ${path.relative(root, seaJs)} (${(fs.statSync(seaJs).size / 1024).toFixed(0)} KiB), ${Object.keys(assets).length} assets\n`);
