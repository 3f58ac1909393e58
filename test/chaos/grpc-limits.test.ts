// Section "grpc-limits" — requests to the embedded gRPC server (no token: any process on the box can send them) that
// try to make the agent do unbounded work or take every slot, sent by real grpc-js clients and a raw HTTP/2 client:
//   - one kuksa.val v1 Get with 40 000 entries of `{path: "Vehicle"}` (~430 KiB; it used to expand to 4.8 M entries
//     and end in a V8 out-of-memory after ~40 s): refused RESOURCE_EXHAUSTED naming the bound, at once; 20 000 of them
//     answered once per signal; 20 000 distinct patterns answered; the same shapes for v1 Subscribe, v2 GetValues,
//     sdv GetDatapoints; a 5 MiB message refused by size;
//   - on a 100 000-leaf model: 20 000 wildcards that would each scan it refused before the work, replies past 4 MiB
//     (what gRPC clients accept by default) refused, 50 000 leaves answered while ping and /health keep answering, a
//     connection's subscriptions bounded by the signals they hold (their first message in chunks);
//   - one connection opening 1 024 streams stops at its own bound, another still gets streams;
//   - a raw HTTP/2 client that sends Get after Get and never reads a reply: the agent's RSS stays bounded.
// Every attack runs with the liveness probe and reports RSS before/after.
import * as fs from 'node:fs';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import * as path from 'node:path';
import t from 'tap';
import type * as grpc from '@grpc/grpc-js';
import { tmpDir } from '../helpers/agent';
import { call, rawClients, startUpstream } from '../helpers/signals';
import { MB, Summary, attack, caughtCrashes, count, rssOf, seedFor, sleep, until } from './lib';
import { SAFE_ENV } from './safe-env';

const SECTION = 'grpc-limits';
const summary = new Summary(SECTION, seedFor(SECTION));
t.teardown(() => summary.write(t));

const RSS_BOUND = 96 * MB;
const big = { 'grpc.max_receive_message_length': -1, 'grpc.max_send_message_length': -1 };
const own = { 'grpc.use_local_subchannel_pool': 1, ...big };

/** A call's outcome: 'ok' with the reply, or the status code and details. */
async function outcome(p: Promise<Record<string, unknown>>): Promise<{ code: number; details: string; reply?: Record<string, unknown>; ms: number }> {
  const t0 = performance.now();
  try {
    const reply = await p;
    return { code: 0, details: 'OK', reply, ms: Math.round(performance.now() - t0) };
  } catch (e) {
    return { code: (e as grpc.ServiceError).code, details: (e as grpc.ServiceError).details, ms: Math.round(performance.now() - t0) };
  }
}

/** The first status of a server stream (or 'data' when it sends a message first). */
function firstOf(s: grpc.ClientReadableStream<unknown>): Promise<{ code: number; details: string }> {
  return new Promise((resolve) => {
    s.once('data', () => resolve({ code: 0, details: 'data' }));
    s.on('error', (e: grpc.ServiceError) => resolve({ code: e.code, details: e.details }));
  });
}

/** Vehicle.B<k>.S<j>: `branches` branches of `per` float sensors each. */
function bigModel(branches: number, per: number): string {
  const children: Record<string, unknown> = {};
  for (let k = 0; k < branches; k++) {
    const leaves: Record<string, unknown> = {};
    for (let j = 0; j < per; j++) leaves[`S${j}`] = { type: 'sensor', datatype: 'float' };
    children[`B${k}`] = { type: 'branch', children: leaves };
  }
  const file = path.join(tmpDir(t, 'sdv-chaos-vss-'), 'big.json');
  fs.writeFileSync(file, JSON.stringify({ Vehicle: { type: 'branch', children } }));
  return file;
}

