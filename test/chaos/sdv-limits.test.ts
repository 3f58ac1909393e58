// Section "sdv-limits" — sdv.databroker.v1 requests (no token: any process on the box can send them) that make every
// later write expensive, or take what other clients need:
//   - query amplification: connections × 64 Subscribe streams with the red team's query (`Vehicle.Speed>0` OR-ed with
//     `-1<2` 2 700 times, 16 242 characters), then with the largest query that compiles (512 terms), from a process of
//     their own; the agent's RSS, and what one write of Vehicle.Speed costs with them open (a write runs every query
//     that reads the signal);
//   - the collector's budget: one connection registers 5 000 new signals, then a feeder registers its one; and on a
//     99 000-leaf model (49 000 in the short form), new signals registered one at a time (each used to copy the
//     model's index).
// Every attack runs with the liveness probe (ping and /health answered throughout) and reports RSS before/after. The
// write and registration times are figures, not bounds (a busy box makes them slower); the bounds are the refusals,
// the RSS and the liveness.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import t, { type Test as Tap } from 'tap';
import * as grpc from '@grpc/grpc-js';
import { CEILING_MS, ROOT, tmpDir } from '../helpers/agent';
import { rawClients, startUpstream } from '../helpers/signals';
import { MB, Summary, attack, caughtCrashes, count, rssOf, seedFor, until } from './lib';
import { SAFE_ENV } from './safe-env';

const SECTION = 'sdv-limits';
const summary = new Summary(SECTION, seedFor(SECTION));
t.teardown(() => summary.write(t));

/** What the agent may grow by with every stream the bounds let open (the compiled queries, their outboxes). */
const RSS_BOUND = 64 * MB;
const CONNS = count(4, 16);
const own = { 'grpc.use_local_subchannel_pool': 1 };

/** `SELECT Vehicle.Speed WHERE Vehicle.Speed>0` OR-ed with `-1<2` n times: 4 + 4n terms. */
const chain = (n: number) => `SELECT Vehicle.Speed WHERE Vehicle.Speed>0${'OR-1<2'.repeat(n)}`;

/** A unary call that fails after `ms` instead of waiting for ever (a wedged server is a finding, not a hung test). */
function callWithin<T = Record<string, unknown>>(client: grpc.Client & Record<string, any>, method: string, req: unknown, ms = CEILING_MS): Promise<T> { // eslint-disable-line @typescript-eslint/no-explicit-any
  return new Promise((resolve, reject) => client[method](req, new grpc.Metadata(), { deadline: Date.now() + ms }, (e: Error | null, r: T) => (e ? reject(e) : resolve(r))));
}

const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s.length ? s[Math.floor(s.length / 2)]! : 0; };

/** `n` kuksa.val v1 Sets of Vehicle.Speed (> 0, so every query's WHERE holds), one after the other: ms of each. */
async function writes(raw: ReturnType<typeof rawClients>, n: number): Promise<number[]> {
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await callWithin(raw.v1, 'Set', { updates: [{ entry: { path: 'Vehicle.Speed', value: { float: 1 + (i % 100) } }, fields: ['FIELD_VALUE'] }] });
    ms.push(performance.now() - t0);
  }
  return ms;
}

/**
 * Starts sdv-subscribers.ts; resolves with what its streams got once each has its first answer, and stop() (which
 * ends the process, and with it its connections and streams).
 */
async function subscribers(t: Tap, port: number, conns: number, perConn: number, query: string): Promise<{ accepted: number; refused: Record<string, number>; stop(): Promise<void> }> {
  const dir = tmpDir(t, 'sdv-chaos-query-');
  const file = path.join(dir, 'query.txt');
  fs.writeFileSync(file, query);
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(__dirname, 'sdv-subscribers.ts'), String(port), String(conns), String(perConn), file], { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise<void>((r) => child.on('exit', () => r()));
  const stop = async () => { child.stdin!.end(); child.kill(); await exited; };
  t.teardown(stop);
  let out = '';
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      if (out.includes('\n')) resolve({ ...JSON.parse(out.slice(0, out.indexOf('\n'))), stop });
    });
    void exited.then(() => reject(new Error(`sdv-subscribers exited before its report: ${out}`)));
  });
}

/** Whether a Subscribe of `query` gets its first message (then cancelled). */
async function opens(raw: ReturnType<typeof rawClients>, query: string): Promise<boolean> {
  const s = raw.broker.Subscribe({ query }) as grpc.ClientReadableStream<unknown>;
  const ok = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), 10_000);
    s.once('data', () => { clearTimeout(timer); resolve(true); });
    s.on('error', () => { clearTimeout(timer); resolve(false); });
  });
  s.cancel();
  return ok;
}

