// Staying connected: pings answered, 10 Kit-Manager restarts on the same port with re-registration each time while a
// python app keeps printing, a dead link (no pings) detected and reconnected, and the plain-ws protocol.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { WebSocket } from 'ws';
import { loopbackWsServer } from './helpers/ws-server';
import { eventually, getJson, sleep, startAgent, tmpDir } from './helpers/agent';
import { Frontend, StandInKitManager } from './helpers/kit-manager';

const KIT = 'RunTime-KitBox';
const MIN_MS = 50;
const MAX_MS = 800;

t.test('answers pings: the link stays up across many ping intervals', async (t) => {
  // A ping every 250 ms, each to be answered within 2 s (a pong later than that would be a box stalled for seconds).
  const km = await StandInKitManager.start(0, { pingInterval: 250, pingTimeout: 2000 });
  t.teardown(() => km.close());
  await startAgent(t, { config: { runtime: { name: 'KitBox' }, kitManager: { url: km.url, reconnect: { minMs: MIN_MS, maxMs: MAX_MS } } } });
  await km.waitRegistration();
  await sleep(2500);
  t.equal(km.registrations.length, 1, 'no reconnect while pings are answered');
  t.equal(km.kits.has(KIT), true);
});

t.test('10 Kit-Manager restarts on the same port; a python app keeps running', async (t) => {
  let km = await StandInKitManager.start();
  const port = km.port;
  t.teardown(() => km.close());
  const dir = tmpDir(t, 'sdv-kit-restart-');
  const ticks = path.join(dir, 'ticks.txt');
  const agent = await startAgent(t, { config: { runtime: { name: 'KitBox' }, kitManager: { url: km.url, reconnect: { minMs: MIN_MS, maxMs: MAX_MS } }, apps: { adhocMaxS: 0 } } });
  let fe = await Frontend.connect(km.url);
  t.teardown(() => fe.close());
  await fe.waitRuntime(KIT);

  const code = `import time\ni = 0\nwhile True:\n    print(f"tick {i}", flush=True)\n    with open(${JSON.stringify(ticks)}, "a") as f:\n        f.write(f"{i}\\n")\n    i += 1\n    time.sleep(0.05)\n`;
  const first = await fe.command(KIT, { cmd: 'run_python_app', usedAPIs: [], data: { code, name: 'ticker' } });
  t.equal(first.isDone, false, `output streams (${JSON.stringify(first).slice(0, 200)})`);
  t.match(first.result, /tick \d+\r\n/);

  const waits: number[] = [];
  for (let i = 0; i < 10; i++) {
    await km.close();
    const down = Date.now();
    await sleep(i % 3 === 0 ? 0 : 100);
    km = await StandInKitManager.start(port);
    await km.waitRegistration();
    waits.push(Date.now() - down);
  }
  // How soon is the backoff's cap (a unit test on an injected clock, kit-link-clock) and a figure of the benchmark.
  t.pass(`re-registered after each of the 10 restarts (${waits.join(', ')} ms)`);

  fe.close();
  fe = await Frontend.connect(km.url);
  await fe.waitRuntime(KIT);
  const info = await fe.command(KIT, { cmd: 'get-runtime-info' });
  t.equal(info.kit_id, KIT, 'answering after the restarts');
  const health = await getJson(agent.healthUrl);
  t.equal(health.body.kitManagerConnected, true);

  const runners = (info.data as { lsOfRunner: Array<{ appName: string; runId: string }> }).lsOfRunner;
  t.ok(runners.some((r) => r.appName === 'ticker'), 'the run is still listed');
  const lines = fs.readFileSync(ticks, 'utf8').trim().split('\n').map(Number);
  const n1 = lines.length;
  t.same(lines, lines.map((_, i) => i), 'the counter never restarted: the app ran through every restart');
  await eventually('the app printing on', () => fs.readFileSync(ticks, 'utf8').trim().split('\n').length > n1);
  t.pass('still printing');
  const dropped = (info.data as { kitManagerDroppedReplies: number }).kitManagerDroppedReplies;
  t.ok(dropped > 0, `output produced while the link was down was dropped and counted (${dropped})`);
  const r = await fe.command(KIT, { cmd: 'stop_python_app', data: {} }, (x) => x.cmd === 'stop_python_app');
  t.equal(r.errorCode, 'NOT_FOUND', 'the new frontend has no run of its own: it is told so');
  t.match(String(r.error), /runId/, 'and how to find the run of the old connection');
  const runId = runners.find((x) => x.appName === 'ticker')!.runId;
  const stopped = await fe.command(KIT, { cmd: 'stop_python_app', data: { runId } }, (x) => x.cmd === 'stop_python_app');
  t.equal(stopped.result, 'Successful', 'stopped by the runId get-runtime-info lists');
});

t.test('a dead link (open + CONNECT ack, then no pings) is detected and reconnected', async (t) => {
  const { wss, port } = await loopbackWsServer(t);
  const connections: WebSocket[] = [];
  const registrations: unknown[] = [];
  const paths: string[] = [];
  wss.on('connection', (ws, req) => {
    connections.push(ws);
    paths.push(req.url ?? '');
    ws.send(JSON.stringify({ sid: `s${connections.length}`, upgrades: [], pingInterval: 200, pingTimeout: 200 }).replace(/^/, '0'));
    ws.on('message', (d) => {
      const text = d.toString();
      if (text === '40') ws.send('40{"sid":"n1"}');
      else if (text.startsWith('42["register_kit"')) registrations.push(JSON.parse(text.slice(2))[1]);
    });
  });
  const agent = await startAgent(t, { config: { runtime: { name: 'KitBox' }, kitManager: { url: `http://127.0.0.1:${port}`, reconnect: { minMs: MIN_MS, maxMs: 200 } } } });
  await eventually('three registrations', () => registrations.length >= 3);
  t.ok(registrations.length >= 3, `registered again after each silent period (${registrations.length} registrations)`);
  t.match(paths[0], /^\/socket\.io\/\?EIO=4&transport=websocket$/);
  t.ok(agent.logs.some((l) => l.msg === 'kit-manager stopped pinging; reconnecting'), 'logged as a dead link');
  t.ok(connections.slice(0, -1).every((c) => c.readyState === c.CLOSED || c.readyState === c.CLOSING), 'old sockets were closed');
});

