// Shared pieces of the benchmarks: process figures read from /proc, statistics, a skip signal for features that are not
// in this build, and a plain spawner for the agent binary (test/helpers/agent.ts only runs dist/sdv-agent.js).
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { ROOT, tmpDir } from '../test/helpers/agent';
import { Cleanup } from '../test/helpers/scope';

/** What one run of a scenario started (agents, peers, temp folders): bench/run.ts ends it after every run. */
export const runScope = new Cleanup();

/** The single binary the scenarios measure: dist/sdv-agent-linux-<arch>, or BENCH_BINARY (an A/B against another build). */
export const BINARY = process.env.BENCH_BINARY || path.join(ROOT, 'dist', `sdv-agent-linux-${process.arch === 'arm64' ? 'arm64' : 'x64'}`);
export const CLK_TCK = 100; // USER_HZ on Linux: /proc/<pid>/stat times are in 1/100 s

/**
 * BENCH_AGENT_NODE_OPTIONS: Node/V8 flags for the agents the scenarios start (an A/B of a flag; the baselines beside
 * them run without). Given as arguments, never as NODE_OPTIONS: the tests' startAgent takes that out of the agent's
 * environment (tap's instrumentation travels in it), and the single binary reads none.
 */
export const AGENT_NODE_OPTIONS = process.env.BENCH_AGENT_NODE_OPTIONS?.trim() || undefined;

/** The command line of the js bundle on `node`, or of the binary, with AGENT_NODE_OPTIONS. */
export function agentArgv(bundleOrBinary: { node: string; bundle: string } | { binary: string }): string[] {
  const flags = AGENT_NODE_OPTIONS?.split(/\s+/) ?? [];
  if ('binary' in bundleOrBinary) return [bundleOrBinary.binary, ...(flags.length ? [`--node-options=${flags.join(' ')}`] : [])];
  return [bundleOrBinary.node, ...flags, bundleOrBinary.bundle];
}

/** Thrown by a scenario when the feature it measures is not in this build: reported as "skipped: <reason>". */
export class Skip extends Error {}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** utime+stime of one process, in seconds (children not included: apps are not the agent's cost). */
export function cpuSeconds(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / CLK_TCK; // fields 14 and 15 of stat, counted after "(comm) "
}

export function rssMB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** A process's memory from /proc/<pid>/smaps_rollup, in MB: resident, proportional, anonymous and file-backed. */
export interface MemoryFigures { rss: number; pss: number; anon: number; file: number }
export function smapsMB(pid: number): MemoryFigures {
  const text = fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const kB = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN);
  const rss = kB('Rss') / 1024;
  const anon = kB('Anonymous') / 1024;
  return { rss, pss: kB('Pss') / 1024, anon, file: rss - anon };
}

/**
 * The official Node of the binary's version that scripts/build-binary.sh unpacked into .cache/node (the same-version
 * baseline of the binary), or null when the binary was not built here.
 */
export function binaryNode(): { node: string; version: string } | null {
  const dir = path.join(ROOT, '.cache', 'node');
  const arch = process.arch === 'arm64' ? 'arm64' : 'x64';
  const found = fs.existsSync(dir) ? fs.readdirSync(dir).filter((d) => d.startsWith(`${arch}-`)).sort().pop() : undefined;
  const node = found ? path.join(dir, found, 'package', 'bin', 'node') : '';
  return found && fs.existsSync(node) ? { node, version: found.slice(arch.length + 1) } : null;
}

/** Agent CPU over a window, as % of one core. */
export function cpuMeter(pid: number): () => { cpuS: number; cpuPct: number; wallS: number } {
  const c0 = cpuSeconds(pid);
  const t0 = performance.now();
  return () => {
    const cpuS = cpuSeconds(pid) - c0;
    const wallS = (performance.now() - t0) / 1000;
    return { cpuS, cpuPct: (cpuS / wallS) * 100, wallS };
  };
}

export function quantile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
}

export const round = (v: number, digits = 1) => (Number.isFinite(v) ? Math.round(v * 10 ** digits) / 10 ** digits : v);

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const p = (s.address() as net.AddressInfo).port; s.close(() => resolve(p)); });
  });
}

export interface Spawned {
  proc: ChildProcess; healthUrl: string; apiPort: number; exited: Promise<void>; stop(): Promise<void>;
  /** The last OUTPUT_TAIL characters the agent wrote (stdout and stderr: its log at `warn`, and a fatal error). */
  outputTail(): string;
}
const OUTPUT_TAIL = 4096;

