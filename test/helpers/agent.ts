// Starts the real bundled agent (dist/sdv-agent.js) as a child process on free ports, with its own dataDir,
// and gives tests real sockets to it. No module of the project is imported or mocked here.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { stringify } from 'yaml';
import WebSocket from 'ws';
import { ceiling, removeTree, stopChild, tmpDir, trackChild, type Scope } from './scope';

export { CEILING_MS, ceiling, eventually, tmpDir, within, type Scope } from './scope';

export const ROOT = path.resolve(__dirname, '..', '..');
/** The bundle under test; SDV_AGENT_TEST_BUNDLE points the tests at another one (e.g. main's, to see a test fail there). */
export const AGENT_JS = process.env.SDV_AGENT_TEST_BUNDLE || path.join(ROOT, 'dist', 'sdv-agent.js');

/**
 * A test of the default bundle must not exercise code older than src/: the first start refuses a bundle older than
 * what scripts/build.mjs --if-stale rebuilds it for (any file under src/, package.json), so npm test, which builds
 * first, never refuses; a single `npx tap test/…` after an edit needs `npm run build`. proto/ is read at run time.
 */
let freshChecked = false;
function refuseStaleBundle(): void {
  if (freshChecked || process.env.SDV_AGENT_TEST_BUNDLE) return;
  const newest = (dir: string): { at: number; file: string } => {
    let best = { at: 0, file: '' };
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      const n = e.isDirectory() ? newest(p) : { at: fs.statSync(p).mtimeMs, file: p };
      if (n.at > best.at) best = n;
    }
    return best;
  };
  if (!fs.existsSync(AGENT_JS)) throw new Error(`${AGENT_JS} is missing: run npm run build (npm test builds it first)`);
  const built = fs.statSync(AGENT_JS).mtimeMs;
  const pkg = path.join(ROOT, 'package.json');
  for (const n of [newest(path.join(ROOT, 'src')), { at: fs.statSync(pkg).mtimeMs, file: pkg }]) {
    if (n.at > built) throw new Error(`${path.relative(ROOT, AGENT_JS)} is older than ${path.relative(ROOT, n.file)}: run npm run build (npm test builds it first), or set SDV_AGENT_TEST_BUNDLE to test another build`);
  }
  freshChecked = true;
}

