// src/doors/send-bound.ts on a real WebSocket pair on loopback: the frames of one turn leave in one write; frames
// count as unsent until ws's write callback (never called in the same tick, so a burst is counted whole), congestion
// holds reading and half drained releases it, the hard bound, the reasons that hold reading; PongPacer on a manual
// clock.
import t, { type Test } from 'tap';
import type { AddressInfo } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import { ManualClock } from '../helpers/manual-clock';
import { PONG_BURST, PONG_EVERY_MS, PongPacer, SendBound, type SendLimits } from '../../src/doors/send-bound';

/** The server side of each pair, for the tests that read what was sent. */
const peerOf = new WeakMap<WebSocket, WebSocket>();

async function pair(t: Test): Promise<WebSocket> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await new Promise<void>((r) => wss.once('listening', () => r()));
  const peer = new Promise<WebSocket>((r) => wss.once('connection', r));
  const ws = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`);
  await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject); });
  const p = await peer;
  peerOf.set(ws, p);
  t.teardown(() => new Promise<void>((r) => { ws.terminate(); p.terminate(); wss.close(() => r()); }));
  return ws;
}

/** Frames bound small, bytes out of the way. */
const LIMITS: SendLimits = { softFrames: 10, hardFrames: 50, softBytes: 64 * 1024 * 1024, hardBytes: 128 * 1024 * 1024 };
const tick = () => new Promise((r) => setImmediate(r));

t.test('a burst is counted until written; above the soft bound reading is held, half drained released', async (t) => {
  const ws = await pair(t);
  let drained = 0;
  const bound = new SendBound(ws, LIMITS, () => drained++);
  for (let i = 0; i < 10; i++) bound.send(`frame ${i}`);
  t.equal(bound.unsentFrames, 10, 'ten frames unsent in this tick');
  t.notOk(bound.congested(), 'at the soft bound: not congested');
  t.notOk(ws.isPaused, 'the peer is read');
  bound.send('frame 10');
  t.ok(bound.congested(), 'past it: congested');
  t.ok(bound.stalled && ws.isPaused, 'and the peer is not read');
  t.equal(bound.overflow(), null, 'still under the hard bound');
  await tick();
  t.equal(bound.unsentFrames, 0, 'written out');
  t.notOk(ws.isPaused, 'the peer is read again');
  t.equal(drained, 1, 'the end of the congestion is told once');
});

t.test('the frames of one turn leave in one write; the next turn\'s in another', async (t) => {
  const ws = await pair(t);
  // Node's own stream methods, counted (the socket is ws's, not the project's): one call is one system call's worth.
  const socket = (ws as unknown as { _socket: { _writev: (...a: unknown[]) => unknown; _write: (...a: unknown[]) => unknown } })._socket;
  const calls = { writev: 0, write: 0 };
  const writev = socket._writev.bind(socket);
  const write = socket._write.bind(socket);
  socket._writev = (...a) => { calls.writev++; return writev(...a); };
  socket._write = (...a) => { calls.write++; return write(...a); };
  const received: string[] = [];
  peerOf.get(ws)!.on('message', (d) => received.push(String(d)));
  const bound = new SendBound(ws, { ...LIMITS, softFrames: 1000, hardFrames: 5000 });
  for (let i = 0; i < 200; i++) bound.send(`line ${i}`);
  t.equal(calls.writev + calls.write, 0, 'nothing written while the turn runs');
  await tick();
  t.equal(calls.writev + calls.write, 1, `200 frames in one write (writev ${calls.writev}, write ${calls.write})`);
  t.equal(bound.unsentFrames, 0, 'all written out');
  bound.send('next turn');
  await tick();
  t.equal(calls.writev + calls.write, 2, 'the next turn\'s frame in a write of its own');
  while (received.length < 201) await tick();
  t.same(received, [...Array.from({ length: 200 }, (_, i) => `line ${i}`), 'next turn'], 'every frame arrives, in order');
});

t.test('the hard bound says why', async (t) => {
  const ws = await pair(t);
  const bound = new SendBound(ws, LIMITS);
  for (let i = 0; i < 49; i++) bound.send('x');
  t.equal(bound.overflow(), null);
  bound.control('pong');
  t.match(bound.overflow(), /^50 frames unsent \(at most 50\)$/, 'pongs count as frames too');
  await tick();
  t.equal(bound.overflow(), null, 'gone once written');
});

t.test('reading is held while any reason holds it', async (t) => {
  const ws = await pair(t);
  const bound = new SendBound(ws, LIMITS);
  bound.hold('requests', true);
  bound.hold('pings', true);
  t.ok(ws.isPaused);
  bound.hold('requests', false);
  t.ok(ws.isPaused, 'one reason left');
  bound.hold('pings', false);
  t.notOk(ws.isPaused, 'none left: read again');
  bound.hold('pings', false);
  t.notOk(ws.isPaused, 'releasing twice changes nothing');
});

t.test('pongs are paced: a burst of PONG_BURST at once, then one per PONG_EVERY_MS with the latest data; none while congested', async (t) => {
  const ws = await pair(t);
  const clock = new ManualClock();
  const bound = new SendBound(ws, LIMITS, () => pacer.flush());
  const sent: string[] = [];
  const pacer: PongPacer<string> = new PongPacer(bound, clock, (d) => sent.push(d));
  for (let i = 0; i < PONG_BURST; i++) pacer.ping(`b${i}`);
  t.equal(sent.length, PONG_BURST, 'a burst is answered at once');
  t.notOk(ws.isPaused);
  pacer.ping('x');
  pacer.ping('y');
  t.equal(sent.length, PONG_BURST, 'past it, pings wait');
  t.ok(ws.isPaused, 'and the peer is not read meanwhile');
  clock.advance(PONG_EVERY_MS);
  t.same(sent.slice(PONG_BURST), ['y'], 'then one pong, with the latest ping\'s data');
  t.notOk(ws.isPaused, 'and the peer is read again');
  // A peer that pings every 100 ms, late or early by 40 ms, is always answered at once.
  let late = 0;
  for (let i = 0; i < 50; i++) {
    clock.advance(i % 2 ? 60 : 140);
    const before = sent.length;
    pacer.ping(`p${i}`);
    if (sent.length === before) late++;
  }
  t.equal(late, 0, 'a peer pinging every 100 ms with jitter never waits');
  clock.advance(PONG_EVERY_MS * PONG_BURST);
  for (let i = 0; i < 11; i++) bound.send('x');
  t.ok(bound.congested());
  pacer.ping('d');
  t.equal(sent.at(-1), 'p49', 'no pong while congested');
  await tick();
  t.equal(sent.at(-1), 'd', 'the pong goes when the congestion ends');
  for (let i = 0; i < PONG_BURST + 1; i++) pacer.ping('e');
  pacer.dispose();
  const n = sent.length;
  clock.advance(PONG_EVERY_MS * 2);
  t.equal(sent.length, n, 'nothing after dispose');
});
