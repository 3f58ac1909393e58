// KitLink with an injected clock against the stand-in Kit-Manager (the real socket.io server), restarted on the same
// port after outages of 1 s, 60 s and 10 min (the long ones on a compressed clock: 100 virtual seconds per real second).
// With the default reconnect settings and the jitter pinned to its longest delays: no reconnect delay during an outage
// exceeds kitManager.reconnect.maxMs (so the link dials within maxMs of the Kit-Manager's return, whatever the outage
// lasted), and each registration starts the delays again from the first window (a second restart in a row is met as
// quickly as the first). The wall-clock figures are in bench/reconnect.ts.
import t from 'tap';
import pino from 'pino';
import { loadConfig } from '../src/config';
import { KitLink } from '../src/doors/kit/link';
import type { Parts } from '../src/parts';
import { CompressedClock } from './helpers/compressed-clock';
import { StandInKitManager } from './helpers/kit-manager';
import { eventually } from './helpers/scope';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** socket.io's default pingInterval + pingTimeout, which the stand-in Kit-Manager keeps. */
const PING_WINDOW_MS = 25_000 + 20_000;

function partsFor(url: string): Parts {
  const { config } = loadConfig(null, { SDV_AGENT_RUNTIME_NAME: 'Clocked', SDV_AGENT_KIT_MANAGER_URL: url });
  return {
    config, log: pino({ level: 'silent' }),
    runtime: { runtimeId: 'r', kitId: config.runtime.kitId, name: 'Clocked', version: '0', startedAt: Date.now(), notices: [] },
    status: { kitManager: { configured: true, connected: false, url, droppedReplies: 0 }, kuksa: { mode: 'embedded', connected: true, address: '', api: 'auto' } },
  } as unknown as Parts;
}

t.test('after outages of 1 s, 60 s and 10 min the link dials within maxMs of the return', async (t) => {
  let km = await StandInKitManager.start();
  const port = km.port;
  t.teardown(() => km.close());
  const parts = partsFor(km.url);
  const { minMs, maxMs } = parts.config.kitManager.reconnect;
  const handshakeMs = parts.config.kitManager.connectTimeoutMs;
  t.equal(maxMs, 4000, 'default cap');
  const clock = new CompressedClock(() => 0.999999);
  const link = new KitLink(parts, { clock });
  t.teardown(() => link.stop());
  link.start();
  await km.waitRegistration();

  for (const [label, outageMs, speed] of [['1 s', 1000, 1], ['60 s', 60_000, 100], ['10 min', 600_000, 100], ['60 s again', 60_000, 100]] as const) {
    const down = clock.now();
    await km.close();
    clock.setSpeed(speed);
    await sleep(clock.real(outageMs));
    clock.setSpeed(1);
    km = await StandInKitManager.start(port);
    const back = clock.now();
    await km.waitRegistration(() => true);
    const registered = clock.now();
    // Timers of the outage other than each dial's handshake deadline and the ping window armed once open: the
    // reconnect delays.
    const during = clock.scheduled.filter((s) => s.at >= down && s.at <= registered);
    const delays = during.filter((s) => s.ms !== handshakeMs && s.ms !== PING_WINDOW_MS).map((s) => s.ms);
    const dials = during.filter((s) => s.ms === handshakeMs).length;
    t.ok(delays.length >= 1, `${label}: the link redialled (${dials} dials, ${delays.length} delays)`);
    t.equal(delays[0], 2 * minMs, `${label}: the first delay after a registration is from the first window (${delays[0]} ms)`);
    t.ok(delays.every((d) => d <= maxMs), `${label}: no delay above maxMs ${maxMs} (longest ${Math.max(...delays)} ms)`);
    t.ok(km.kits.has(parts.runtime.kitId), `${label}: registered again`);
    t.equal(parts.status.kitManager.connected, true, `${label}: status says connected`);
    t.comment(`${label} outage: ${Math.round(back - down)} ms virtual down, registered ${Math.round(registered - back)} ms after the Kit-Manager's return`);
  }
  t.ok(link.emitEvent('x', {}), 'emits while registered');
  await km.close();
  await eventually('the link seen lost', () => !parts.status.kitManager.connected);
  t.equal(parts.status.kitManager.connected, false, 'not connected once the link is lost');
  const dropped = parts.status.kitManager.droppedReplies;
  t.notOk(link.emitEvent('x', {}), 'dropped while down');
  t.equal(parts.status.kitManager.droppedReplies, dropped + 1, 'and counted');
});
