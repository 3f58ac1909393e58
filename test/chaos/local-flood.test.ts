// Section "local-flood" — a local-API client that stops reading and floods the agent as fast as it can (issue 30: the
// Kit-Manager's flood bound, "the same for a local-API client"): masked WebSocket pings (each owed a pong), seed `ping`
// requests and `get_runtime_info` requests (each owed a reply frame), raw ready-made frames written to the TCP socket
// for 4 s (15 s in the full form), this side keeping at most 4 MiB unsent. The agent runs with the default
// api.sendBufferBytes. It must grow by at most 64 MB whatever the client does, answer other clients' pings during the
// flood (the liveness probe) and right after it (the round trip is a figure: the 100 ms of the issue is the
// benchmark's bound, not this test's), and serve a new client after it.
import t from 'tap';
import WebSocket from 'ws';
import { ApiClient, startAgent } from '../helpers/agent';
import { FLOOD_RSS_BOUND_MB, Peak, pingsAfter, reportPingsAfter, wsFrames } from './flood';
import { MB, Summary, attack, caughtCrashes, count, seedFor, sleep } from './lib';

const SECTION = 'local-flood';
const summary = new Summary(SECTION, seedFor(SECTION));
t.teardown(() => summary.write(t));

const FLOOD_MS = count(4000, 15_000);
const BATCH = 2000;
const OWN_BACKLOG = 4 * MB;

const kinds = [
  { name: 'WebSocket pings', batch: (_: number) => wsFrames(0x9, Array.from({ length: BATCH }, () => ''), true) },
  { name: 'seed pings', batch: (from: number) => wsFrames(0x1, Array.from({ length: BATCH }, (_, i) => JSON.stringify({ type: 'ping', id: from + i })), true) },
  { name: 'get_runtime_info requests', batch: (from: number) => wsFrames(0x1, Array.from({ length: BATCH }, (_, i) => JSON.stringify({ type: 'get_runtime_info', id: from + i })), true) },
];

for (const kind of kinds) {
  t.test(`a local client that stops reading and floods ${kind.name}`, async (t) => {
    const agent = await startAgent(t);
    t.teardown(() => agent.stop('SIGKILL'));
    const ws = new WebSocket(agent.apiUrl);
    ws.on('error', () => { /* the agent may drop it: what counts is checked below */ });
    t.teardown(() => ws.terminate());
    await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject); });
    const sock = (ws as unknown as { _socket: import('node:net').Socket })._socket;

    await attack(t, summary, `${kind.name} for ${FLOOD_MS / 1000} s`, agent, async () => {
      const peak = new Peak(agent);
      ws.pause();
      let closed = false;
      sock.once('close', () => { closed = true; });
      const t0 = Date.now();
      let sent = 0;
      while (Date.now() - t0 < FLOOD_MS && !closed) {
        if (sock.writableLength > OWN_BACKLOG) { await sleep(5); continue; }
        sock.write(kind.batch(sent));
        sent += BATCH;
        await new Promise((r) => setImmediate(r));
      }
      const after = await pingsAfter(agent, 20);
      ws.terminate();
      // A new client is served once the flooder is gone.
      const fresh = await ApiClient.connect(agent.apiUrl);
      const pong = await fresh.request({ type: 'ping', id: 'after-flood' }).catch(() => null);
      fresh.close();
      const grew = peak.stop();
      summary.data.framesFuzzed += sent;
      summary.data.figures[`${kind.name}: frames sent; the agent closed the flooder`] = `${sent}; ${closed}`;
      summary.data.figures[`${kind.name}: agent RSS growth, peak (MB)`] = grew;
      t.ok(grew <= FLOOD_RSS_BOUND_MB, `agent RSS grew ${grew} MB at the peak (bound ${FLOOD_RSS_BOUND_MB} MB; ${sent} frames; the flooder ${closed ? 'dropped' : 'kept'})`);
      const answered = reportPingsAfter(t, summary, kind.name, after);
      t.equal(pong?.type, 'pong', 'a new client is served after the flood');
      return grew <= FLOOD_RSS_BOUND_MB && answered && pong?.type === 'pong';
    });
    summary.data.crashes += caughtCrashes(agent).length;
  });
}
