// KitLink with an injected clock against a raw Engine.IO peer: reconnect delays double from minMs up to maxMs and
// start again from minMs after a connection that stayed up a (simulated) minute; status follows registration.
import t from 'tap';
import pino from 'pino';
import type { WebSocket } from 'ws';
import { loopbackWsServer } from './helpers/ws-server';
import { loadConfig } from '../src/config';
import { KitLink } from '../src/doors/kit-link';
import type { LinkClock } from '../src/doors/backoff';
import type { Parts } from '../src/parts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test('backoff doubles, caps, and resets after a stable minute', async (t) => {
  const { wss, port } = await loopbackWsServer(t);
  let current: WebSocket | null = null;
  let registrations = 0;
  wss.on('connection', (ws) => {
    current = ws;
    // Long ping window: only the test ends connections.
    ws.send('0{"sid":"u","upgrades":[],"pingInterval":600000,"pingTimeout":600000}');
    ws.on('message', (d) => {
      const s = d.toString();
      if (s === '40') ws.send('40{"sid":"n"}');
      if (s.startsWith('42["register_kit"')) registrations++;
    });
  });

  const { config } = loadConfig(null, {
    SDV_AGENT_RUNTIME_NAME: 'Unit', SDV_AGENT_KIT_MANAGER_URL: `http://127.0.0.1:${port}`,
    SDV_AGENT_KIT_MANAGER_RECONNECT_MIN_MS: '10', SDV_AGENT_KIT_MANAGER_RECONNECT_MAX_MS: '80',
  });
  const parts = {
    config, log: pino({ level: 'silent' }),
    runtime: { runtimeId: 'r', kitId: config.runtime.kitId, name: 'Unit', version: '0', startedAt: Date.now(), notices: [] },
    status: { kitManager: { configured: true, connected: false, url: config.kitManager.url, droppedReplies: 0 }, kuksa: { mode: 'embedded', connected: true, address: '', api: 'auto' } },
  } as unknown as Parts;

  let fakeNow = 1_000_000;
  const reconnectDelays: number[] = [];
  const clock: LinkClock = {
    now: () => fakeNow,
    setTimeout: (fn, ms) => {
      // The link's other timers use fixed values (handshake 20 s, state report 1 s, ping window 20 min).
      if (ms <= 80) reconnectDelays.push(ms);
      const h = setTimeout(fn, ms);
      h.unref();
      return h;
    },
    clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
    random: () => 0.999999,
  };
  const link = new KitLink(parts, { clock });
  t.teardown(() => link.stop());

  const waitRegistrations = async (n: number) => {
    const deadline = Date.now() + 10_000;
    while (registrations < n && Date.now() < deadline) await sleep(5);
    t.equal(registrations, n, `registration ${n}`);
  };
  t.equal(parts.status.kitManager.connected, false, 'not connected before registering');
  link.start();
  await waitRegistrations(1);
  t.equal(parts.status.kitManager.connected, true);

  for (let i = 2; i <= 6; i++) {
    current!.terminate();
    await waitRegistrations(i);
  }
  t.same(reconnectDelays, [10, 20, 40, 80, 80], 'doubling from minMs, capped at maxMs (max jitter)');

  fakeNow += 61_000; // the last connection has now been up for over a minute
  current!.terminate();
  await waitRegistrations(7);
  t.equal(reconnectDelays.at(-1), 10, 'after a stable minute the next delay starts again from minMs');

  current!.terminate();
  await sleep(1);
  t.equal(parts.status.kitManager.connected, false, 'not connected once the link is lost');
  await waitRegistrations(8);
  t.equal(reconnectDelays.at(-1), 20, 'and grows again from there');
  t.ok(link.emitEvent('x', {}), 'emits while registered');
  await link.stop();
  const dropped = parts.status.kitManager.droppedReplies;
  t.notOk(link.emitEvent('x', {}), 'dropped while down');
  t.equal(parts.status.kitManager.droppedReplies, dropped + 1, 'and counted');
});