t.test('kitManager.protocol ws: the seed-000 protocol served over the outbound socket, reconnected', async (t) => {
  const { wss, port } = await loopbackWsServer(t);
  const heads: Array<Record<string, unknown>> = [];
  const conns: WebSocket[] = [];
  const frames: Array<Record<string, unknown>> = [];
  wss.on('connection', (ws, req) => {
    heads.push(req.headers);
    conns.push(ws);
    ws.on('message', (d) => frames.push(JSON.parse(d.toString())));
  });
  await startAgent(t, { config: { runtime: { name: 'KitBox' }, kitManager: { url: `ws://127.0.0.1:${port}/ctl`, protocol: 'ws', token: 'tok-ws', reconnect: { minMs: MIN_MS, maxMs: 300 } } } });
  const waitFrame = async (pred: (f: Record<string, unknown>) => boolean) => {
    await eventually(`a frame (last: ${JSON.stringify(frames.slice(-3))})`, () => frames.some(pred), { stepMs: 20 });
    return frames.find(pred)!;
  };
  const waitConn = async (n: number) => { await eventually(`connection ${n}`, () => conns.length >= n, { stepMs: 20 }); return conns[n - 1]!; };
  const c1 = await waitConn(1);
  t.equal(heads[0]!.authorization, 'Bearer tok-ws');
  t.equal(heads[0]!['x-sdv-kit-id'], KIT);
  c1.send(JSON.stringify({ type: 'ping', id: 'w1' }));
  const pong = await waitFrame((f) => f.id === 'w1');
  t.equal(pong.type, 'pong');
  c1.send(JSON.stringify({ type: 'get_runtime_info', id: 'w2' }));
  const info = await waitFrame((f) => f.id === 'w2');
  t.equal(info.kitId, KIT);
  t.equal(info.kitManagerConnected, true);
  c1.terminate();
  const c2 = await waitConn(2);
  c2.send(JSON.stringify({ type: 'ping', id: 'w3' }));
  t.equal((await waitFrame((f) => f.id === 'w3')).type, 'pong', 'served again after reconnecting');
});

t.test('raw Engine.IO peer: pongs, acks, malformed events answered, link kept', async (t) => {
  const { wss, port } = await loopbackWsServer(t);
  const got: string[] = [];
  let conns = 0;
  let sock: WebSocket | null = null;
  wss.on('connection', (ws) => {
    conns++;
    sock = ws;
    ws.send('0{"sid":"raw","upgrades":[],"pingInterval":300,"pingTimeout":1500,"maxPayload":1000000}');
    ws.on('message', (d) => {
      const text = d.toString();
      got.push(text);
      if (text === '40') ws.send('40{"sid":"n"}');
    });
    const pinger = setInterval(() => ws.send('2'), 300);
    ws.on('close', () => clearInterval(pinger));
  });
  await startAgent(t, { config: { runtime: { name: 'KitBox' }, kitManager: { url: `http://127.0.0.1:${port}`, reconnect: { minMs: MIN_MS, maxMs: 200 } } } });
  const waitGot = async (pred: (s: string) => boolean) => {
    await eventually(`a frame (got ${JSON.stringify(got.slice(-5)).slice(0, 1000)})`, () => got.some(pred), { stepMs: 20 });
    return got.find(pred)!;
  };
  await waitGot((s) => s.startsWith('42["register_kit"'));
  await waitGot((s) => s === '3');
  sock!.send('421["messageToKit",{"request_from":"c1","cmd":"get-runtime-info"}]');
  t.equal(await waitGot((s) => s.startsWith('431')), '431[]', 'an event with an ack id is acknowledged');
  const reply = JSON.parse((await waitGot((s) => s.includes('"request_from":"c1"'))).slice(2));
  t.equal(reply[0], 'messageToKit-kitReply');
  t.equal(reply[1].cmd, 'get-runtime-info');
  t.equal(reply[1].kit_id, KIT);
  sock!.send('42["messageToKit",{"request_from":"c2","cmd":"run_python_app","data":{"code":"x"');
  const bad = JSON.parse((await waitGot((s) => s.includes('"request_from":"c2"'))).slice(2));
  t.equal(bad[1].errorCode, 'BAD_REQUEST');
  t.equal(bad[1].cmd, 'run_python_app');
  for (const junk of ['7', '4x', '42', '42[]', '42[1]', '42["messageToKit"]', '42["messageToKit",[1]]', '42["messageToKit",{"cmd":"x"}]', '43["x"]', '0{}']) sock!.send(junk);
  sock!.send('42["messageToKit",{"request_from":"c3","type":"ping","id":"after"}]');
  const pong = JSON.parse((await waitGot((s) => s.includes('"request_from":"c3"'))).slice(2));
  t.equal(pong[1].type, 'pong');
  t.equal(pong[1].id, 'after');
  await sleep(1200);
  t.equal(conns, 1, 'junk and pings over several intervals: the link never dropped');
});
