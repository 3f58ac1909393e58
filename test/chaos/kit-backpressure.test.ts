// Section "kit-backpressure" — a Kit-Manager that stops reading from its socket but keeps writing to it (the
// hand-written Engine.IO server of raw-kit-manager.ts, its socket paused): it floods pings, or pings and events that
// ask for an ack and a reply. Pings alone: the agent answers a burst of 20, then twenty a second, and reads the peer at
// that pace, so nothing piles up and the session is kept. With events: their acks and replies pile up unsent; above
// api.sendBufferBytes or 1 000 frames the agent stops reading the peer, so its pings go unread and the dead-link
// timer drops the link (a log line, the reason in /health as kitManagerLastLoss), as the bound does at once past twice
// that or 10 000 frames. Either way the RSS stays bounded, the agent registers again and the new session is served.
// Then garbage at full speed from a Kit-Manager that reads: at most one warning line a second, RSS bounded. The
// liveness probe (ping and /health answered throughout) and RSS before/after per attack. The 1-byte floods of the
// 2026-12-07 red team are in kit-flood.test.ts.
import t from 'tap';
import { CEILING_MS, startAgent } from '../helpers/agent';
import { MB, Summary, attack, caughtCrashes, count, rssOf, seedFor, sleep, until } from './lib';
import { RawKitManager } from './raw-kit-manager';
import { SAFE_ENV } from './safe-env';

const SECTION = 'kit-backpressure';
const summary = new Summary(SECTION, seedFor(SECTION));
t.teardown(() => summary.write(t));

/** api.sendBufferBytes for this section: the link is dropped past twice this unsent. */
const SEND_BUFFER = 2 * MB;
/** What the agent may grow by: the unsent bound (twice SEND_BUFFER, 10 000 frames), the incoming flood being parsed. */
const RSS_BOUND = 64 * MB;
const ATTACKS = count(2, 5);
const DROP_WITHIN_MS = 30_000;
/** How long pings alone are sent (nothing piles up: the agent keeps the session). */
const PINGS_ONLY_MS = count(3000, 10_000);

