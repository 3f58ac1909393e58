// Section "kit-flood" — a Kit-Manager that stops reading and floods the agent as fast as it can (checks R4/R5 and
// defect 8 of the 2026-12-07 red team): 1-byte Engine.IO pings (each answered by a 3-byte pong that used to cost the
// agent ~170 bytes: 0.9 GB before twice api.sendBufferBytes were unsent), then pings and events asking for an ack.
// Raw ready-made frames on the TCP socket, for 4 s (15 s in the full form), going on with every session the agent
// opens again. Then the same with `kitManager.protocol: ws`: a controller that stops reading floods WebSocket pings
// and seed `ping` requests. The agent runs with the default api.sendBufferBytes. It must grow by at most 64 MB
// whatever the peer does, answer local pings throughout (the liveness probe) and right after (the round trip is a
// figure; the bound of 100 ms is the benchmark's, not this test's), and serve the Kit-Manager again after it.
import t from 'tap';
import { CEILING_MS, startAgent } from '../helpers/agent';
import { loopbackWsServer } from '../helpers/ws-server';
import { FLOOD_RSS_BOUND_MB, Peak, pingsAfter, reportPingsAfter, wsFrames } from './flood';
import { MB, Summary, attack, caughtCrashes, count, seedFor, sleep, until } from './lib';
import { RawKitManager } from './raw-kit-manager';
import { SAFE_ENV } from './safe-env';

const SECTION = 'kit-flood';
const summary = new Summary(SECTION, seedFor(SECTION));
t.teardown(() => summary.write(t));

const FLOOD_MS = count(4000, 15_000);
/** Frames per raw write, and how much this side lets pile up unsent before it waits. */
const BATCH = 5000;
const OWN_BACKLOG = 4 * MB;
const RSS_BOUND = FLOOD_RSS_BOUND_MB * MB;

const PINGS = wsFrames(0x1, Array.from({ length: BATCH }, () => '2'));
const ackedBatch = (from: number): Buffer => wsFrames(0x1, Array.from({ length: BATCH }, (_, i) => (i % 2 ? '2' : `42${from + i}["x",1]`)));

const kinds = [
  { name: 'pings (R4)', batch: (_: number) => PINGS },
  { name: 'pings and events asking for an ack (R5)', batch: ackedBatch },
];
for (const kind of kinds) {
  t.test(`a Socket.IO Kit-Manager that stops reading and floods ${kind.name}`, async (t) => {
    // The agent leaves a session it cannot read from once pingInterval + pingTimeout pass without a ping read (4 s).
    const km = await RawKitManager.start({ intervalMs: 1000, timeoutMs: 3000 });
    t.teardown(() => km.close());
    const agent = await startAgent(t, { env: SAFE_ENV, config: { kitManager: { url: km.url, reconnect: { minMs: 50, maxMs: 500 } } } });
    t.teardown(() => agent.stop('SIGKILL'));
    t.ok(await km.waitRegistered(0), 'the agent registers with the hand-written Kit-Manager');

    await attack(t, summary, `${kind.name} for ${FLOOD_MS / 1000} s`, agent, async () => {
      const peak = new Peak(agent);
      const lost0 = agent.logs.filter((l) => l.msg === 'kit-manager not reading; dropping the link and reconnecting').length;
      const t0 = Date.now();
      let sent = 0;
      let sessions = 0;
      let flooded: unknown = null;
      while (Date.now() - t0 < FLOOD_MS) {
        const s = km.session;
        // Each session is flooded once it is registered (a Kit-Manager that stops reading before the handshake is
        // another fault: kitManager.connectTimeoutMs).
        if (s !== flooded) {
          if (!s || !km.isRegistered(s)) { await sleep(10); continue; }
          km.stopReading();
          flooded = s;
          sessions++;
        }
        if (km.unsent > OWN_BACKLOG) { await sleep(5); continue; }
        if (km.sendRaw(kind.batch(sent))) sent += BATCH;
        await new Promise((r) => setImmediate(r));
      }
      const after = await pingsAfter(agent, 20);
      // The Kit-Manager restarts (what it sent is in kernel buffers, read at the pace of the pongs): the agent
      // registers again and serves it.
      const regs = km.registrations;
      km.dropSession();
      const back = await km.waitRegistered(regs);
      km.send(`42${JSON.stringify(['messageToKit', { cmd: 'get-runtime-info', request_from: `after-${kind.name}` }])}`, `after-${kind.name}`, 'get-runtime-info after the flood');
      const owed = await km.drain(CEILING_MS);
      const grew = peak.stop();
      const drops = agent.logs.filter((l) => l.msg === 'kit-manager not reading; dropping the link and reconnecting').length - lost0;
      summary.data.framesFuzzed += sent;
      summary.data.figures[`${kind.name}: frames sent, sessions flooded, links dropped`] = `${sent}, ${sessions}, ${drops}`;
      summary.data.figures[`${kind.name}: agent RSS growth, peak (MB)`] = grew;
      t.ok(grew <= RSS_BOUND / MB, `agent RSS grew ${grew} MB at the peak (bound ${RSS_BOUND / MB} MB; ${sent} frames, ${sessions} sessions)`);
      const answered = reportPingsAfter(t, summary, kind.name, after);
      t.ok(back, 'the Kit-Manager is served again once it reads');
      t.same(owed, [], 'a command after the flood is answered');
      return grew <= RSS_BOUND / MB && answered && back && owed.length === 0;
    });
    summary.data.crashes += caughtCrashes(agent).length;
  });
}

