// Section "network-edges" — what arrives on the local API and health ports before anyone has authenticated:
//   - idle and reconnecting unauthenticated sockets must not lock the token holder out (only authenticated clients
//     count against api.maxClients);
//   - unauthenticated sockets that send frames up to api.maxPayloadBytes must be cut off after a few KiB, so they pin
//     no memory;
//   - half-sent HTTP upgrade requests (and half-sent health requests) must time out, and the agent's descriptors stay
//     bounded while they come;
//   - when the agent is out of file descriptors (EMFILE), a deploy says so (LIMIT), not "make dataDir writable",
//     connections beyond the limit are dropped without harm, and everything works again once sockets close.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import WebSocket from 'ws';
import { ApiClient, startAgent, within } from '../helpers/agent';
import { MB, Summary, attack, caughtCrashes, count, req, rssOf, seedFor, sleep, until } from './lib';
import { SAFE_ENV } from './safe-env';

const SECTION = 'network-edges';
const summary = new Summary(SECTION, seedFor(SECTION));
t.teardown(() => summary.write(t));

const TOKEN = 'edge-token-0123456789';
const fdsOf = (pid: number): number => { try { return fs.readdirSync(`/proc/${pid}/fd`).length; } catch { return -1; } };

/** A WebSocket that opens and then sends nothing (or `send` once open); resolves once open or failed. */
function stranger(url: string, send?: string | Buffer): Promise<WebSocket> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url);
    ws.on('error', () => {});
    ws.once('open', () => { if (send !== undefined) ws.send(send); resolve(ws); });
    ws.once('close', () => resolve(ws));
    ws.once('unexpected-response', () => resolve(ws));
  });
}

const CHUNK = Buffer.alloc(256 * 1024, 0x61);

/**
 * A raw WebSocket client that upgrades, then streams one masked text frame of `size` bytes (from one shared buffer,
 * so the test itself holds no copies), minding backpressure. Resolves with the payload bytes it could write before
 * the agent closed the socket.
 */
function floodFrame(port: number, size: number): Promise<number> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let sent = 0;
    let upgraded = false;
    const done = () => resolve(sent);
    s.on('error', () => {});
    s.once('close', done);
    s.once('connect', () => s.write(`GET /runtime HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${Buffer.alloc(16, 7).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`));
    s.on('data', (d) => {
      if (upgraded || !d.toString('latin1').startsWith('HTTP/1.1 101')) return;
      upgraded = true;
      const head = Buffer.alloc(14);
      head[0] = 0x81; head[1] = 0x80 | 127;
      head.writeBigUInt64BE(BigInt(size), 2);
      // mask key 0: the payload goes out as it is
      s.write(head);
      const pump = () => {
        while (sent < size && !s.destroyed) {
          const n = Math.min(CHUNK.length, size - sent);
          sent += n;
          if (!s.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) { s.once('drain', pump); return; }
        }
      };
      pump();
    });
  });
}

async function tokenHolder(url: string, how: 'header' | 'frame'): Promise<string> {
  const c = await ApiClient.connect(url, how === 'header' ? { authorization: `Bearer ${TOKEN}` } : {});
  try {
    if (c.closeCode !== null) return `closed ${c.closeCode}`;
    if (how === 'frame') {
      c.send({ type: 'auth', id: 'a', token: TOKEN });
      const a = await c.waitFor((f) => f.type === 'auth-response').catch((e: Error) => ({ type: e.message }));
      if (a.type !== 'auth-response') return `auth: ${String(a.type)}`;
    }
    const p = await req(c, { type: 'ping' }).catch((e: Error) => ({ type: e.message }));
    return String(p.type);
  } finally {
    // Until the close handshake is done: the agent counts this client against api.maxClients until then.
    c.close();
    await within(c.closed(), 'the close handshake');
  }
}

