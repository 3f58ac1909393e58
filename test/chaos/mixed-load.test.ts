// Section "mixed-load" — the agent under a sustained mixed load (10 minutes in full, 15 s in short form), all at once:
//   - 50 apps printing (a line every 50 ms each);
//   - the 910 signals of VSS 4.0 written at 10 Hz (one kuksa.val v1 Set of all 910 every 100 ms) and 100 local API
//     signal subscribers of 10 signals each (together all 910);
//   - a Kit-Manager link (the stand-in socket.io Kit-Manager) with 20 frontends, each subscribed to 10 signals and
//     asking get-runtime-info every 2 s;
//   - one kuksa.val v1 subscriber of `Vehicle` that stops reading (cut off after kuksa.streamStallMs, it comes back
//     and stops again);
//   - one local API client sending garbage, and one TCP socket writing garbage to the gRPC port;
//   - a checker that stops and runs the apps in turn, each acknowledged, and reads the app list back.
// Figures: RSS after the warm-up, at its peak and at the end (bound RSS_BOUND_MB); `ping` every 100 ms from a process
// of its own (ping-probe.ts), p99 and max (bound 100 ms p99 in the full run); acknowledged app states lost (0); every frontend command
// answered.
import { spawn } from 'node:child_process';
import * as net from 'node:net';
import * as path from 'node:path';
import t from 'tap';
import WebSocket from 'ws';
import type * as grpc from '@grpc/grpc-js';
import { ApiClient, ROOT } from '../helpers/agent';
import { stopChild, trackChild } from '../helpers/scope';
import { Frontend, StandInKitManager } from '../helpers/kit-manager';
import { FULL_VSS, call, rawClients, startUpstream } from '../helpers/signals';
import { FULL, MB, Summary, caughtCrashes, count, exited, makeRng, req, rssOf, seedFor, sleep } from './lib';
import { SAFE_ENV } from './safe-env';

const SECTION = 'mixed-load';
const seed = seedFor(SECTION);
const rng = makeRng(seed);
const summary = new Summary(SECTION, seed);
t.teardown(() => summary.write(t));

const DURATION_MS = count(15_000, 600_000);
const APPS = count(10, 50);
const SUBSCRIBERS = count(20, 100);
const FRONTENDS = count(5, 20);
/** The agent's RSS may not pass this during the run. */
const RSS_BOUND_MB = 400;
const PING_P99_MS = 100;
if (FULL) {
  // Ten minutes of load plus the set-up: past tap's --timeout 600 (the comment tells the runner).
  t.setTimeout(1_200_000);
  t.comment('timeout=1200000');
}

const quantile = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(q * s.length))]! : NaN;
};