t.test('requests that name too much, on the built-in model', async (t) => {
  const up = await startUpstream(t, { env: SAFE_ENV });
  const raw = rawClients(up.port, own);
  const vehicle = { path: 'Vehicle', view: 'VIEW_CURRENT_VALUE', fields: ['FIELD_VALUE'] };
  const leaves = ((await call(raw.v2, 'ListMetadata', { root: 'Vehicle' })).metadata as Array<{ path: string; id: number }>);
  const branches = [...new Set(leaves.flatMap((m) => m.path.split('.').slice(0, -1).map((_, i, a) => a.slice(0, i + 1).join('.'))))];
  const distinct = Array.from({ length: 20_000 }, (_, i) => {
    const b = branches[i % branches.length]!;
    return i < branches.length * 3 ? `${b}${['', '.*', '.**'][Math.floor(i / branches.length)]}` : i % 2 ? leaves[i % leaves.length]!.path : `Vehicle.Nope${i}`;
  });
  const cases: Array<{ name: string; run: () => Promise<Record<string, unknown>>; ok: (o: Awaited<ReturnType<typeof outcome>>) => boolean }> = [
    { name: 'v1 Get, 40 000 × Vehicle (430 KiB)', run: () => call(raw.v1, 'Get', { entries: Array(40_000).fill(vehicle) }),
      ok: (o) => o.code === 8 && /at most 20000/.test(o.details) },
    { name: 'v1 Get, 20 000 × Vehicle', run: () => call(raw.v1, 'Get', { entries: Array(20_000).fill(vehicle) }),
      ok: (o) => o.code === 0 && (o.reply!.entries as unknown[]).length === leaves.length },
    { name: 'v1 Get, 20 000 distinct patterns (branches, wildcards, leaves, unknown paths)', run: () => call(raw.v1, 'Get', { entries: distinct.map((p) => ({ ...vehicle, path: p })) }),
      ok: (o) => o.code === 0 && (o.reply!.entries as unknown[]).length === leaves.length },
    { name: 'v2 GetValues, 40 000 ids', run: () => call(raw.v2, 'GetValues', { signal_ids: Array.from({ length: 40_000 }, (_, i) => ({ id: leaves[i % leaves.length]!.id })) }),
      ok: (o) => o.code === 8 && /at most 20000/.test(o.details) },
    { name: 'sdv GetDatapoints, 40 000 names', run: () => call(raw.broker, 'GetDatapoints', { datapoints: Array.from({ length: 40_000 }, (_, i) => leaves[i % leaves.length]!.path) }),
      ok: (o) => o.code === 8 && /at most 20000/.test(o.details) },
    { name: 'v1 Set, 40 000 updates', run: () => call(raw.v1, 'Set', { updates: Array.from({ length: 40_000 }, () => ({ entry: { path: 'Vehicle.Speed', value: { float: 1 } }, fields: ['FIELD_VALUE'] })) }),
      ok: (o) => o.code === 8 && /at most 20000/.test(o.details) },
    { name: 'v1 Get, a 5 MiB message', run: () => call(raw.v1, 'Get', { entries: [{ path: 'x'.repeat(5 * MB) }] }),
      ok: (o) => o.code === 8 },
  ];
  for (const k of cases) {
    await attack(t, summary, k.name, up.agent, async () => {
      const o = await outcome(k.run());
      summary.data.figures[`${k.name}: answered in (ms)`] = o.ms;
      const ok = k.ok(o);
      t.ok(ok, `${k.name}: ${o.code === 0 ? 'answered' : `status ${o.code}`} in ${o.ms} ms (${o.details.slice(0, 160)})`);
      return ok;
    }, { everyMs: 50 });
  }

  await attack(t, summary, 'v1 Subscribe, 40 000 × Vehicle and 20 000 distinct patterns', up.agent, async () => {
    const a = await firstOf(raw.v1.Subscribe({ entries: Array(40_000).fill(vehicle) }));
    const s = raw.v1.Subscribe({ entries: distinct.filter((p) => !p.startsWith('Vehicle.Nope')).map((p) => ({ ...vehicle, path: p })) });
    const b = await firstOf(s);
    s.cancel();
    t.ok(a.code === 8 && /at most 20000/.test(a.details), `40 000 entries: RESOURCE_EXHAUSTED (${a.details})`);
    t.equal(b.code, 0, `distinct patterns: the subscription starts (${b.details})`);
    return a.code === 8 && b.code === 0;
  }, { everyMs: 50 });

  await attack(t, summary, 'one connection opens 1 024 streams', up.agent, async () => {
    const greedy = rawClients(up.port, own);
    const got: Array<{ code: number; details: string }> = [];
    const streams: grpc.ClientReadableStream<unknown>[] = [];
    for (let i = 0; i < 1024; i++) {
      const s = greedy.v2.Subscribe({ signal_paths: ['Vehicle.Speed'] });
      streams.push(s);
      got.push(await firstOf(s));
      if (got[got.length - 1]!.code !== 0) break;
    }
    const granted = got.filter((g) => g.code === 0).length;
    const refusal = got.find((g) => g.code !== 0);
    summary.data.figures['streams one connection got'] = granted;
    const other = rawClients(up.port, own);
    const mine = other.v2.Subscribe({ signal_paths: ['Vehicle.Speed'] });
    const o = await firstOf(mine);
    for (const s of streams) s.cancel();
    // The cancels reach the server in their own time: the greedy connection gets a stream once they have.
    let g = { code: -1, details: '' };
    await until(async () => {
      const again = greedy.v2.Subscribe({ signal_paths: ['Vehicle.Speed'] });
      g = await firstOf(again);
      again.cancel();
      return g.code === 0;
    }, undefined, 200);
    mine.cancel();
    t.ok(granted < 1024 && refusal?.code === 8 && /this connection/.test(refusal.details), `the greedy connection stops at its bound (${granted}, then ${refusal?.code}: ${refusal?.details})`);
    t.equal(o.code, 0, 'another connection still gets a stream');
    t.equal(g.code, 0, 'the greedy one gets streams again once it closed its own');
    for (const c of [...Object.values(greedy), ...Object.values(other)]) c.close();
    return granted < 1024 && refusal?.code === 8 && o.code === 0 && g.code === 0;
  }, { everyMs: 50 });

  await attack(t, summary, 'a raw HTTP/2 client sending Get after Get, reading no reply', up.agent, async () => {
    const def = (raw.v1.constructor as unknown as { service: Record<string, { requestSerialize(o: unknown): Buffer }> }).service;
    const body = def.Get!.requestSerialize({ entries: [{ path: 'Vehicle', view: 'VIEW_ALL' }] });
    const frame = Buffer.concat([Buffer.from([0, 0, 0, 0, 0]), body]);
    frame.writeUInt32BE(body.length, 1);
    const socket = net.connect(up.port, '127.0.0.1');
    const session = http2.connect(`http://127.0.0.1:${up.port}`, { createConnection: () => socket });
    session.on('error', () => {});
    await new Promise<void>((r) => session.once('connect', () => r()));
    // It reads nothing from here on: every reply stays in the agent's side of the connection.
    socket.pause();
    const rss0 = rssOf(up.agent.proc.pid) ?? 0;
    let peak = rss0;
    let sent = 0;
    let refused = 0;
    const end = Date.now() + count(6000, 30_000);
    while (Date.now() < end && !session.destroyed) {
      for (let i = 0; i < 50; i++) {
        try {
          const s = session.request({ ':method': 'POST', ':path': '/kuksa.val.v1.VAL/Get', 'content-type': 'application/grpc', te: 'trailers' });
          s.on('error', () => { refused++; });
          s.end(frame);
          sent++;
        } catch { refused++; }
      }
      await sleep(10);
      peak = Math.max(peak, rssOf(up.agent.proc.pid) ?? 0);
    }
    const grew = peak - rss0;
    session.destroy();
    summary.data.figures['unread unary replies: requests sent (refused by the server)'] = `${sent} (${refused})`;
    summary.data.figures['unread unary replies: agent RSS growth, peak (MB)'] = +(grew / MB).toFixed(1);
    t.ok(grew < RSS_BOUND, `agent RSS grew ${(grew / MB).toFixed(1)} MB at most (bound ${RSS_BOUND / MB} MB; ${sent} requests sent)`);
    return grew < RSS_BOUND;
  }, { everyMs: 50 });
  for (const c of Object.values(raw)) c.close();
  summary.data.crashes += caughtCrashes(up.agent).length;
});