t.test('unauthenticated sockets', async (t) => {
  const maxClients = 8;
  const agent = await startAgent(t, { env: SAFE_ENV, config: { api: { token: TOKEN, maxClients } } });
  const probe = await ApiClient.connect(agent.apiUrl, { authorization: `Bearer ${TOKEN}` });
  t.teardown(() => probe.close());

  await attack(t, summary, `idle and reconnecting strangers (${4 * maxClients} idle, a reconnect loop) vs api.maxClients ${maxClients}`, agent, async () => {
    const idle = await Promise.all(Array.from({ length: 4 * maxClients }, () => stranger(agent.apiUrl)));
    t.teardown(() => { for (const ws of idle) ws.terminate(); });
    let looping = true;
    const loop = (async () => {
      while (looping) {
        const ws = await stranger(agent.apiUrl);
        await sleep(5);
        ws.terminate();
      }
    })();
    const got: string[] = [];
    // the token holder, with a header and with a first frame, while the strangers sit there and keep coming
    for (let i = 0; i < 5; i++) { got.push(await tokenHolder(agent.apiUrl, 'header')); got.push(await tokenHolder(agent.apiUrl, 'frame')); }
    looping = false;
    await loop;
    // the authenticated ones still count: maxClients of them, then 1013 for the next
    // One at a time, each answering a ping: a token holder's close still in flight must not take one of the places.
    const held: ApiClient[] = [];
    t.teardown(() => { for (const c of held) c.close(); });
    for (let tries = 0; held.length < maxClients - 1 && tries < 50; tries++) {
      const c = await ApiClient.connect(agent.apiUrl, { authorization: `Bearer ${TOKEN}` });
      const p = await req(c, { type: 'ping' }).catch(() => null);
      if (p?.type === 'pong') held.push(c); else { c.close(); await sleep(100); }
    }
    t.equal(held.length, maxClients - 1, `${maxClients - 1} more token holders served beside the probe`);
    const over = await ApiClient.connect(agent.apiUrl, { authorization: `Bearer ${TOKEN}` });
    const overCode = await within(over.closed(), 'the over-limit client closed').catch(() => null);
    over.close();
    t.same(got, Array(10).fill('pong'), 'the token holder was served every time');
    t.equal(overCode, 1013, `authenticated clients beyond api.maxClients are refused with 1013 (${String(overCode)})`);
    return got.every((g) => g === 'pong') && overCode === 1013;
  }, { probe });

  await attack(t, summary, 'unauthenticated sockets sending frames of api.maxPayloadBytes', agent, async () => {
    const n = count(16, 64);
    const rss0 = rssOf(agent.proc.pid) ?? 0;
    let peak = rss0;
    const sampler = setInterval(() => { peak = Math.max(peak, rssOf(agent.proc.pid) ?? 0); }, 50);
    const t0 = Date.now();
    const written = await within(Promise.all(Array.from({ length: n }, () => floodFrame(agent.apiPort, 16 * MB - 4096))), 'every flooding socket cut off').catch(() => null);
    const closed = written !== null;
    const closeMs = Date.now() - t0;
    await sleep(300);
    clearInterval(sampler);
    const growth = (peak - rss0) / MB;
    summary.data.figures[`${n} × 16 MiB pre-auth frames: payload written before the cut (MB, most of it kernel buffers)`] = written ? Number((Math.max(...written) / MB).toFixed(1)) : 'not cut';
    summary.data.figures[`${n} × 16 MiB pre-auth frames: agent RSS growth (MB)`] = Number(growth.toFixed(1));
    summary.data.figures[`${n} × 16 MiB pre-auth frames: all cut off within (ms)`] = closeMs;
    t.ok(closed, `every flooding socket was cut off (${closeMs} ms)`);
    t.ok(growth < 64, `the agent did not hold the frames: RSS grew ${growth.toFixed(1)} MB for ${n} × 16 MiB sent`);
    return closed && growth < 64;
  }, { probe });
  summary.data.crashes += caughtCrashes(agent).length;
});

/** Opens a TCP connection and sends the start of an HTTP request that never ends. */
function halfSent(port: number, head: string): Promise<net.Socket> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.on('error', () => {});
    s.once('connect', () => { s.write(head); resolve(s); });
    s.once('close', () => resolve(s));
  });
}

