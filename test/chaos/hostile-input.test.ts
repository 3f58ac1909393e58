// Section 4 — hostile input on the local API: structure-aware fuzzing of every message type (2 000 frames short,
// 100 000 full), raw garbage, binary frames, invalid UTF-8, oversized frames, raw TCP and HTTP garbage on both ports.
// Zero crashes, every request with a readable id answered, RSS bounded, and afterwards the agent still serves ping,
// /health and a deploy; nothing a client sent was written outside dataDir or run by a shell.
import t from 'tap';
import * as crypto from 'node:crypto';
import * as net from 'node:net';
import { ApiClient, CEILING_MS, getJson, startAgent } from '../helpers/agent';
import { FuzzClient } from './fuzz-client';
import { LOCAL_SEEDS, makeFuzzer } from './fuzz';
import { SAFE_ENV } from './safe-env';
import { MB, Summary, budgetEnd, checkAftermath, count, makeRng, roundsDone, rssOf, seedFor, until } from './lib';

const SECTION = 'hostile-input';

function rawTcp(port: number, bytes: Buffer): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let got = '';
    s.on('connect', () => { s.write(bytes); setTimeout(() => s.end(), 100); });
    s.on('data', (d) => { got += d.toString('latin1'); });
    s.on('error', () => resolve(got));
    s.on('close', () => resolve(got));
    setTimeout(() => { s.destroy(); resolve(got); }, 3000);
  });
}