t.test('a Kit-Manager that stops reading', async (t) => {
  const km = await RawKitManager.start({ intervalMs: 1000, timeoutMs: 3000 });
  t.teardown(() => km.close());
  const agent = await startAgent(t, {
    env: SAFE_ENV,
    config: { api: { sendBufferBytes: SEND_BUFFER }, kitManager: { url: km.url, reconnect: { minMs: 50, maxMs: 500 } } },
  });
  t.teardown(() => agent.stop('SIGKILL'));
  t.ok(await km.waitRegistered(0), 'the agent registers with the hand-written Kit-Manager');

  // Pings carry 60 characters of data (the wire allows 64), which each pong echoes.
  const ping = (i: number) => `2${'p'.repeat(58)}${String(i % 100).padStart(2, '0')}`;
  const kinds = [
    { name: 'pings only', frame: ping, leaves: false },
    // An event with an ack id gets the ack and, being a command, its reply (messageToKit-kitReply).
    { name: 'pings, and events asking for an ack', frame: (i: number) => (i % 2 ? ping(i) : `42${i}${JSON.stringify(['messageToKit', { cmd: 'get-runtime-info', request_from: `flood-${i}` }])}`), leaves: true },
  ];
  for (let k = 0; k < ATTACKS; k++) {
    const kind = kinds[k % kinds.length]!;
    await attack(t, summary, `${kind.name} (#${k + 1})`, agent, async () => {
      const regs = km.registrations;
      const conns = km.connections;
      const session = km.session;
      const pongs0 = km.pongs;
      t.ok(km.stopReading(), 'the Kit-Manager stops reading its socket');
      const rss0 = rssOf(agent.proc.pid) ?? 0;
      let peak = rss0;
      const t0 = Date.now();
      let sent = 0;
      // Writes as fast as its own socket lets it, until the agent leaves the session (or, for pings alone, for a while).
      const until0 = t0 + (kind.leaves ? DROP_WITHIN_MS : PINGS_ONLY_MS);
      while (km.session === session && session!.readyState === 1 && Date.now() < until0) {
        if (session!.bufferedAmount > 4 * MB) { await sleep(5); } else {
          for (let i = 0; i < 200; i++) session!.send(kind.frame(sent++));
          await new Promise((r) => setImmediate(r));
        }
        peak = Math.max(peak, rssOf(agent.proc.pid) ?? 0);
      }
      const floodMs = Date.now() - t0;
      let held: boolean;
      if (kind.leaves) {
        const back = await km.waitRegistered(regs);
        const health = await fetch(agent.healthUrl).then((r) => r.json()) as { kitManagerLastLoss?: { reason?: string } | null };
        const logged = agent.logs.some((l) => l.msg === 'kit-manager not reading; dropping the link and reconnecting');
        summary.data.figures[`${kind.name} (#${k + 1}): frames sent until the agent left, ms`] = `${sent}, ${floodMs}`;
        t.ok(back && km.connections > conns, `the agent dropped the session and registered again (${floodMs} ms, ${sent} frames sent)`);
        t.ok(logged, 'the agent logged why it left');
        t.match(health.kitManagerLastLoss?.reason, /not reading/, `/health says why: ${health.kitManagerLastLoss?.reason}`);
        held = back && logged && /not reading/.test(health.kitManagerLastLoss?.reason ?? '');
      } else {
        // Nothing piles up: the agent answers twenty pings a second (after a burst of 20) and reads the peer at that
        // pace. It keeps the session; once the Kit-Manager reads again, the pongs it gets are the paced ones.
        const kept = km.session === session;
        km.resumeReading();
        await until(() => km.pongs > pongs0);
        await sleep(1000);
        const pongs = km.pongs - pongs0;
        // At most one pong per 50 ms since the flood began (counted to now: the backlog is read at that pace), plus
        // the burst of 20 and 20 of slack.
        const allowed = Math.ceil((Date.now() - t0) / 50) + 20 + 20;
        summary.data.figures[`${kind.name} (#${k + 1}): frames sent, pongs back, ms`] = `${sent}, ${pongs}, ${floodMs}`;
        t.ok(kept, `the agent kept the session (${floodMs} ms, ${sent} pings)`);
        t.ok(pongs <= allowed, `${sent} pings got ${pongs} pongs (paced: at most ${allowed})`);
        // The Kit-Manager restarts; the agent registers again.
        km.dropSession();
        held = kept && pongs <= allowed && await km.waitRegistered(regs);
      }
      peak = Math.max(peak, rssOf(agent.proc.pid) ?? 0);
      const grew = peak - rss0;
      summary.data.figures[`${kind.name} (#${k + 1}): agent RSS growth, peak (MB)`] = +(grew / MB).toFixed(1);
      t.ok(grew < RSS_BOUND, `agent RSS grew ${(grew / MB).toFixed(1)} MB at most (bound ${RSS_BOUND / MB} MB)`);
      // The new session is served: a command gets its reply.
      await until(() => km.registered, 5000);
      km.send(`42${JSON.stringify(['messageToKit', { cmd: 'get-runtime-info', request_from: `after-${k}` }])}`, `after-${k}`, 'get-runtime-info after the redial');
      const owed = await km.drain(CEILING_MS);
      t.same(owed, [], 'the new session answers a command');
      return held && grew < RSS_BOUND && owed.length === 0;
    });
  }

  // Garbage at full speed from a Kit-Manager that does read: nothing to answer, but each frame used to be a log line,
  // and lines stdout does not take in time wait in the agent's memory.
  await attack(t, summary, 'malformed frames at full speed', agent, async () => {
    const session = km.session!;
    const logs0 = agent.logs.filter((l) => l.msg === 'kit-manager sent a malformed frame; ignored').length;
    const rss0 = rssOf(agent.proc.pid) ?? 0;
    let peak = rss0;
    const ms = count(4000, 20_000);
    const t0 = Date.now();
    let sent = 0;
    while (Date.now() - t0 < ms) {
      if (session.bufferedAmount > 4 * MB) await sleep(5);
      else { for (let i = 0; i < 200; i++) { session.send(`2${'x'.repeat(70)}${sent++}`); } await new Promise((r) => setImmediate(r)); }
      peak = Math.max(peak, rssOf(agent.proc.pid) ?? 0);
    }
    await sleep(1500);
    const lines = agent.logs.filter((l) => l.msg === 'kit-manager sent a malformed frame; ignored').length - logs0;
    const grew = peak - rss0;
    const bound = Math.ceil(ms / 1000) + 2;
    summary.data.figures['malformed frames: sent, warning lines logged'] = `${sent}, ${lines}`;
    summary.data.figures['malformed frames: agent RSS growth, peak (MB)'] = +(grew / MB).toFixed(1);
    t.ok(lines <= bound, `${sent} malformed frames made ${lines} warning lines (at most one a second: ${bound})`);
    t.ok(grew < RSS_BOUND, `agent RSS grew ${(grew / MB).toFixed(1)} MB at most (bound ${RSS_BOUND / MB} MB)`);
    t.ok(km.registered && km.session === session, 'the session survived the garbage');
    return lines <= bound && grew < RSS_BOUND && km.session === session;
  });
  summary.data.crashes += caughtCrashes(agent).length;
});