t.test('requests that name too much, on a 100 000-leaf model', async (t) => {
  const up = await startUpstream(t, { env: SAFE_ENV, kuksa: { vss: bigModel(100, 1000) } });
  const raw = rawClients(up.port, own);
  const n = count(2000, 20_000);
  const tooBig = (o: Awaited<ReturnType<typeof outcome>>) => o.code === 8 && /larger than/.test(o.details);
  const cases: Array<{ name: string; run: () => Promise<Record<string, unknown>>; ok: (o: Awaited<ReturnType<typeof outcome>>) => boolean }> = [
    { name: `v1 Get, ${n} wildcards that each scan the model (Vehicle.*.S<j>)`, run: () => call(raw.v1, 'Get', { entries: Array.from({ length: n }, (_, j) => ({ path: `Vehicle.*.S${j}` })) }),
      ok: (o) => o.code === 8 && /look at/.test(o.details) },
    { name: 'v1 Get, Vehicle (100 000 leaves, a reply past 4 MiB)', run: () => call(raw.v1, 'Get', { entries: [{ path: 'Vehicle', view: 'VIEW_CURRENT_VALUE' }] }), ok: tooBig },
    { name: 'v1 Get, Vehicle with metadata, 20 000 times', run: () => call(raw.v1, 'Get', { entries: Array(20_000).fill({ path: 'Vehicle', view: 'VIEW_ALL' }) }), ok: tooBig },
    { name: 'v1 Get, 50 branches (50 000 leaves)', run: () => call(raw.v1, 'Get', { entries: Array.from({ length: 50 }, (_, k) => ({ path: `Vehicle.B${k}`, view: 'VIEW_CURRENT_VALUE' })) }),
      ok: (o) => o.code === 0 && (o.reply!.entries as unknown[]).length === 50_000 },
    { name: 'v2 ListMetadata **', run: () => call(raw.v2, 'ListMetadata', { root: '**' }), ok: tooBig },
    { name: 'sdv GetMetadata of everything', run: () => call(raw.broker, 'GetMetadata', { names: [] }),
      ok: (o) => tooBig(o) || (o.code === 0 && (o.reply!.list as unknown[]).length === 100_000) },
  ];
  for (const k of cases) {
    await attack(t, summary, `100 000 leaves: ${k.name}`, up.agent, async () => {
      const o = await outcome(k.run());
      summary.data.figures[`100 000 leaves: ${k.name}: answered in (ms)`] = o.ms;
      const ok = k.ok(o);
      t.ok(ok, `${k.name}: ${o.code === 0 ? 'answered' : `status ${o.code}`} in ${o.ms} ms (${o.details.slice(0, 160)})`);
      return ok;
    }, { everyMs: 50 });
  }
  await attack(t, summary, '100 000 leaves: one connection subscribes to Vehicle again and again', up.agent, async () => {
    const got: Array<{ code: number; details: string }> = [];
    const streams: grpc.ClientReadableStream<unknown>[] = [];
    for (let i = 0; i < 5; i++) {
      const s = raw.v1.Subscribe({ entries: [{ path: 'Vehicle', view: 'VIEW_CURRENT_VALUE' }] });
      streams.push(s);
      got.push(await firstOf(s));
    }
    for (const s of streams) s.cancel();
    const granted = got.filter((g) => g.code === 0).length;
    const refusal = got.find((g) => g.code !== 0);
    summary.data.figures['100 000 leaves: subscriptions to Vehicle one connection got'] = granted;
    t.ok(granted === 2 && refusal?.code === 8 && /on this connection/.test(refusal.details), `two of 100 000 signals, then refused (${granted}; ${refusal?.details})`);
    return granted === 2 && refusal?.code === 8;
  }, { everyMs: 50 });
  for (const c of Object.values(raw)) c.close();
  summary.data.crashes += caughtCrashes(up.agent).length;
});