export interface AgentHandle {
  proc: ChildProcess;
  dataDir: string;
  configFile: string;
  apiPort: number;
  healthPort: number;
  apiUrl: string;
  healthUrl: string;
  /** Every JSON log line the agent printed so far. */
  logs: Array<Record<string, unknown>>;
  stderr: string[];
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  /** Resolves with the first log line that matches (waiting at least the suite's ceiling for it). */
  waitLog(pred: (l: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
}

/** Ends what is left in an agent's cgroup folder (`cgroup` of its 'app process trees are tracked' line) and removes it. */
async function removeCgroup(dir: unknown): Promise<void> {
  if (typeof dir !== 'string' || !dir.includes('sdv-agent-') || !fs.existsSync(dir)) return;
  const remove = async (d: string): Promise<void> => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) await remove(path.join(d, e.name));
    try { fs.writeFileSync(path.join(d, 'cgroup.kill'), '1'); } catch {
      // older kernel, or a cgroup v1 folder of the limits (no cgroup.kill there): one by one
      try { for (const p of fs.readFileSync(path.join(d, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) { try { process.kill(Number(p), 'SIGKILL'); } catch { /* gone */ } } } catch { /* nothing in it */ }
    }
    for (let i = 0; i < 50; i++) {
      try { fs.rmdirSync(d); return; } catch { await sleep(100); } // its processes take a moment to be reaped
    }
  };
  try { await remove(dir); } catch { /* the suite's leftovers check reports it */ }
}

export function deepMerge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out = { ...a };
  for (const [k, v] of Object.entries(b)) {
    out[k] = v && typeof v === 'object' && !Array.isArray(v) && out[k] && typeof out[k] === 'object' ? deepMerge(out[k] as Record<string, unknown>, v as Record<string, unknown>) : v;
  }
  return out;
}

export interface StartOptions {
  config?: Record<string, unknown>;
  env?: Record<string, string>;
  dataDir?: string;
  /** Wait for the 'ready' log line (default true). */
  waitReady?: boolean;
  /** Another bundle than AGENT_JS (a benchmark's baseline build). */
  bundle?: string;
  /** An executable started instead of node + bundle (the single binary, in benchmarks). */
  executable?: string;
  /**
   * Node/V8 flags for the agent (a benchmark's A/B of a flag): node's own arguments before the bundle, or the single
   * binary's `--node-options=` (it reads no NODE_OPTIONS: scripts/build-sea.mjs). Not through env: startAgent takes
   * NODE_OPTIONS out (uninstrumented).
   */
  nodeOptions?: string;
}

/** The V8 heap flags of a box (scripts/heap-flags.json: the binary's execArgv and the unit's --node-options). */
export const BOX_HEAP_FLAGS: readonly string[] = (() => {
  const heap = JSON.parse(fs.readFileSync(path.join(ROOT, 'scripts', 'heap-flags.json'), 'utf8')) as { maxOldSpaceSizeMB: number; maxSemiSpaceSizeMB: number | null };
  return [`--max-old-space-size=${heap.maxOldSpaceSizeMB}`, ...(heap.maxSemiSpaceSizeMB ? [`--max-semi-space-size=${heap.maxSemiSpaceSizeMB}`] : [])];
})();

/**
 * The agent's command line as it runs on a box, without the test runner's instrumentation: tap's processinfo puts an
 * --import of its own into NODE_OPTIONS of every process a test starts, which costs an agent about 0.45 s more CPU at
 * each start (0.3 → 0.75 s for `--print-config`) and a module-loader thread beside it. env takes it out before node
 * starts; env execs in place, so the pid is the agent's. Flags a caller wants go as arguments (StartOptions.nodeOptions).
 */
export const uninstrumented = (argv: string[]): string[] => ['/usr/bin/env', '-u', 'NODE_OPTIONS', ...argv];

/**
 * Starts an agent with ports 0, a private dataDir and kuksa.serve off unless the test asks. Its stop (and the removal
 * of its temp folder) is registered on `scope` before it is spawned, so an agent whose start fails is stopped too.
 */
export async function startAgent(scope: Scope, opts: StartOptions = {}): Promise<AgentHandle> {
  if (!opts.executable && !opts.bundle) refuseStaleBundle();
  const dir = tmpDir(scope, 'sdv-agent-test-');
  const dataDir = opts.dataDir ?? path.join(dir, 'data');
  const base = {
    runtime: { name: 'TestBox', dataDir },
    api: { port: 0 },
    health: { port: 0 },
    kuksa: { serve: false },
    // The embedded MQTT broker on a free port: tests never take 1883 (a box's own broker may be there).
    mqtt: { address: '127.0.0.1:0' },
    log: { level: 'info' },
  };
  const config = deepMerge(base, opts.config ?? {});
  const configFile = path.join(dir, 'config.yaml');
  fs.writeFileSync(configFile, stringify(config));
  const flags = opts.nodeOptions?.split(/\s+/).filter(Boolean) ?? [];
  // The bundle runs with the heap a box gives the agent (the binary carries the same flags): a test whose agent needs
  // more than a box allows fails here, not on a box.
  const argv = uninstrumented(opts.executable
    ? [opts.executable, ...(flags.length ? [`--node-options=${flags.join(' ')}`] : [])]
    : [process.execPath, ...BOX_HEAP_FLAGS, ...flags, opts.bundle ?? AGENT_JS]);
  const proc = trackChild(spawn(argv[0]!, [...argv.slice(1), '--config', configFile], {
    env: { ...process.env, SDV_AGENT_CONFIG: '', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  }));
  const logs: Array<Record<string, unknown>> = [];
  // Before the first await: an agent that never becomes ready is stopped with the test all the same.
  scope.teardown(async () => {
    await stopChild(proc);
    // An agent killed (kill -9 tests) could not remove its apps' cgroups, nor the temp-dir FIFO folder a read-only
    // dataDir made it use; a clean stop removes both itself.
    if (proc.signalCode === 'SIGKILL') {
      await removeCgroup(logs.find((l) => l.msg === 'app process trees are tracked')?.cgroup);
      // and the cgroup v1 folders of the limits (src/apps/limits/cgroup-v1.ts)
      for (const dir of (logs.find((l) => l.msg === 'app limits')?.cgroups as unknown[] | undefined) ?? []) await removeCgroup(dir);
      for (const l of logs) if (l.msg === 'the apps folder is not writable: stderr FIFOs are made in the temp dir' && /sdv-agent-fifo-/.test(String(l.dir))) removeTree(String(l.dir));
    }
  });
  const stderr: string[] = [];
  const waiters: Array<{ pred: (l: Record<string, unknown>) => boolean; resolve: (l: Record<string, unknown>) => void }> = [];
  let buf = '';
  proc.stdout!.setEncoding('utf8');
  proc.stdout!.on('data', (chunk: string) => {
    buf += chunk;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      let rec: Record<string, unknown>;
      try { rec = JSON.parse(line); } catch { rec = { raw: line }; }
      logs.push(rec);
      // npm test's closing check looks at every cgroup an agent of the run made (scripts/test.mjs).
      if (rec.msg === 'app process trees are tracked' && typeof rec.cgroup === 'string' && process.env.SDV_TEST_CGROUP_LEDGER) {
        const testFile = path.relative(ROOT, process.argv[1] ?? '');
        try { fs.appendFileSync(process.env.SDV_TEST_CGROUP_LEDGER, `${rec.cgroup}\t${testFile}\n`); } catch { /* no check then */ }
      }
      if (rec.msg === 'app limits' && Array.isArray(rec.cgroups) && process.env.SDV_TEST_CGROUP_LEDGER) {
        const testFile = path.relative(ROOT, process.argv[1] ?? '');
        for (const dir of rec.cgroups) { try { fs.appendFileSync(process.env.SDV_TEST_CGROUP_LEDGER, `${String(dir)}\t${testFile}\n`); } catch { /* no check then */ } }
      }
      for (const w of [...waiters]) if (w.pred(rec)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(rec); }
    }
  });
  proc.stderr!.setEncoding('utf8');
  proc.stderr!.on('data', (c: string) => stderr.push(c));
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));

  const waitLog = (pred: (l: Record<string, unknown>) => boolean, atLeastMs?: number) => {
    const timeoutMs = ceiling(atLeastMs);
    const found = logs.find(pred);
    if (found) return Promise.resolve(found);
    return new Promise<Record<string, unknown>>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`log line not seen in ${timeoutMs} ms; stderr: ${stderr.join('')}; last logs: ${JSON.stringify(logs.slice(-5))}`)), timeoutMs);
      waiters.push({ pred, resolve: (l) => { clearTimeout(t); resolve(l); } });
      void exited.then((code) => { clearTimeout(t); reject(new Error(`agent exited with ${code} before the log line; stderr: ${stderr.join('')}; logs: ${JSON.stringify(logs.slice(-5))}`)); });
    });
  };

  const handle: AgentHandle = {
    proc, dataDir, configFile, apiPort: 0, healthPort: 0, apiUrl: '', healthUrl: '', logs, stderr, waitLog,
    stop: async (signal = 'SIGTERM') => {
      await stopChild(proc, signal);
      return proc.exitCode;
    },
  };
  if (opts.waitReady !== false) {
    const ready = await waitLog((l) => l.msg === 'ready');
    handle.apiPort = ready.apiPort as number;
    handle.healthPort = ready.healthPort as number;
    const apiPath = ((config.api as Record<string, unknown>).path as string | undefined) ?? '/runtime';
    handle.apiUrl = `ws://127.0.0.1:${handle.apiPort}${apiPath}`;
    handle.healthUrl = `http://127.0.0.1:${handle.healthPort}/health`;
  }
  return handle;
}