t.test('half-sent requests time out; descriptors stay bounded', async (t) => {
  const agent = await startAgent(t, { env: SAFE_ENV });
  const probe = await ApiClient.connect(agent.apiUrl);
  t.teardown(() => probe.close());
  const n = count(300, 1500);
  const fds0 = fdsOf(agent.proc.pid!);
  let fdsPeak = fds0;
  await attack(t, summary, `${n} half-sent upgrade requests and ${n / 5} half-sent health requests`, agent, async () => {
    const sampler = setInterval(() => { fdsPeak = Math.max(fdsPeak, fdsOf(agent.proc.pid!)); }, 100);
    const socks: net.Socket[] = [];
    for (let i = 0; i < n; i++) socks.push(await halfSent(agent.apiPort, 'GET /runtime HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'));
    for (let i = 0; i < n / 5; i++) socks.push(await halfSent(agent.healthPort, 'GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n'));
    t.teardown(() => { for (const s of socks) s.destroy(); });
    const gone = await until(() => socks.every((s) => s.destroyed || s.readyState === 'closed' || s.readableEnded), 20_000, 250);
    clearInterval(sampler);
    const open = socks.filter((s) => !(s.destroyed || s.readyState === 'closed' || s.readableEnded)).length;
    summary.data.figures[`half-sent requests: agent fds before / peak`] = `${fds0} / ${fdsPeak}`;
    summary.data.figures['half-sent requests still open after 20 s'] = open;
    t.ok(gone, `every half-sent request was closed by the agent (${open} of ${socks.length} still open)`);
    // the API allows 2 × maxClients + 64 connections, health 64: what the flood can hold at most
    t.ok(fdsPeak - fds0 <= 2 * 64 + 64 + 64 + 16, `descriptors stayed bounded: ${fds0} → peak ${fdsPeak}`);
    return gone;
  }, { probe });
  summary.data.crashes += caughtCrashes(agent).length;
});

t.test('out of file descriptors: reported as what it is', async (t) => {
  const agent = await startAgent(t, { env: SAFE_ENV, config: { api: { maxClients: 500 } } });
  const probe = await ApiClient.connect(agent.apiUrl);
  t.teardown(() => probe.close());
  const pid = agent.proc.pid!;
  // Health through one kept-alive socket, as a monitor does: it needs no new descriptor.
  await fetch(agent.healthUrl);
  await attack(t, summary, 'EMFILE: a deploy while the agent is out of file descriptors', agent, async () => {
    const limit = fdsOf(pid) + 24;
    t.equal(spawnSync('prlimit', ['--pid', String(pid), `--nofile=${limit}:${limit}`]).status, 0, `open files limited to ${limit}`);
    const flood: WebSocket[] = [];
    t.teardown(() => { for (const w of flood) w.terminate(); });
    for (let i = 0; i < 60; i++) flood.push(await stranger(agent.apiUrl));
    await until(() => flood.some((w) => w.readyState === WebSocket.CLOSED));
    const dropped = flood.filter((w) => w.readyState === WebSocket.CLOSED).length;
    summary.data.figures['EMFILE: connections beyond the descriptor limit dropped'] = `${dropped} of 60`;
    t.ok(dropped > 0, `connections beyond the limit were dropped (${dropped} of 60)`);
    const dep = await req(probe, { type: 'deploy_request', prototype: { id: 'nofd', name: 'NoFd', type: 'python', code: 'print(1)\n', config: {} } });
    t.equal(dep.code, 'LIMIT', `the deploy is refused with LIMIT (${String(dep.code)}: ${String(dep.error)})`);
    t.match(String(dep.error), /too many files open \(EMFILE\)/, 'and says the agent is out of file descriptors');
    t.notMatch(String(dep.error), /dataDir/, 'not that dataDir should be made writable');
    for (const w of flood) w.terminate();
    await until(() => fdsOf(pid) < limit - 8, 10_000);
    const again = await req(probe, { type: 'deploy_request', prototype: { id: 'nofd', name: 'NoFd', type: 'python', code: 'print(1)\n', config: {} } });
    t.equal(again.type, 'deploy_request-response', 'with descriptors free again the deploy works');
    spawnSync('prlimit', ['--pid', String(pid), '--nofile=65536:65536']);
    return dep.code === 'LIMIT' && again.type === 'deploy_request-response' && caughtCrashes(agent).length === 0;
  }, { probe });
  summary.data.crashes += caughtCrashes(agent).length;
  t.equal(caughtCrashes(agent).length, 0, 'no accept failure escaped as an unexpected error');
});
