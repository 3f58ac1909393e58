// Section 1 — Kit-Manager faults: the stand-in Socket.IO Kit-Manager is killed and restarted at random moments
// (5 times short, 50 full) while a python app streams output and a frontend is subscribed to signals; then Kit-Managers
// that accept the connection but never ping, or never even send the open packet (left after connectTimeoutMs), and one
// that announces absurd ping timings (pingInterval 2^31 ms: Node's timers fire at once past 2^31 - 1, and the link
// flapped, defect 15 of the 2026-12-07 red team). The agent re-registers every time, the app never stops, memory stays
// bounded, and the absurd timings are clamped to 10 min each: one steady session. How soon it re-registers is a figure
// (the backoff's cap is a test on an injected clock: test/kit-link-clock.test.ts).
import t from 'tap';
import type WebSocket from 'ws';
import { ApiClient, startAgent } from '../helpers/agent';
import { Frontend, StandInKitManager } from '../helpers/kit-manager';
import { MB, Summary, budgetEnd, req, caughtCrashes, count, exited, makeRng, roundsDone, rssOf, seedFor, sleep, until } from './lib';
import { SAFE_ENV } from './safe-env';
import { loopbackWsServer } from '../helpers/ws-server';

const SECTION = 'kit-manager-faults';
const seed = seedFor(SECTION);
const rng = makeRng(seed);
const summary = new Summary(SECTION, seed);
t.teardown(() => summary.write(t));

const MAX_MS = 1000;
/** A pong the stand-in waits for: long enough that a busy box never loses a link for a late pong. */
const PING_TIMEOUT_MS = 3000;
const STREAM_CODE = 'import time\ni = 0\nwhile True:\n    i += 1\n    print("tick %d" % i, flush=True)\n    time.sleep(0.05)\n';