/** A local API client that queues every frame it receives and lets the test wait for one. */
export class ApiClient {
  readonly frames: Array<Record<string, unknown>> = [];
  private waiters: Array<{ pred: (f: Record<string, unknown>) => boolean; resolve: (f: Record<string, unknown>) => void; reject: (e: Error) => void }> = [];
  closeCode: number | null = null;
  closeReason = '';
  private seq = 0;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      let f: Record<string, unknown>;
      try { f = JSON.parse(data.toString()); } catch { f = { raw: data.toString() }; }
      this.frames.push(f);
      for (const w of [...this.waiters]) if (w.pred(f)) { this.waiters.splice(this.waiters.indexOf(w), 1); w.resolve(f); }
    });
    ws.on('close', (code, reason) => {
      this.closeCode = code;
      this.closeReason = reason.toString();
      for (const w of this.waiters.splice(0)) w.reject(new Error(`socket closed (${code} ${this.closeReason}) while waiting`));
    });
    ws.on('error', () => {});
  }

  static async connect(url: string, headers: Record<string, string> = {}): Promise<ApiClient> {
    const ws = new WebSocket(url, { headers });
    const c = new ApiClient(ws);
    await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject); ws.once('close', () => resolve()); });
    return c;
  }

  send(frame: unknown): void { this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame)); }

  waitFor(pred: (f: Record<string, unknown>) => boolean, atLeastMs?: number): Promise<Record<string, unknown>> {
    return this.waitWithin(pred, ceiling(atLeastMs));
  }

  /**
   * Like waitFor, but gives up after exactly `timeoutMs`: only for a deadline that is itself the property checked
   * (the chaos liveness probe's "a ping unanswered this long means a blocked agent").
   */
  waitWithin(pred: (f: Record<string, unknown>) => boolean, timeoutMs: number): Promise<Record<string, unknown>> {
    const found = this.frames.find(pred);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const waiter = { pred, resolve: (f: Record<string, unknown>) => { clearTimeout(t); resolve(f); }, reject: (e: Error) => { clearTimeout(t); reject(e); } };
      const t = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter) >>> 0, 1);
        reject(new Error(`frame not seen in ${timeoutMs} ms; last frames: ${JSON.stringify(this.frames.slice(-5)).slice(0, 2000)}`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  /** Sends a request with a fresh id and resolves with the first reply carrying that id (a response or an error). */
  async request(frame: Record<string, unknown>, timeoutMs?: number): Promise<Record<string, unknown>> {
    const id = (frame.id as string | undefined) ?? `t-${++this.seq}`;
    this.send({ ...frame, id });
    return this.waitFor((f) => f.id === id && (f.type === 'error' || f.type === `${frame.type}-response` || f.type === 'pong' || String(f.type).endsWith('-response')), timeoutMs);
  }

  closed(): Promise<number> {
    if (this.closeCode !== null) return Promise.resolve(this.closeCode);
    return new Promise((resolve) => this.ws.once('close', (code) => resolve(code)));
  }

  close(): void { this.ws.close(); }
}

/** A reboot of the box: the agent stops, and a new one starts on the same dataDir; it and a client are torn down with t. */
export async function restartOnSameData(t: Scope, old: AgentHandle): Promise<{ agent: AgentHandle; client: ApiClient }> {
  await old.stop();
  const agent = await startAgent(t, { dataDir: old.dataDir });
  const client = await ApiClient.connect(agent.apiUrl);
  t.teardown(() => client.close());
  return { agent, client };
}

export async function getJson(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