t.test('sustained mixed load', async (t) => {
  const km = await StandInKitManager.start(0, { pingInterval: 5000, pingTimeout: 5000 });
  t.teardown(() => km.close());
  const up = await startUpstream(t, {
    env: SAFE_ENV,
    kuksa: { vss: FULL_VSS, streamStallMs: 5000 },
    config: { api: { maxClients: 200 }, apps: { maxApps: 60 }, kitManager: { url: km.url, reconnect: { minMs: 100, maxMs: 1000 } } },
  });
  const agent = up.agent;
  t.teardown(() => agent.stop());
  const kitId = `RunTime-TestBox`;
  const c = await ApiClient.connect(agent.apiUrl);
  t.teardown(() => c.close());
  const timers: NodeJS.Timeout[] = [];
  const closers: Array<() => void> = [];
  t.teardown(() => { for (const x of timers) clearInterval(x); for (const f of closers) f(); });

  // --- 50 apps printing
  const ids: string[] = [];
  for (let i = 0; i < APPS; i++) {
    const r = await req(c, { type: 'deploy_request', prototype: { id: `load${i}`, type: 'python', code: 'import time\ni = 0\nwhile True:\n    print("tick", i, flush=True)\n    i += 1\n    time.sleep(0.05)\n' } });
    if (r.type === 'error') { t.fail(`deploy ${i}: ${String(r.error)}`); return; }
    ids.push(String(r.appId));
  }
  for (const id of ids) await req(c, { type: 'run_app', appId: id });
  /** The state each app was last acknowledged in. */
  const acknowledged = new Map<string, 'running' | 'stopped'>(ids.map((id) => [id, 'running']));

  // --- 910 signals at 10 Hz, 100 subscribers of 10 each
  const writer = rawClients(up.port, { 'grpc.use_local_subchannel_pool': 1, 'grpc.max_receive_message_length': -1 });
  closers.push(() => { for (const x of Object.values(writer)) x.close(); });
  type Meta = { path: string; data_type: string; entry_type: string; min?: Record<string, unknown>; max?: Record<string, unknown>; allowed_values?: Record<string, { values?: unknown[] }> };
  const leaves = ((await call(writer.v2, 'ListMetadata', { root: 'Vehicle' })).metadata as Meta[]);
  /** A valid kuksa.val v1 Datapoint for a leaf at tick i: inside its min/max, one of its allowed values. */
  const valueFor = (l: Meta, i: number): Record<string, unknown> | null => {
    const num = (v: Record<string, unknown> | undefined): number | undefined => (v ? Number(Object.values(v)[0]) : undefined);
    const lo = num(l.min) ?? 0;
    const hi = num(l.max) ?? lo + 100;
    const n = lo + (i % (Math.floor(hi - lo) + 1));
    const allowed = l.allowed_values ? Object.values(l.allowed_values)[0]?.values : undefined;
    switch (l.data_type) {
      case 'DATA_TYPE_FLOAT': return { float: n };
      case 'DATA_TYPE_DOUBLE': return { double: n };
      case 'DATA_TYPE_BOOLEAN': return { bool: i % 2 === 0 };
      case 'DATA_TYPE_UINT8': case 'DATA_TYPE_UINT16': case 'DATA_TYPE_UINT32': return { uint32: n };
      case 'DATA_TYPE_INT8': case 'DATA_TYPE_INT16': case 'DATA_TYPE_INT32': return { int32: n };
      case 'DATA_TYPE_STRING': return { string: allowed?.length ? String(allowed[i % allowed.length]) : `s${i % 100}` };
      case 'DATA_TYPE_STRING_ARRAY': return { string_array: { values: [`s${i % 100}`] } };
      case 'DATA_TYPE_UINT8_ARRAY': return { uint32_array: { values: [i % 200] } };
      default: return null;
    }
  };
  const writable = leaves.filter((l) => valueFor(l, 0));
  summary.data.figures['signals written at 10 Hz (of the model)'] = `${writable.length} (${leaves.length})`;
  let setErrors = 0;
  let tick = 0;
  let setsOk = 0;
  let setsFailed = 0;
  timers.push(setInterval(() => {
    tick++;
    writer.v1.Set({ updates: writable.map((l) => ({ entry: { path: l.path, value: valueFor(l, tick) }, fields: ['FIELD_VALUE'] })) }, (e: Error | null, r?: { errors?: unknown[] }) => {
      if (e) setsFailed++; else setsOk++;
      setErrors += r?.errors?.length ?? 0;
    });
  }, 100));
  let sigFrames = 0;
  for (let i = 0; i < SUBSCRIBERS; i++) {
    const ws = new WebSocket(agent.apiUrl);
    await new Promise<void>((r) => ws.once('open', () => r()));
    ws.on('error', () => {});
    ws.on('message', (d) => { if (d.toString().startsWith('{"type":"apis-value"')) sigFrames++; });
    const apis = Array.from({ length: 10 }, (_, j) => leaves[(i * 10 + j) % leaves.length]!.path);
    ws.send(JSON.stringify({ type: 'subscribe_apis', id: `s${i}`, apis }));
    closers.push(() => ws.terminate());
  }

  // --- a Kit-Manager link with 20 frontends
  await km.waitRegistration((r) => r.kit.kit_id === kitId);
  const frontends: Frontend[] = [];
  let kitAsked = 0;
  let kitAnswered = 0;
  for (let i = 0; i < FRONTENDS; i++) {
    const fe = await Frontend.connect(km.url);
    frontends.push(fe);
    closers.push(() => fe.close());
    await fe.waitRuntime(kitId);
    await fe.command(kitId, { cmd: 'subscribe_apis', apis: Array.from({ length: 10 }, (_, j) => leaves[(i * 37 + j) % leaves.length]!.path) }, (r) => r.cmd === 'subscribe_apis');
  }
  let running = true;
  const kitLoops = frontends.map(async (fe) => {
    while (running) {
      kitAsked++;
      const ok = await fe.command(kitId, { cmd: 'get-runtime-info' }, (r) => r.cmd === 'get-runtime-info').then(() => true, () => false);
      if (ok) kitAnswered++;
      fe.replies.length = 0;
      await sleep(2000);
    }
  });

  // --- one gRPC subscriber that stops reading (again after each cut)
  const stalled = rawClients(up.port, { 'grpc.use_local_subchannel_pool': 1 });
  closers.push(() => { for (const x of Object.values(stalled)) x.close(); });
  let cuts = 0;
  const stall = (): void => {
    if (!running) return;
    const s = stalled.v1.Subscribe({ entries: [{ path: 'Vehicle', view: 'VIEW_CURRENT_VALUE', fields: ['FIELD_VALUE'] }] }) as grpc.ClientReadableStream<unknown>;
    s.once('data', () => {
      s.pause();
      // After the agent's stall bound it has ended the stream: read the rest, see the status, stall again.
      setTimeout(() => { s.on('data', () => {}); s.resume(); }, 15_000);
    });
    s.on('error', (e: grpc.ServiceError) => { if (e.code === 8) cuts++; setTimeout(stall, 100); });
  };
  stall();

  // --- garbage: a local API client, and raw bytes at the gRPC port
  const junk = await ApiClient.connect(agent.apiUrl);
  closers.push(() => junk.close());
  let garbage = 0;
  timers.push(setInterval(() => {
    for (let i = 0; i < 20; i++) {
      const kind = rng.int(4);
      junk.send(kind === 0 ? '{"type":' : kind === 1 ? JSON.stringify({ type: rng.pick(['run_app', 'subscribe_apis', 'nope', 42]), appId: { x: 1 }, apis: 7 }) : kind === 2 ? '\u0000\uffff' + 'x'.repeat(rng.int(2000)) : JSON.stringify([1, 2, 3]));
      garbage++;
    }
    junk.frames.length = 0;
  }, 100));
  timers.push(setInterval(() => {
    const sock = net.connect(up.port, '127.0.0.1', () => { sock.write(Buffer.from(Array.from({ length: 512 }, () => rng.int(256)))); setTimeout(() => sock.destroy(), 200); });
    sock.on('error', () => {});
    garbage++;
  }, 500));

  // --- the checker: stop and run apps in turn; the probe: ping every 100 ms
  let lost = 0;
  let checks = 0;
  const checker = (async () => {
    let k = 0;
    while (running) {
      const id = ids[k++ % ids.length]!;
      const want = acknowledged.get(id) === 'running' ? 'stop_app' : 'run_app';
      const r = await req(c, { type: want, appId: id }).catch(() => null);
      if (r && r.type !== 'error') acknowledged.set(id, want === 'stop_app' ? 'stopped' : 'running');
      const list = await req(c, { type: 'list_deployed_apps' }).catch(() => null);
      const apps = (list?.apps ?? []) as Array<{ id: string; status: string }>;
      checks++;
      for (const [appId, st] of acknowledged) {
        const seen = apps.find((a) => a.id === appId)?.status;
        // a stop acknowledged is 'stopped'; a run acknowledged is running (or starting a moment after its run)
        if (st === 'stopped' ? seen !== 'stopped' : seen !== 'running' && seen !== 'starting') { lost++; summary.finding(`${appId}: acknowledged ${st}, listed ${seen}`); }
      }
      c.frames.length = 0;
      await sleep(3000);
    }
  })();
  // --- run; RSS every second
  await sleep(Math.min(10_000, DURATION_MS / 5));
  const rssWarm = rssOf(agent.proc.pid) ?? 0;
  let rssPeak = rssWarm;
  const rssSampler = setInterval(() => { rssPeak = Math.max(rssPeak, rssOf(agent.proc.pid) ?? 0); }, 1000);
  timers.push(rssSampler);
  const health: boolean[] = [];
  const healthTimer = setInterval(() => { void fetch(agent.healthUrl, { signal: AbortSignal.timeout(5000) }).then((r) => health.push(r.ok), () => health.push(false)); }, 1000);
  timers.push(healthTimer);
  const sigFrames0 = sigFrames;
  const t0 = Date.now();
  const probe = trackChild(spawn(process.execPath, ['--import', 'tsx', path.join(__dirname, 'ping-probe.ts'), agent.apiUrl, String(DURATION_MS)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] }));
  t.teardown(() => stopChild(probe));
  let probeOut = '';
  probe.stdout!.on('data', (d: Buffer) => { probeOut += d.toString(); });
  await new Promise<void>((r) => probe.on('exit', () => r()));
  const wallS = (Date.now() - t0) / 1000;
  running = false;
  await Promise.all([checker, ...kitLoops]);
  const seen = JSON.parse(probeOut.trim() || '{"ms":[],"missed":-1}') as { ms: number[]; missed: number };
  const pings = seen.ms;
  const pingsMissed = seen.missed;
  const rssEnd = rssOf(agent.proc.pid) ?? 0;
  clearInterval(rssSampler);

  const p50 = quantile(pings, 0.5);
  const p99 = quantile(pings, 0.99);
  const max = Math.max(...pings);
  const f = summary.data.figures;
  f['duration (s)'] = Math.round(wallS);
  f['apps printing, signal subscribers, frontends'] = `${APPS}, ${SUBSCRIBERS}, ${FRONTENDS}`;
  f['agent RSS MB after warm-up → peak → end'] = `${(rssWarm / MB).toFixed(1)} → ${(rssPeak / MB).toFixed(1)} → ${(rssEnd / MB).toFixed(1)}`;
  f['ping: answered, p50 / p99 / max (ms)'] = `${pings.length}/${pings.length + pingsMissed}, ${p50.toFixed(1)} / ${p99.toFixed(1)} / ${max.toFixed(1)}`;
  f['/health answered'] = `${health.filter(Boolean).length}/${health.length}`;
  f['kuksa.val v1 Set of all signals: ok, failed, values refused'] = `${setsOk}, ${setsFailed}, ${setErrors}`;
  f['apis-value frames to local subscribers per s'] = Math.round((sigFrames - sigFrames0) / wallS);
  f['Kit-Manager get-runtime-info asked / answered'] = `${kitAsked} / ${kitAnswered}`;
  f['stalled gRPC subscriber: cut off RESOURCE_EXHAUSTED'] = cuts;
  f['garbage frames and connections sent'] = garbage;
  f['app stop/run checks, acknowledged states lost'] = `${checks}, ${lost}`;
  summary.data.faultsInjected += garbage + cuts;
  summary.data.stateLost = lost;
  summary.data.crashes = (exited(agent) ? 1 : 0) + caughtCrashes(agent).length;

  t.ok(rssPeak / MB < RSS_BOUND_MB, `agent RSS stayed under ${RSS_BOUND_MB} MB (${f['agent RSS MB after warm-up → peak → end']})`);
  // The latency bound holds for the full run on a box of its own; the short form inside npm test shares the box.
  if (FULL) t.ok(p99 < PING_P99_MS, `ping answered within ${PING_P99_MS} ms p99 (p50 ${p50.toFixed(1)}, p99 ${p99.toFixed(1)}, max ${max.toFixed(1)} ms, ${pings.length} pings)`);
  t.equal(pingsMissed, 0, `no ping missed (p50 ${p50.toFixed(1)}, p99 ${p99.toFixed(1)}, max ${max.toFixed(1)} ms, ${pings.length} pings)`);
  t.ok(health.length > 0 && health.every(Boolean), `/health answered throughout (${f['/health answered']})`);
  t.equal(lost, 0, `0 acknowledged app states lost (${checks} checks)`);
  t.equal(kitAnswered, kitAsked, `every frontend command answered (${kitAnswered}/${kitAsked})`);
  t.ok(setsFailed === 0 && setsOk > 0 && setErrors === 0, `every Set of the writer answered OK, every value taken (${setsOk}, ${setErrors} refused)`);
  t.ok(cuts > 0, `the stalled gRPC subscriber was cut off (${cuts} times)`);
  t.ok(sigFrames > sigFrames0, 'local subscribers kept getting signal frames');
  t.notOk(exited(agent), 'the agent is still running');
  t.equal(caughtCrashes(agent).length, 0, 'nothing caught by the last-resort handler');
  if (!summary.data.crashes && !lost) summary.data.faultsSurvived = summary.data.faultsInjected;
});