t.test('a plain-ws controller that stops reading and floods', async (t) => {
  const server = await loopbackWsServer(t);
  const conns: import('ws').WebSocket[] = [];
  server.wss.on('connection', (ws) => { ws.on('error', () => {}); conns.push(ws); });
  const agent = await startAgent(t, { env: SAFE_ENV, config: { kitManager: { url: `ws://127.0.0.1:${server.port}/ctl`, protocol: 'ws', reconnect: { minMs: 50, maxMs: 500 } } } });
  t.teardown(() => agent.stop('SIGKILL'));
  t.ok(await until(() => conns.length > 0, 15_000), 'the agent dials the controller');

  await attack(t, summary, `WebSocket pings and seed pings for ${FLOOD_MS / 1000} s (protocol ws)`, agent, async () => {
    const peak = new Peak(agent);
    const ws = conns[conns.length - 1]!;
    const sock = (ws as unknown as { _socket: import('node:net').Socket })._socket;
    ws.pause();
    // Half WebSocket pings (opcode 9, answered by the agent's pongs), half seed-000 ping requests.
    const wsPings = wsFrames(0x9, Array.from({ length: BATCH }, () => ''));
    const seedPings = (from: number) => wsFrames(0x1, Array.from({ length: BATCH / 10 }, (_, i) => JSON.stringify({ type: 'ping', id: from + i })));
    const t0 = Date.now();
    let sent = 0;
    while (Date.now() - t0 < FLOOD_MS && ws.readyState === 1) {
      if (sock.writableLength > OWN_BACKLOG) { await sleep(5); continue; }
      sock.write(wsPings);
      sock.write(seedPings(sent));
      sent += BATCH + BATCH / 10;
      await new Promise((r) => setImmediate(r));
    }
    const after = await pingsAfter(agent, 20);
    // The controller restarts: the agent dials again and a request on the new connection is answered.
    const n0 = conns.length;
    ws.terminate();
    const redialled = await until(() => conns.length > n0 && conns[conns.length - 1]!.readyState === 1, 15_000);
    const fresh = conns[conns.length - 1]!;
    const served = redialled && await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 15_000);
      fresh.on('message', (d) => { if (d.toString().includes('"after-flood"')) { clearTimeout(timer); resolve(true); } });
      fresh.send(JSON.stringify({ type: 'ping', id: 'after-flood' }));
    });
    const grew = peak.stop();
    summary.data.framesFuzzed += sent;
    summary.data.figures['protocol ws: frames sent'] = sent;
    summary.data.figures['protocol ws: agent RSS growth, peak (MB)'] = grew;
    t.ok(grew <= RSS_BOUND / MB, `agent RSS grew ${grew} MB at the peak (bound ${RSS_BOUND / MB} MB; ${sent} frames)`);
    const answered = reportPingsAfter(t, summary, 'protocol ws', after);
    t.ok(served, 'the agent dials the restarted controller and serves it');
    return grew <= RSS_BOUND / MB && answered && served;
  });
  summary.data.crashes += caughtCrashes(agent).length;
});