t.test('sdv Subscribe queries that make every write of their signal expensive', async (t) => {
  const up = await startUpstream(t, { env: SAFE_ENV });
  const raw = rawClients(up.port, own);
  t.teardown(() => { for (const c of Object.values(raw)) c.close(); });
  // A value first: the queries' first answer is the query run on it.
  const idle = await writes(raw, count(20, 50));
  summary.data.figures['a write of Vehicle.Speed with no query open: median ms'] = +median(idle).toFixed(2);

  const attempts: Array<{ name: string; query: string }> = [
    { name: `${CONNS} connections × 64 Subscribe of a 2 700-term OR chain (16 242 characters)`, query: chain(2700) },
    { name: `${CONNS} connections × 64 Subscribe of the largest query that compiles (512 terms)`, query: chain(127) },
    // What the streams cost without their queries: the smallest query, as many streams as the stream bounds allow.
    { name: `${CONNS} connections × 64 Subscribe of SELECT Vehicle.Speed`, query: 'SELECT Vehicle.Speed' },
  ];
  for (const [i, a] of attempts.entries()) {
    await attack(t, summary, a.name, up.agent, async () => {
      const rss0 = rssOf(up.agent.proc.pid) ?? 0;
      const subs = await subscribers(t, up.port, CONNS, 64, a.query);
      const rss1 = rssOf(up.agent.proc.pid) ?? 0;
      const ms = await writes(raw, count(50, 200));
      await subs.stop();
      // The server hears of the closed connections a moment later; the next attack needs their terms back.
      t.ok(await until(() => opens(raw, chain(127)), undefined, 100), 'the closed streams gave their terms back');
      const grew = (rss1 - rss0) / MB;
      summary.data.figures[`${a.name}: streams open, refused`] = `${subs.accepted}, ${JSON.stringify(subs.refused)}`;
      summary.data.figures[`${a.name}: RSS growth with them open (MB)`] = +grew.toFixed(1);
      summary.data.figures[`${a.name}: a write of Vehicle.Speed: median, max ms`] = `${median(ms).toFixed(1)}, ${Math.max(...ms).toFixed(1)}`;
      t.comment(`${subs.accepted} streams open (${JSON.stringify(subs.refused)}); RSS +${grew.toFixed(1)} MB; a write: median ${median(ms).toFixed(1)} ms, max ${Math.max(...ms).toFixed(1)} ms`);
      let ok = grew < RSS_BOUND / MB;
      t.ok(ok, `RSS grew ${grew.toFixed(1)} MB (bound ${RSS_BOUND / MB} MB)`);
      if (i === 0) {
        const why = Object.keys(subs.refused);
        const refused = subs.accepted === 0 && why.length === 1 && /more than 512 terms/.test(why[0]!);
        t.ok(refused, `every such query is refused INVALID_ARGUMENT naming the bound (${why.join(' | ')})`);
        ok &&= refused;
      } else if (i === 1) {
        const bounded = subs.accepted <= 128 && Object.keys(subs.refused).every((w) => /queries open on this (connection|server) would have more than/.test(w));
        t.ok(bounded, `at most 65 536 terms open on the server: ${subs.accepted} of them, the rest refused naming the bound`);
        ok &&= bounded;
      } else {
        t.equal(subs.accepted, CONNS * 64, 'a small query is held by the stream bounds alone');
        ok &&= subs.accepted === CONNS * 64;
      }
      return ok;
    }, { everyMs: 100 });
  }
  summary.data.crashes += caughtCrashes(up.agent).length;
});

/** Vehicle.B<k>.S<j>: `branches` branches of `per` float sensors each, in a file. */
function bigModel(t: Tap, branches: number, per: number): string {
  const children: Record<string, unknown> = {};
  for (let k = 0; k < branches; k++) {
    const leaves: Record<string, unknown> = {};
    for (let j = 0; j < per; j++) leaves[`S${j}`] = { type: 'sensor', datatype: 'float' };
    children[`B${k}`] = { type: 'branch', children: leaves };
  }
  const dir = tmpDir(t, 'sdv-chaos-vss-');
  const file = path.join(dir, 'big.json');
  fs.writeFileSync(file, JSON.stringify({ Vehicle: { type: 'branch', children } }));
  return file;
}

