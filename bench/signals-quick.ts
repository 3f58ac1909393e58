// Quick signals benchmark: an embedded agent (full VSS 4.0, 910 leaves) gets every leaf updated at 100 Hz over
// kuksa.val v1 Set (one request of 910 updates per tick); one local API subscriber subscribes to Vehicle.**.
// Prints the agent's CPU and the delay from a change (Set sent) to the apis-value frame carrying it (median, p99).
// The delay includes the batch window (signals.batchWindowMs, default 50 ms). Run: npx tsx bench/signals-quick.ts [seconds] [windowMs]
import pidusage from 'pidusage';
import { ApiClient } from '../test/helpers/agent';
import { FULL_VSS, rawClients, startUpstream } from '../test/helpers/signals';
import { toWire, type SignalValue } from '../src/signals/values';
import { VssModel } from '../src/signals/vss';
import { runScope } from './lib';

const seconds = Number(process.argv[2] ?? 10);
const windowMs = Number(process.argv[3] ?? 50);

function valueFor(m: ReturnType<VssModel['all']>[number], tick: number): SignalValue {
  const base = m.dataType.replace('[]', '');
  let v: string | number | boolean;
  if (m.allowed?.length) v = m.allowed[tick % m.allowed.length]!;
  else if (base === 'boolean') v = tick % 2 === 0;
  else if (base === 'string') v = `s${tick}`;
  else {
    const lo = m.min ?? 0;
    const hi = m.max ?? lo + 100;
    v = lo + (tick % Math.max(1, Math.floor(hi - lo)));
  }
  return (m.dataType.endsWith('[]') ? [v] : v) as SignalValue;
}

async function main(): Promise<void> {
  const model = VssModel.load(FULL_VSS);
  const leaves = model.all().filter((m) => m.path !== 'Vehicle.Speed');
  const up = await startUpstream(runScope, { kuksa: { vss: FULL_VSS }, config: { log: { level: 'warn' }, signals: { batchWindowMs: windowMs } } }).catch(async () => {
    // the ready line is logged at info; fall back to the default level
    return startUpstream(runScope, { kuksa: { vss: FULL_VSS }, config: { signals: { batchWindowMs: windowMs } } });
  });
  const raw = rawClients(up.port);
  const c = await ApiClient.connect(up.agent.apiUrl);
  const sub = await c.request({ type: 'subscribe_apis', apis: ['Vehicle.**'] });
  console.log(`subscribed ${(sub.apis as string[]).length} signals; updating all at 100 Hz for ${seconds} s, batch window ${windowMs} ms`);
  const sentAt = new Map<number, number>();
  const delays: number[] = [];
  const firstDelays: number[] = [];
  let lastDelivered = 0;
  let frames = 0;
  const warmupMs = 1000;
  c.ws.on('message', (data) => {
    const f = JSON.parse(data.toString());
    if (f.type !== 'apis-value') return;
    frames++;
    const tick = f.result['Vehicle.Speed'];
    if (typeof tick !== 'number') return;
    const now = performance.now();
    const t0 = sentAt.get(tick);
    const tFirst = sentAt.get(lastDelivered + 1);
    if (now - start > warmupMs) {
      if (t0 !== undefined) delays.push(now - t0);
      if (tFirst !== undefined) firstDelays.push(now - tFirst);
    }
    for (let i = lastDelivered + 1; i <= tick; i++) sentAt.delete(i);
    lastDelivered = tick;
  });
  const pid = up.agent.proc.pid!;
  await pidusage(pid);
  const cpuStart = process.hrtime.bigint();
  const usage0 = await pidusage(pid);
  let tick = 1;
  let pendingSets = 0;
  const start = performance.now();
  const bench0 = process.cpuUsage();
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      if (performance.now() - start > seconds * 1000) { clearInterval(timer); resolve(); return; }
      if (pendingSets > 20) return; // the server is behind: skip a tick rather than queue without bound
      const n = tick++;
      const updates = leaves.map((m) => ({ entry: { path: m.path, value: toWire(m.dataType, valueFor(m, n)) }, fields: ['FIELD_VALUE'] }));
      updates.push({ entry: { path: 'Vehicle.Speed', value: { float: n } }, fields: ['FIELD_VALUE'] });
      sentAt.set(n, performance.now());
      pendingSets++;
      raw.v1.Set({ updates }, (e: Error | null) => { pendingSets--; if (e) console.error('Set failed', e.message); });
    }, 10);
  });
  const usage1 = await pidusage(pid);
  const wallS = Number(process.hrtime.bigint() - cpuStart) / 1e9;
  const cpuPct = ((usage1.ctime - usage0.ctime) / 1000 / wallS) * 100;
  const benchCpu = process.cpuUsage(bench0);
  const stats = (d: number[]) => {
    d.sort((a, b) => a - b);
    const q = (p: number) => Math.round(d[Math.min(d.length - 1, Math.floor(p * d.length))]! * 10) / 10;
    return { samples: d.length, median: q(0.5), p99: q(0.99) };
  };
  console.log(JSON.stringify({
    ticksSent: tick - 1, updatesPerS: Math.round(((tick - 1) * 910) / wallS), framesReceived: frames,
    agentCpuPercentOfOneCore: Math.round(cpuPct), agentRssMiB: Math.round(usage1.memory / 1048576),
    // newest: the change a frame carries was made this long before the frame arrived (latest value in the window)
    // oldest: the first change coalesced into the frame (the longest any change waited, includes the batch window)
    delayMsNewestChange: stats(delays), delayMsOldestChange: stats(firstDelays),
    benchProcessCpuPercent: Math.round(((benchCpu.user + benchCpu.system) / 1e6 / wallS) * 100),
  }, null, 1));
  c.close();
  raw.v1.close();
  await up.agent.stop();
}

main().catch((e) => { console.error(e); process.exit(1); });
