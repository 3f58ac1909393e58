#!/usr/bin/env node
// Type-checks and bundles src/main.ts into dist/sdv-agent.js. With --if-stale, does nothing when the bundle is newer
// than every source file (npm start and npm test call it that way); --no-check skips the type-check (npm test runs
// its own, always).
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(root, 'dist', 'sdv-agent.js');
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));

function newest(dir) {
  let t = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : fs.statSync(p).mtimeMs);
  }
  return t;
}

if (process.argv.includes('--if-stale') && fs.existsSync(out)) {
  const src = Math.max(newest(path.join(root, 'src')), newest(path.join(root, 'proto')), fs.statSync(path.join(root, 'package.json')).mtimeMs);
  if (fs.statSync(out).mtimeMs >= src) process.exit(0);
}

const t0 = Date.now();
const check = !process.argv.includes('--no-check');
// The protos as JSON the bundle embeds (src/signals/protos.ts says why); rewritten only when proto/ changed.
execFileSync(process.execPath, [path.join(root, 'scripts', 'gen-protos.mjs')], { stdio: 'inherit' });
// Said before the work: a first build (the type-check above all) can take most of a minute on a small box.
process.stderr.write(`building ${path.relative(root, out)} (${check ? 'type-check and bundle' : 'bundle'}) …\n`);
if (check) {
  execFileSync(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '--noEmit', '-p', root], { stdio: 'inherit' });
}
await build({
  entryPoints: [path.join(root, 'src', 'main.ts')],
  outfile: out,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: false,
  legalComments: 'none',
  // Whitespace and comments out, identifiers kept (stack traces still name every function). The source stays in the
  // heap as one string for the process's life: one-byte (ASCII) and without comments it is 1.4 MB instead of 4.2 MB
  // (a single non-Latin-1 character in a comment made V8 keep all of it two-byte). No keepNames: it wraps every
  // closure in a __name() call, and the hot paths that make closures per message (MQTT QoS 1) paid 80 % more CPU.
  charset: 'ascii',
  minifyWhitespace: true,
  minifySyntax: true,
  // node-pty is a native addon; the single binary loads it from its assets (scripts/build-binary.sh).
  external: ['node-pty'],
  define: { __SDV_AGENT_VERSION__: JSON.stringify(pkg.version) },
  banner: { js: '#!/usr/bin/env node' },
  logLevel: 'warning',
});
fs.chmodSync(out, 0o755);
process.stderr.write(`built ${path.relative(root, out)} (${(fs.statSync(out).size / 1024).toFixed(0)} KiB) in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
