// `npm run bench [-- <name> ...]`: runs each scenario (a warm-up where cheap, then its runs), prints a table of
// median [min..max] per metric and writes bench/out/latest.json. A scenario whose part is missing reports "skipped".
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BINARY, Skip, machine, round, runScope } from './lib';
import { SCENARIOS, type Metrics } from './scenarios';

interface Aggregate { median: number; min: number; max: number; runs: number }
interface Result { name: string; about: string; status: 'ok' | 'skipped' | 'failed'; reason?: string; seconds: number; metrics: Record<string, Aggregate | string> }

function aggregate(runs: Metrics[]): Record<string, Aggregate | string> {
  const out: Record<string, Aggregate | string> = {};
  for (const key of new Set(runs.flatMap((r) => Object.keys(r)))) {
    const vals = runs.map((r) => r[key]).filter((v) => v !== undefined);
    const nums = vals.filter((v): v is number => typeof v === 'number' && Number.isFinite(v)).sort((a, b) => a - b);
    if (nums.length === 0) { out[key] = String(vals[vals.length - 1]); continue; }
    const mid = Math.floor(nums.length / 2);
    const median = nums.length % 2 ? nums[mid]! : (nums[mid - 1]! + nums[mid]!) / 2;
    out[key] = { median: round(median, 2), min: nums[0]!, max: nums[nums.length - 1]!, runs: nums.length };
  }
  return out;
}

const fmt = (a: Aggregate | string) => (typeof a === 'string' ? a : a.runs > 1 ? `${a.median} [${a.min}..${a.max}]` : `${a.median}`);

async function main(): Promise<void> {
  const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
  const unknown = wanted.filter((w) => !SCENARIOS.some((s) => s.name === w));
  if (unknown.length) { console.error(`unknown scenario(s): ${unknown.join(', ')}; known: ${SCENARIOS.map((s) => s.name).join(', ')}`); process.exit(2); }
  const selected = SCENARIOS.filter((x) => wanted.length === 0 || wanted.includes(x.name));
  // The peers some scenarios drive, set up as `npm test` does (the same script, SDV_TEST_VELOCITAS_DIR and all; a
  // second run finds them and returns at once): a fresh clone runs every scenario, none skipped for a missing peer.
  const needPeers = selected.filter((x) => x.peers).map((x) => x.name);
  if (needPeers.length) {
    process.stderr.write(`bench: setting up the test peers for ${needPeers.join(', ')} (scripts/test-peers.sh) …\n`);
    const r = spawnSync('bash', [path.join(__dirname, '..', 'scripts', 'test-peers.sh')], { stdio: ['ignore', 2, 2] });
    if (r.status !== 0) { console.error('bench: scripts/test-peers.sh failed (above): the scenarios that need its peers cannot run'); process.exit(1); }
  }
  // The single binary some scenarios measure beside the bundle: a fresh clone has none, so it is built (what
  // scripts/build-binary.sh builds for this machine); BENCH_BINARY names another build and is taken as it is.
  if (selected.some((x) => x.binary) && !process.env.BENCH_BINARY && !fs.existsSync(BINARY)) {
    process.stderr.write(`bench: building ${path.relative(process.cwd(), BINARY)} for ${selected.filter((x) => x.binary).map((x) => x.name).join(', ')} (scripts/build-binary.sh) …\n`);
    const r = spawnSync('bash', [path.join(__dirname, '..', 'scripts', 'build-binary.sh'), '--arch', process.arch === 'arm64' ? 'arm64' : 'x64'], { stdio: ['ignore', 2, 2] });
    if (r.status !== 0) { console.error('bench: scripts/build-binary.sh failed (above): the binary cannot be measured'); process.exit(1); }
  }
  const runsOverride = process.env.BENCH_RUNS ? Number(process.env.BENCH_RUNS) : undefined;
  const started = Date.now();
  const results: Result[] = [];
  for (const s of selected) {
    const t0 = Date.now();
    process.stderr.write(`bench: ${s.name} …\n`);
    const runs: Metrics[] = [];
    let status: Result['status'] = 'ok';
    let reason: string | undefined;
    try {
      if (s.warmup) { try { await s.run(); } finally { await runScope.run(); } }
      for (let i = 0; i < (runsOverride ?? s.runs); i++) { try { runs.push(await s.run()); } finally { await runScope.run(); } }
    } catch (e) {
      status = e instanceof Skip ? 'skipped' : 'failed';
      reason = e instanceof Error ? e.message : String(e);
    }
    const r: Result = { name: s.name, about: s.about, status, reason, seconds: round((Date.now() - t0) / 1000), metrics: aggregate(runs) };
    results.push(r);
    process.stderr.write(`bench: ${s.name} ${status}${reason ? `: ${reason}` : ''} (${r.seconds} s)\n`);
  }
  const report = { at: new Date().toISOString(), machine: machine(), totalSeconds: round((Date.now() - started) / 1000), results };
  const outDir = path.join(__dirname, 'out');
  fs.mkdirSync(outDir, { recursive: true });
  fs.writeFileSync(path.join(outDir, 'latest.json'), JSON.stringify(report, null, 2) + '\n');

  const m = report.machine;
  console.log(`\nsdv-agent bench — ${m.cpu}, ${m.cores} cores, node ${m.node}, ${report.totalSeconds} s total\n`);
  const rows: string[][] = [['scenario', 'metric', 'median [min..max]']];
  for (const r of results) {
    if (r.status !== 'ok') { rows.push([r.name, r.status, r.reason ?? '']); continue; }
    for (const [k, v] of Object.entries(r.metrics)) rows.push([r.name, k, fmt(v)]);
  }
  const w = [0, 1].map((i) => Math.max(...rows.map((row) => row[i]!.length)));
  for (const row of rows) console.log(`${row[0]!.padEnd(w[0]!)}  ${row[1]!.padEnd(w[1]!)}  ${row[2]}`);
  console.log(`\nJSON: ${path.relative(process.cwd(), path.join(outDir, 'latest.json'))}`);
  if (results.some((r) => r.status === 'failed')) process.exitCode = 1;
}

main().catch((e) => { console.error(e); process.exit(1); });