t.test('hostile input on the local API', async (t) => {
  const seed = seedFor(SECTION);
  const rng = makeRng(seed);
  const summary = new Summary(SECTION, seed);
  const sentinel = `sdv-chaos-${crypto.randomBytes(4).toString('hex')}`;
  const agent = await startAgent(t, { env: SAFE_ENV, config: { apps: { maxApps: 20 } } });
  t.teardown(() => agent.stop('SIGKILL'));

  const probe = await ApiClient.connect(agent.apiUrl);
  t.teardown(() => probe.close());
  const rss0 = rssOf(agent.proc.pid) ?? 0;
  let rssPeak = rss0;

  // --- 1. structure-aware fuzzing over two connections ---
  const frames = count(2000, 100_000);
  const deadline = budgetEnd(300_000);
  const t0 = Date.now();
  const fuzz = makeFuzzer(rng, { nameKey: 'type', seeds: LOCAL_SEEDS, sentinel });
  const clients = [await FuzzClient.connect(agent.apiUrl), await FuzzClient.connect(agent.apiUrl)];
  t.teardown(() => { for (const c of clients) c.close(); });
  const BATCH = 100;
  let sent = 0;
  let unanswered = 0;
  while (sent < frames && Date.now() < deadline) {
    for (const c of clients) {
      for (let i = 0; i < BATCH && sent < frames; i++, sent++) {
        const f = fuzz();
        c.send(f.text, f.id, f.what);
      }
    }
    for (const c of clients) {
      const owed = await c.drain(CEILING_MS);
      unanswered += owed.length;
      for (const [id, what] of owed.slice(0, 3)) summary.finding(`no reply to ${id} (${what.slice(0, 120)})${c.closeCode !== null ? ` — socket closed ${c.closeCode}` : ''}`);
    }
    if (clients.some((c) => !c.open)) break;
    if (sent % 2000 < 2 * BATCH) rssPeak = Math.max(rssPeak, rssOf(agent.proc.pid) ?? 0);
  }
  summary.data.framesFuzzed += sent;
  roundsDone(t, sent, frames, 'fuzzed frames sent');
  t.ok(clients.every((c) => c.open), 'the agent kept both fuzzing connections open (valid JSON text never costs the connection)');
  t.equal(unanswered, 0, 'every fuzzed request with a readable id was answered');
  const internal = clients.flatMap((c) => c.internal);
  for (const i of internal.slice(0, 10)) summary.finding(`INTERNAL error for ${i.what.slice(0, 120)}: ${i.error}`);
  summary.data.figures.internalErrors = internal.length;

  // --- 2. raw garbage and protocol violations ---
  const g = await FuzzClient.connect(agent.apiUrl);
  const garbage: Array<{ text: string | Buffer; binary?: boolean; id: string | null; what: string }> = [];
  for (let i = 0; i < count(200, 2000); i++) garbage.push({ text: crypto.randomBytes(1 + rng.int(300)).toString('latin1'), id: null, what: 'random latin1' });
  for (let i = 0; i < count(50, 500); i++) garbage.push({ text: crypto.randomBytes(1 + rng.int(3000)), binary: true, id: null, what: 'binary frame' });
  garbage.push(
    { text: `{"type":"deploy_request","id":"deep-a","prototype":${'['.repeat(100_000)}${']'.repeat(100_000)}}`, id: 'deep-a', what: 'nesting 100 000 deep (arrays)' },
    { text: `{"type":"write_signals_value","id":"deep-o","data":${'{"a":'.repeat(50_000)}1${'}'.repeat(50_000)}}`, id: 'deep-o', what: 'nesting 50 000 deep (objects)' },
    { text: `{"type":"subscribe_apis","id":"wide","apis":[${Array.from({ length: 200_000 }, () => '"Vehicle.Speed"').join(',')}]}`, id: 'wide', what: '200 000 element array' },
    { text: `{"type":"ping","id":"dup","id":"dup2"}`, id: 'dup2', what: 'duplicate id' },
    { text: `{"type":"ping","id":"ws"}${' '.repeat(100_000)}`, id: 'ws', what: 'trailing whitespace' },
    { text: '\ufeff{"type":"ping","id":"bom"}', id: null, what: 'BOM' },
    { text: '', id: null, what: 'empty frame' },
  );
  for (const x of garbage) g.send(x.text, x.id, x.what, x.binary);
  const owedGarbage = await g.drain(CEILING_MS);
  for (const [id, what] of owedGarbage) summary.finding(`no reply to garbage ${id} (${what})`);
  t.equal(owedGarbage.length, 0, 'every garbage frame with a readable id answered');
  t.ok(g.open, 'garbage in valid text frames does not cost the connection');
  summary.data.framesFuzzed += garbage.length;
  g.close();
  const internalGarbage = g.internal;
  for (const i of internalGarbage) summary.finding(`INTERNAL error for ${i.what}: ${i.error}`);

  // invalid UTF-8 in a text frame and a frame above maxPayload: the connection is closed (1007, 1009), the agent stays
  const bad = await FuzzClient.connect(agent.apiUrl);
  bad.send(Buffer.from([0x7b, 0xff, 0xfe, 0xc0, 0x80, 0x7d]), null, 'invalid utf-8', false);
  await until(() => bad.closeCode !== null);
  t.equal(bad.closeCode, 1007, 'invalid UTF-8 text closes that connection with 1007');
  bad.close();
  const big = await FuzzClient.connect(agent.apiUrl);
  big.send(JSON.stringify({ type: 'ping', id: 'big', pad: 'x'.repeat(17 * MB) }), null, 'above maxPayload');
  await until(() => big.closeCode !== null, undefined, 100);
  t.equal(big.closeCode, 1009, 'a frame above api.maxPayloadBytes closes that connection with 1009');
  big.close();
  summary.data.framesFuzzed += 2;

  // raw TCP and HTTP garbage on both ports
  const rawProbes: Buffer[] = [
    crypto.randomBytes(4096),
    Buffer.from('GET /runtime HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: bad\r\nSec-WebSocket-Version: 13\r\n\r\n'),
    Buffer.from('GET /runtime HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 99\r\n\r\n'),
    Buffer.from(`GET /${'a'.repeat(100_000)} HTTP/1.1\r\nHost: x\r\n\r\n`),
    Buffer.from(`GET /health HTTP/1.1\r\n${'X-A: b\r\n'.repeat(5000)}\r\n`),
    Buffer.from('GET /health/../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n'),
    Buffer.from('POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\nabc'),
    Buffer.from('GET /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\nzzz\r\n'),
    Buffer.from('\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03'), // a TLS ClientHello start
  ];
  for (const port of [agent.apiPort, agent.healthPort]) for (const p of rawProbes) await rawTcp(port, p);
  const health404 = await fetch(`http://127.0.0.1:${agent.healthPort}/health/../../../etc/passwd`);
  t.not(health404.status, 500, 'a traversal path on the health port is not a server error');
  await health404.arrayBuffer();
  summary.data.faultsInjected += rawProbes.length * 2;

  // --- 3. afterwards: alive, serving, bounded, nothing escaped ---
  const after = await ApiClient.connect(agent.apiUrl);
  t.teardown(() => after.close());
  t.equal((await after.request({ type: 'ping' })).type, 'pong', 'ping still served');
  const health = await getJson(agent.healthUrl);
  t.equal(health.status, 200, '/health still served');
  // Fuzzed deploys may have filled apps.maxApps (a correct LIMIT refusal): make room for one first.
  const list = await after.request({ type: 'list_deployed_apps' });
  const first = ((list.apps as Array<Record<string, unknown>> | undefined) ?? [])[0];
  if (first) await after.request({ type: 'uninstall_app', appId: first.id });
  const dep = await after.request({ type: 'deploy_request', prototype: { id: 'after-fuzz', name: 'After fuzz', type: 'python', code: 'print("ok")\n', config: {} }, vehicle_id: 'v' });
  t.not(dep.type, 'error', `a deploy after fuzzing succeeds (${String(dep.error ?? dep.type)})`);
  if (dep.type === 'error') summary.finding(`deploy after fuzzing failed: ${String(dep.code)} ${String(dep.error)}`);
  const rss1 = rssOf(agent.proc.pid) ?? 0;
  rssPeak = Math.max(rssPeak, rss1);
  summary.data.figures.rssStartMB = +(rss0 / MB).toFixed(1);
  summary.data.figures.rssPeakMB = +(rssPeak / MB).toFixed(1);
  summary.data.figures.rssEndMB = +(rss1 / MB).toFixed(1);
  t.ok(rssPeak - rss0 < 256 * MB, `RSS bounded: ${(rss0 / MB).toFixed(0)} MB → peak ${(rssPeak / MB).toFixed(0)} MB`);

  const crashes = checkAftermath(t, summary, agent, sentinel);
  summary.data.faultsInjected += garbage.length + 2;
  summary.data.faultsSurvived = crashes === 0 ? summary.data.faultsInjected : 0;
  summary.data.figures.framesPerSecond = Math.round(sent / ((Date.now() - t0) / 1000));
  summary.write(t);
});
