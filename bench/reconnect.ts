// Back after a Kit-Manager outage: how long from the Kit-Manager's return (its port listening again) until a box is
// registered again, with the default reconnect settings (kitManager.reconnect 500 ms … 4 s, reset at registration).
//   single: real agent processes against the stand-in Kit-Manager (real socket.io server) restarted on its port after
//           1 s (repeated) and 60 s outages; after 10 min, KitLink instances on a compressed clock (100 virtual s per
//           real s during the outage, real time again from the return: the delay pending at the return runs out at
//           its true length), because the backoff's state after 10 minutes is what matters and is the same either way.
//   fleet:  500 real KitLink instances in this one process against one socket.io server that is restarted; the time
//           until all are back and the server's peak rate of new connections (per second, and per 100 ms × 10).
// Anchor: the Python runtime came back 3.0 s after a 60 s outage (issue 15; python-socketio's defaults, 1–5 s ±50 %).
// BENCH_BASELINE_BUNDLE=<an older dist/sdv-agent.js> adds that build's agents to the 60 s outage, side by side.
import pino from 'pino';
import { loadConfig } from '../src/config';
import { KitLink } from '../src/doors/kit/link';
import type { Parts } from '../src/parts';
import { startAgent, type AgentHandle } from '../test/helpers/agent';
import { CompressedClock } from '../test/helpers/compressed-clock';
import { StandInKitManager } from '../test/helpers/kit-manager';
import { quantile, round, sleep, runScope } from './lib';
import type { Metrics, Scenario } from './scenarios';

const envNum = (k: string, d: number) => (process.env[k] ? Number(process.env[k]) : d);

function linkParts(url: string, name: string): Parts {
  const { config } = loadConfig(null, { SDV_AGENT_RUNTIME_NAME: name, SDV_AGENT_KIT_MANAGER_URL: url });
  return {
    config, log: pino({ level: 'silent' }),
    runtime: { runtimeId: name, kitId: config.runtime.kitId, name, version: '0', startedAt: Date.now(), notices: [] },
    status: { kitManager: { configured: true, connected: false, url, droppedReplies: 0 }, kuksa: { mode: 'embedded', connected: true, address: '', api: 'auto' } },
  } as unknown as Parts;
}

/** Registration times (ms after `back`) of the given kit ids on km, once all are in (or the deadline passes). */
async function returns(km: StandInKitManager, kitIds: string[], back: number, timeoutMs: number): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  const want = new Set(kitIds);
  for (;;) {
    const seen = km.registrations.filter((r) => want.has(r.kit.kit_id));
    const firsts = new Map<string, number>();
    for (const r of seen) if (!firsts.has(r.kit.kit_id)) firsts.set(r.kit.kit_id, r.at - back);
    if (firsts.size === want.size) return [...firsts.values()];
    if (Date.now() > deadline) throw new Error(`only ${firsts.size} of ${want.size} registered within ${timeoutMs} ms of the return`);
    await sleep(20);
  }
}

function summary(m: Metrics, key: string, ms: number[]): void {
  m[`${key}.n`] = ms.length;
  m[`${key}.medianMs`] = round(quantile(ms, 0.5));
  m[`${key}.p99Ms`] = round(quantile(ms, 0.99));
  m[`${key}.maxMs`] = round(Math.max(...ms));
}

/** Restarts km on its port after `outageMs`; resolves with the new one and the moment it listened. */
async function restart(km: StandInKitManager, outageMs: number, during?: () => Promise<void>): Promise<{ km: StandInKitManager; back: number; conns: number[] }> {
  const port = km.port;
  await km.close();
  if (during) await during(); else await sleep(outageMs);
  const next = await StandInKitManager.start(port);
  const back = Date.now();
  const conns: number[] = [];
  next.io.on('connection', () => conns.push(Date.now()));
  return { km: next, back, conns };
}

/** Peak new connections in any 1 s window, and in any 100 ms window scaled to a second. */
function peakRate(times: number[]): { perS: number; per100msX10: number } {
  const sorted = [...times].sort((a, b) => a - b);
  let perS = 0;
  let per100 = 0;
  for (let i = 0, j = 0, k = 0; i < sorted.length; i++) {
    while (sorted[i]! - sorted[j]! >= 1000) j++;
    while (sorted[i]! - sorted[k]! >= 100) k++;
    perS = Math.max(perS, i - j + 1);
    per100 = Math.max(per100, i - k + 1);
  }
  return { perS, per100msX10: per100 * 10 };
}

