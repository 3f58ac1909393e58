#!/usr/bin/env node
// `npm test [-- tap args]`: type-checks (always), bundles when stale, sets up the real peers (scripts/test-peers.sh),
// runs tap, and then checks that the suite left nothing behind. tap runs with its own temp folder (TMPDIR) and a
// marker in the environment of everything it starts; after it:
//   - a process that carries the marker, or whose cwd or command line is inside that temp folder, outlived the suite;
//   - an entry left in that temp folder was not removed by the test that made it;
//   - a cgroup an agent of the run made (each agent's is written to a ledger file by the harness) is still there.
// Each is reported by name, then cleaned up, and fails the run. The check is counted as one more test in the closing
// "# { total, pass, fail }" line that .ci/run reads.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const say = (line) => process.stderr.write(`npm test: ${line}\n`);

function step(what, cmd, args) {
  say(what);
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) { say(`${what.replace(/ …$/, '')}: failed`); process.exit(r.status ?? 1); }
}

const t0 = Date.now();
step('type-checking src/, test/, bench/ …', process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '--noEmit', '-p', root]);
step('bundling dist/sdv-agent.js if stale …', process.execPath, [path.join(root, 'scripts', 'build.mjs'), '--if-stale', '--no-check']);
step('setting up the test peers (scripts/test-peers.sh) …', 'bash', [path.join(root, 'scripts', 'test-peers.sh')]);
say(`ready to test in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

// python3 as the interpreter itself rather than a version manager's shim in front of it: pyenv's shim is a bash
// script that costs about 0.4 s of CPU per start (the interpreter alone about 0.1 s), and the suite starts python
// several hundred times (apps, runs, fuzzed commands, the tests' own clients). The same interpreter the shim picks.
function interpreterFirst(pathVar) {
  const r = spawnSync('python3', ['-c', 'import sys; print(sys.executable)'], { cwd: root, encoding: 'utf8' });
  const exe = r.status === 0 ? r.stdout.trim() : '';
  if (!path.isAbsolute(exe)) return pathVar;
  const dir = path.dirname(exe);
  const first = (pathVar ?? '').split(path.delimiter).find((d) => d && fs.existsSync(path.join(d, 'python3')));
  if (!first || first === dir) return pathVar;
  say(`python3 is ${exe} (put first on PATH instead of ${path.join(first, 'python3')})`);
  return `${dir}${path.delimiter}${pathVar}`;
}

const marker = randomBytes(8).toString('hex');
const runTmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sdv-test-'));
// Others may pass through (not list), as through /tmp: the apps.runAs tests give the run user a folder in here.
fs.chmodSync(runTmp, 0o711);
// Beside the temp folder, not in it: the cgroup of every agent the run started (test/helpers/agent.ts appends them).
const ledger = `${runTmp}.cgroups`;
fs.writeFileSync(ledger, '');
const tapBin = path.join(root, 'node_modules', '.bin', 'tap');
// tap's own reporter where a person watches; TAP (with the summary line read below) where a program does.
const reporter = process.stdout.isTTY ? ['--reporter=base'] : [];
const tap = spawn(tapBin, [...reporter, ...process.argv.slice(2)], {
  cwd: root,
  env: { ...process.env, PATH: interpreterFirst(process.env.PATH), TMPDIR: runTmp, SDV_TEST_RUN: marker, SDV_TEST_CGROUP_LEDGER: ledger },
  stdio: ['inherit', 'pipe', 'inherit'],
});
let summary = null;
let tail = '';
tap.stdout.on('data', (chunk) => {
  process.stdout.write(chunk);
  tail = (tail + chunk.toString('utf8')).slice(-4096);
  const m = [...tail.matchAll(/^# \{ total: (\d+), pass: (\d+)(?:, fail: (\d+))?(?:, skip: (\d+))?/gm)].pop();
  if (m) summary = { total: +m[1], pass: +m[2], fail: +(m[3] ?? 0), skip: m[4] };
});
const forward = (sig) => tap.kill(sig);
process.on('SIGINT', forward);
process.on('SIGTERM', forward);
const status = await new Promise((resolve) => tap.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0))));

// --- what outlived the suite ---
const leftovers = [];
const self = new Set([process.pid, process.ppid]);
for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number)) {
  if (self.has(pid)) continue;
  const read = (f) => { try { return fs.readFileSync(`/proc/${pid}/${f}`, 'latin1'); } catch { return ''; } };
  let cwd = '';
  try { cwd = fs.readlinkSync(`/proc/${pid}/cwd`); } catch { /* gone, or not ours to read */ }
  const cmdline = read('cmdline').replace(/\0/g, ' ').trim();
  if (read('environ').includes(`SDV_TEST_RUN=${marker}`) || cwd.startsWith(runTmp) || cmdline.includes(runTmp)) {
    leftovers.push(`process ${pid}: ${cmdline.slice(0, 160)}`);
    try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
  }
}
// The test runner's own caches (tsx, its V8 compile cache) land here too; they are not a test's leftovers.
const RUNNER_CACHES = /^(tsx|v8-compile-cache)-\d+$/;
for (const name of fs.readdirSync(runTmp)) if (!RUNNER_CACHES.test(name)) leftovers.push(`temp entry ${name}`);
fs.rmSync(runTmp, { recursive: true, force: true, maxRetries: 5 });
// "<cgroup>\t<the test file whose agent made it>" per line (cgroup v2 trees, and the v1 folders of apps.limits)
const cgroups = new Map(fs.readFileSync(ledger, 'utf8').split('\n').filter((l) => l.includes('sdv-agent-')).map((l) => l.split('\t')));
fs.rmSync(ledger, { force: true });
for (const [dir, testFile] of cgroups) {
  if (!fs.existsSync(dir)) continue;
  leftovers.push(`cgroup ${dir} (an agent of ${testFile})`);
  spawnSync('sh', ['-c', `for d in $(find "$1" -depth -type d); do echo 1 > "$d/cgroup.kill" 2>/dev/null || xargs -r kill -9 < "$d/cgroup.procs" 2>/dev/null; sleep 0.2; rmdir "$d" 2>/dev/null; done`, 'sh', dir]);
}

const shown = leftovers.slice(0, 30).map((l) => `#   ${l}`).join('\n');
if (leftovers.length) {
  process.stdout.write(`not ok - the suite left ${leftovers.length} thing(s) behind (now removed):\n${shown}${leftovers.length > 30 ? `\n#   … and ${leftovers.length - 30} more` : ''}\n`);
} else {
  process.stdout.write('ok - nothing outlived the suite (no process, temp entry or cgroup of the run)\n');
}
if (summary) {
  const fail = summary.fail + (leftovers.length ? 1 : 0);
  process.stdout.write(`# { total: ${summary.total + 1}, pass: ${summary.pass + (leftovers.length ? 0 : 1)}, fail: ${fail}${summary.skip ? `, skip: ${summary.skip}` : ''} }\n`);
}
say(`done in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
process.exit(status || (leftovers.length ? 1 : 0));