/** Starts an agent executable (node + dist/sdv-agent.js, or the binary) on a known health port, without waiting. */
export async function spawnAgent(argv: string[], config: Record<string, unknown> = {}, keepDir?: string): Promise<Spawned> {
  // keepDir: start in that folder (a restart: the agent finds its data from before) and leave it for the caller.
  const dir = keepDir ?? tmpDir(runScope, 'sdv-bench-');
  fs.rmSync(path.join(dir, 'run'), { recursive: true, force: true });
  const healthPort = await freePort();
  const apiPort = await freePort();
  const cfg = { runtime: { name: 'BenchBox', dataDir: path.join(dir, 'data') }, api: { port: apiPort }, health: { port: healthPort }, mqtt: { address: '127.0.0.1:0' }, log: { level: 'warn' }, ...config };
  const file = path.join(dir, 'config.yaml');
  fs.writeFileSync(file, stringify(cfg));
  const run = path.join(dir, 'run');
  fs.mkdirSync(run, { mode: 0o700 });
  const proc = spawn(argv[0]!, [...argv.slice(1), '--config', file], { env: { ...process.env, SDV_AGENT_CONFIG: '', XDG_RUNTIME_DIR: run }, stdio: ['ignore', 'pipe', 'pipe'] });
  // Kept so that an agent that dies says why in the bench's error; bounded, as the agent may log for minutes.
  let tail = '';
  const keep = (d: Buffer) => { tail = (tail + d.toString()).slice(-OUTPUT_TAIL); };
  proc.stdout!.on('data', keep);
  proc.stderr!.on('data', keep);
  // 'close': the pipes are drained too, so the tail holds the last words of an agent that exited.
  const exited = new Promise<void>((resolve) => proc.once('close', () => resolve()));
  return {
    proc, healthUrl: `http://127.0.0.1:${healthPort}/health`, apiPort, exited, outputTail: () => tail,
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
      if (!keepDir) fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Polls /health every 2 ms until it answers 200; rejects if the process exits first or after timeoutMs. */
export async function waitHealthy(s: Spawned, timeoutMs = 30_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  let dead = false;
  void s.exited.then(() => { dead = true; });
  while (performance.now() < deadline) {
    if (dead) throw new Error(`agent exited (${s.proc.exitCode ?? s.proc.signalCode}) before /health answered; its last output: ${s.outputTail().trim().slice(-1500) || '(none)'}`);
    try {
      const r = await fetch(s.healthUrl);
      await r.arrayBuffer();
      if (r.status === 200) return;
    } catch { /* not listening yet */ }
    await sleep(2);
  }
  throw new Error(`/health not 200 within ${timeoutMs} ms`);
}

/**
 * spawnAgent, then waitHealthy; the time from that spawn to /health 200. The health and API ports are picked free and
 * closed before the agent binds them, and on a busy box another process's listen or outgoing connection can take one
 * meanwhile: an agent that exits for EADDRINUSE is started again on new ports (up to 3 times; a fresh start on a
 * fresh dataDir again), so the figure is never lost to the bench's own race. Any other failure is thrown.
 */
export async function startHealthy(argv: string[], config: Record<string, unknown>, keepDir?: string, opts: { fresh?: boolean } = {}): Promise<{ agent: Spawned; ms: number }> {
  for (let attempt = 1; ; attempt++) {
    if (keepDir && opts.fresh) fs.rmSync(path.join(keepDir, 'data'), { recursive: true, force: true });
    const t0 = performance.now();
    const agent = await spawnAgent(argv, config, keepDir);
    try {
      await waitHealthy(agent, 60_000);
      return { agent, ms: performance.now() - t0 };
    } catch (e) {
      await agent.stop();
      if (attempt < 3 && /EADDRINUSE/.test(agent.outputTail())) { process.stderr.write(`bench: a picked port was taken before the agent bound it (EADDRINUSE); starting again\n`); continue; }
      throw e;
    }
  }
}

export function machine(): Record<string, unknown> {
  const cpu = /model name\s*:\s*(.*)/.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? os.cpus()[0]?.model ?? 'unknown';
  return { cpu, cores: os.cpus().length, memGB: round(os.totalmem() / 2 ** 30), node: process.version, kernel: os.release(), arch: process.arch };
}

/** A reply that says the command is not built: the local API answers an error with an unknown-type/unavailable code. */
export function unavailable(reply: Record<string, unknown>): string | null {
  if (reply.type !== 'error') return null;
  const text = JSON.stringify(reply);
  if (/unknown|not available|UNAVAILABLE|unsupported/i.test(text)) return text.slice(0, 200);
  return null;
}