t.test('Kit-Manager killed and restarted at random moments', async (t) => {
  let km = await StandInKitManager.start(0, { pingInterval: 500, pingTimeout: PING_TIMEOUT_MS });
  const port = km.port;
  const agent = await startAgent(t, { env: SAFE_ENV, config: { kitManager: { url: km.url, reconnect: { minMs: 50, maxMs: MAX_MS } } } });
  t.teardown(async () => { await agent.stop(); await km.close(); });
  const kitId = 'RunTime-TestBox';
  const registered = await km.waitRegistration(() => true).then(() => true, () => false);
  t.ok(registered, 'the agent registers');
  if (!registered) return;
  const api = await ApiClient.connect(agent.apiUrl);
  t.teardown(() => api.close());

  // the streaming app
  const dep = await api.request({ type: 'deploy_request', prototype: { id: 'streamer', name: 'Streamer', type: 'python', code: STREAM_CODE, config: {} } });
  const appId = (dep.appId as string | undefined) ?? 'VEA-streamer';
  const run = await api.request({ type: 'run_app', appId });
  t.not(run.type, 'error', `streaming app started (${String(run.error ?? '')})`);
  await req(api, { type: 'console_subscribe', appId });

  let frontend = await Frontend.connect(km.url);
  t.teardown(() => frontend.close());
  await frontend.waitRuntime(kitId);
  const sub = await frontend.command(kitId, { cmd: 'subscribe_apis', apis: ['Vehicle.Speed'] }, undefined).catch(() => null);
  t.ok(sub && !sub.errorCode, 'the frontend subscribes to a signal');

  const rss0 = rssOf(agent.proc.pid) ?? 0;
  let rssPeak = rss0;
  const kills = count(5, 50);
  const deadline = budgetEnd(300_000);
  let worstMs = 0;
  let linesBefore = api.frames.length;
  let done = 0;
  for (let k = 0; k < kills && Date.now() < deadline; k++) {
    await sleep(rng.int(800));
    const regsBefore = km.registrations.length;
    void regsBefore;
    await km.close();
    frontend.close();
    summary.data.faultsInjected++;
    await sleep(rng.int(600));
    km = await StandInKitManager.start(port, { pingInterval: 500, pingTimeout: PING_TIMEOUT_MS });
    const back = Date.now();
    let ok = true;
    try {
      await km.waitRegistration(() => true);
      const took = Date.now() - back;
      worstMs = Math.max(worstMs, took);
    } catch {
      ok = false;
      summary.finding(`restart ${k}: no re-registration`);
    }
    // a fresh frontend can list the runtime and get an answer from it
    frontend = await Frontend.connect(km.url);
    try {
      await frontend.waitRuntime(kitId);
      const info = await frontend.command(kitId, { cmd: 'get-runtime-info' }, (r) => r.cmd === 'get-runtime-info');
      if (!info) ok = false;
      await frontend.command(kitId, { cmd: 'subscribe_apis', apis: ['Vehicle.Speed'] }, undefined);
    } catch (e) {
      ok = false;
      summary.finding(`restart ${k}: frontend got no answer: ${(e as Error).message.slice(0, 160)}`);
    }
    // the app kept streaming through the outage
    const grew = await until(() => api.frames.length > linesBefore);
    if (!grew) { ok = false; summary.finding(`restart ${k}: the app's output stopped`); }
    linesBefore = api.frames.length;
    if (api.frames.length > 20_000) api.frames.splice(0, api.frames.length - 1000);
    rssPeak = Math.max(rssPeak, rssOf(agent.proc.pid) ?? 0);
    if (ok) summary.data.faultsSurvived++;
    done++;
  }
  summary.data.figures.kitManagerRestarts = done;
  summary.data.figures.worstReRegisterMs = worstMs;
  summary.data.figures.rssStartMB = +(rss0 / MB).toFixed(1);
  summary.data.figures.rssPeakMB = +(rssPeak / MB).toFixed(1);
  roundsDone(t, done, kills, 'Kit-Manager restarts');
  t.equal(summary.data.faultsSurvived, done, 'every restart: re-registered, answering, app streaming');
  t.ok(rssPeak - rss0 < 128 * MB, `RSS bounded (${(rss0 / MB).toFixed(0)} → ${(rssPeak / MB).toFixed(0)} MB)`);
  const list = await api.request({ type: 'list_deployed_apps' });
  const app = ((list.apps as Array<Record<string, unknown>>) ?? []).find((a) => a.id === appId);
  t.equal(app?.status, 'running', 'the app never stopped');
  if (app?.status !== 'running') summary.data.stateLost++;
  summary.data.crashes += (exited(agent) ? 1 : 0) + caughtCrashes(agent).length;
  t.equal(summary.data.crashes, 0, 'no crashes');
});

/**
 * An Engine.IO server that misbehaves: `silent` opens (with the ping timings given), connects, then never pings; `mute`
 * accepts and says nothing.
 */
async function badKitManager(mode: 'silent' | 'mute', timing = { pingInterval: 300, pingTimeout: 300 }): Promise<{ url: string; connections: number[]; registrations: number[]; close(): Promise<void> }> {
  const { wss, port, close } = await loopbackWsServer();
  const connections: number[] = [];
  const registrations: number[] = [];
  wss.on('connection', (ws: WebSocket) => {
    connections.push(Date.now());
    ws.on('error', () => {});
    if (mode === 'mute') return;
    ws.send(JSON.stringify({ sid: `s${connections.length}`, upgrades: [], ...timing, maxPayload: 1e6 }).replace(/^/, '0'));
    ws.on('message', (d) => {
      const s = d.toString();
      if (s.startsWith('40')) ws.send(`40{"sid":"n${connections.length}"}`);
      if (s.startsWith('42["register_kit"')) registrations.push(Date.now());
    });
  });
  return { url: `http://127.0.0.1:${port}`, connections, registrations, close };
}