async function singleAgents(m: Metrics): Promise<void> {
  let km = await StandInKitManager.start();
  const agents: AgentHandle[] = [];
  try {
    const one = await startAgent(runScope, { config: { runtime: { name: 'Single' }, kitManager: { url: km.url } } });
    agents.push(one);
    await km.waitRegistration();
    const short: number[] = [];
    for (let i = 0; i < envNum('BENCH_RECONNECT_SHORT_RUNS', 9); i++) {
      const r = await restart(km, 1000);
      km = r.km;
      short.push(...(await returns(km, ['RunTime-Single'], r.back, 15_000)));
    }
    summary(m, 'single.after1s', short);

    const n = envNum('BENCH_RECONNECT_AGENTS', 5);
    const baseline = process.env.BENCH_BASELINE_BUNDLE;
    const ids = Array.from({ length: n }, (_, i) => `RunTime-Long${i}`);
    for (let i = 0; i < n; i++) {
      agents.push(await startAgent(runScope, { config: { runtime: { name: `Long${i}` }, kitManager: { url: km.url } } }));
      // An older build names its kit Runtime-<name>: give it the kit id the measure looks for.
      if (baseline) agents.push(await startAgent(runScope, { bundle: baseline, config: { runtime: { name: `Base${i}`, kitId: `RunTime-Base${i}` }, kitManager: { url: km.url } } }));
    }
    const baseIds = baseline ? Array.from({ length: n }, (_, i) => `RunTime-Base${i}`) : [];
    await returns(km, [...ids, ...baseIds], Date.now(), 15_000);
    const r = await restart(km, envNum('BENCH_RECONNECT_LONG_S', 60) * 1000);
    km = r.km;
    summary(m, 'single.after60s', await returns(km, ids, r.back, 15_000));
    if (baseline) summary(m, 'baseline.after60s', await returns(km, baseIds, r.back, 60_000));
  } finally {
    await Promise.all(agents.map((a) => a.stop()));
    await km.close();
  }
}

async function compressedLinks(m: Metrics): Promise<void> {
  let km = await StandInKitManager.start();
  const n = envNum('BENCH_RECONNECT_CLOCKED', 20);
  const links = Array.from({ length: n }, (_, i) => {
    const clock = new CompressedClock();
    return { clock, link: new KitLink(linkParts(km.url, `Clocked${i}`), { clock }), kitId: `RunTime-Clocked${i}` };
  });
  try {
    for (const l of links) l.link.start();
    await returns(km, links.map((l) => l.kitId), Date.now(), 30_000);
    const r = await restart(km, 0, async () => {
      for (const l of links) l.clock.setSpeed(100);
      await sleep(600_000 / 100);
      for (const l of links) l.clock.setSpeed(1);
    });
    km = r.km;
    summary(m, 'single.after10min', await returns(km, links.map((l) => l.kitId), r.back, 30_000));
  } finally {
    await Promise.all(links.map((l) => l.link.stop()));
    await km.close();
  }
}

async function fleet(m: Metrics, outageMs: number, key: string): Promise<void> {
  let km = await StandInKitManager.start();
  const n = envNum('BENCH_FLEET', 500);
  const links = Array.from({ length: n }, (_, i) => new KitLink(linkParts(km.url, `Fleet${i}`)));
  const ids = Array.from({ length: n }, (_, i) => `RunTime-Fleet${i}`);
  try {
    for (const l of links) l.start();
    await returns(km, ids, Date.now(), 60_000);
    const r = await restart(km, outageMs);
    km = r.km;
    const back = await returns(km, ids, r.back, 60_000);
    m[`${key}.links`] = n;
    m[`${key}.allBackMs`] = round(Math.max(...back));
    m[`${key}.medianMs`] = round(quantile(back, 0.5));
    const peak = peakRate(r.conns);
    m[`${key}.peakConnPerS`] = peak.perS;
    m[`${key}.peakConnPer100msX10`] = peak.per100msX10;
    m[`${key}.connections`] = r.conns.length;
  } finally {
    await Promise.all(links.map((l) => l.stop()));
    await km.close();
  }
}

export const reconnect: Scenario = {
  name: 'reconnect', runs: 1, warmup: false,
  about: 'Kit-Manager return → registered again: real agents after 1 s (×9) and 60 s (×5) outages, KitLinks on a compressed clock after 10 min (×20), and a 500-link fleet (one process, one socket.io server) after 1 s and 10 s outages with the server\'s peak connection rate; anchor: the Python runtime 3.0 s after 60 s',
  async run() {
    const m: Metrics = { 'anchor.pythonRuntimeAfter60sMs': 3000 };
    await singleAgents(m);
    await compressedLinks(m);
    await fleet(m, 1000, 'fleet.after1s');
    await fleet(m, 10_000, 'fleet.after10s');
    return m;
  },
};