/** The outcome of a call: 'ok' or the status details. */
const outcome = (p: Promise<Record<string, unknown>>) => p.then(() => 'ok', (e: grpc.ServiceError) => `${grpc.status[e.code]}: ${e.details}`);

t.test('the collector\'s registration budget', async (t) => {
  const up = await startUpstream(t, { env: SAFE_ENV });
  const greedy = rawClients(up.port, own);
  const feeder = rawClients(up.port, own);
  t.teardown(() => { for (const c of [...Object.values(greedy), ...Object.values(feeder)]) c.close(); });
  const names = (from: number, n: number) => Array.from({ length: n }, (_, i) => ({ name: `Vehicle.Junk.S${from + i}`, data_type: 'FLOAT' }));
  await attack(t, summary, 'one connection registers 5 000 new signals, then a feeder registers its one', up.agent, async () => {
    const all = await outcome(callWithin(greedy.collector, 'RegisterDatapoints', { list: names(0, 5000) }));
    const share = await outcome(callWithin(greedy.collector, 'RegisterDatapoints', { list: names(5000, 1000) }));
    const mine = await outcome(callWithin(feeder.collector, 'RegisterDatapoints', { list: [{ name: 'Vehicle.Feeder.Rpm', data_type: 'UINT32' }] }));
    summary.data.figures['5 000 at once from one connection'] = all.slice(0, 160);
    summary.data.figures['1 000 more from it'] = share.slice(0, 160);
    summary.data.figures['the feeder\'s one'] = mine.slice(0, 160);
    t.match(all, /RESOURCE_EXHAUSTED: more than 1000 signals registered beyond the vehicle model from this connection/, `5 000 from one connection: ${all}`);
    t.equal(share, 'ok', 'its share of 1 000 is registered');
    t.equal(mine, 'ok', `the feeder still registers its signal (${mine})`);
    return /from this connection/.test(all) && share === 'ok' && mine === 'ok';
  }, { everyMs: 100 });
  summary.data.crashes += caughtCrashes(up.agent).length;
});

const BRANCHES = count(49, 99);
t.test(`registrations one at a time on a ${BRANCHES} 000-leaf model`, async (t) => {
  // Full form: 1 000 short of the model bound (VSS_LIMITS.maxLeaves), which registered signals count against.
  const up = await startUpstream(t, { env: SAFE_ENV, kuksa: { vss: bigModel(t, BRANCHES, 1000) } });
  const raw = rawClients(up.port, own);
  t.teardown(() => { for (const c of Object.values(raw)) c.close(); });
  const n = count(100, 1000);
  await attack(t, summary, `${BRANCHES} 000 leaves: ${n} RegisterDatapoints of one new signal each`, up.agent, async () => {
    const ms: number[] = [];
    let failed = '';
    const rss0 = rssOf(up.agent.proc.pid) ?? 0;
    let peak = rss0;
    for (let i = 0; i < n && !failed; i++) {
      const t0 = performance.now();
      const o = await outcome(callWithin(raw.collector, 'RegisterDatapoints', { list: [{ name: `Vehicle.Reg.S${i}`, data_type: 'FLOAT' }] }));
      ms.push(performance.now() - t0);
      if (o !== 'ok') failed = o;
      peak = Math.max(peak, rssOf(up.agent.proc.pid) ?? 0);
    }
    const grew = (peak - rss0) / MB;
    const ids = await callWithin(raw.v2, 'ListMetadata', { root: 'Vehicle.Reg' }).then((r) => (r.metadata as unknown[]).length, () => 0);
    summary.data.figures[`${BRANCHES} 000 leaves: a registration: median, max ms (${n})`] = `${median(ms).toFixed(1)}, ${Math.max(...ms).toFixed(1)}`;
    t.comment(`a registration: median ${median(ms).toFixed(1)} ms, max ${Math.max(...ms).toFixed(1)} ms`);
    t.equal(failed, '', `all ${n} registered${failed ? `: ${failed}` : ''}`);
    t.equal(ids, n, 'and listed');
    summary.data.figures[`${BRANCHES} 000 leaves: ${n} registrations: RSS growth, peak (MB)`] = +grew.toFixed(1);
    t.ok(grew < RSS_BOUND / MB, `RSS grew ${grew.toFixed(1)} MB at the peak (bound ${RSS_BOUND / MB} MB; each registration used to copy the model's index)`);
    return !failed && ids === n && grew < RSS_BOUND / MB;
  }, { everyMs: 100 });
  summary.data.crashes += caughtCrashes(up.agent).length;
});