// The mute case waits out kitManager.connectTimeoutMs per attempt (1.5 s here, 20 s by default).
const CONNECT_TIMEOUT_MS = 1500;
for (const mode of ['silent', 'mute'] as Array<'silent' | 'mute'>) {
  t.test(`a Kit-Manager that ${mode === 'silent' ? 'accepts but never pings' : 'accepts but never answers at all'}`, async (t) => {
    const km = await badKitManager(mode);
    t.teardown(() => km.close());
    const agent = await startAgent(t, { env: SAFE_ENV, config: { kitManager: { url: km.url, connectTimeoutMs: CONNECT_TIMEOUT_MS, reconnect: { minMs: 50, maxMs: MAX_MS } } } });
    const first = await until(() => km.connections.length > 0);
    t.ok(first, 'the agent dials the Kit-Manager');
    if (!first) return;
    const want = count(3, 10);
    // silent: each session dies after pingInterval + pingTimeout (600 ms) of silence; mute: after connectTimeoutMs.
    // Either way the agent must come back, again and again.
    const reconnected = await until(() => km.connections.length > want, count(0, 90_000), 100);
    summary.data.faultsInjected += want;
    if (reconnected) summary.data.faultsSurvived += want;
    else summary.finding(`${mode} Kit-Manager: only ${km.connections.length} connection attempts (the link hangs on a ${mode} server)`);
    t.ok(reconnected, `the agent gave up on the ${mode} session and reconnected ${want} times (${km.connections.length} attempts)`);
    if (mode === 'silent') t.ok(km.registrations.length >= want, `and registered each time (${km.registrations.length})`);
    const gaps = km.connections.slice(1).map((x, i) => x - km.connections[i]!);
    summary.data.figures[`${mode}WorstGapMs`] = gaps.length ? Math.max(...gaps) : 0;
    const api = await ApiClient.connect(agent.apiUrl);
    t.equal((await api.request({ type: 'ping' })).type, 'pong', 'the local API is unaffected');
    api.close();
    summary.data.crashes += (exited(agent) ? 1 : 0) + caughtCrashes(agent).length;
  });
}

t.test('a Kit-Manager that announces a pingInterval of 2^31 ms', async (t) => {
  const km = await badKitManager('silent', { pingInterval: 2 ** 31, pingTimeout: 20_000 });
  t.teardown(() => km.close());
  const agent = await startAgent(t, { env: SAFE_ENV, config: { kitManager: { url: km.url, reconnect: { minMs: 50, maxMs: MAX_MS } } } });
  summary.data.faultsInjected++;
  const registered = await until(() => km.registrations.length > 0, 15_000);
  t.ok(registered, 'the agent registers');
  // Long enough for the overflowed timer (1 ms) to have ended the session many times over; the clamped one is 20 min.
  const watchMs = count(3000, 10_000);
  await new Promise((r) => setTimeout(r, watchMs));
  const deaths = agent.logs.filter((l) => l.msg === 'kit-manager stopped pinging; reconnecting').length;
  summary.data.figures[`pingInterval 2^31: connections, registrations, 'stopped pinging' lines in ${watchMs / 1000} s`] = `${km.connections.length}, ${km.registrations.length}, ${deaths}`;
  t.equal(km.connections.length, 1, `one connection in ${watchMs / 1000} s (${km.connections.length})`);
  t.equal(km.registrations.length, 1, 'one registration');
  t.equal(deaths, 0, 'never "stopped pinging"');
  t.ok(agent.logs.some((l) => l.msg === 'kit-manager ping timings over 10 min; a link without a ping is left after the clamped window'), 'the clamp is logged');
  if (registered && km.connections.length === 1 && deaths === 0) summary.data.faultsSurvived++;
  else summary.finding(`pingInterval 2^31: ${km.connections.length} connections, ${deaths} "stopped pinging" in ${watchMs} ms`);
  summary.data.crashes += (exited(agent) ? 1 : 0) + caughtCrashes(agent).length;
});
