// Batching and scale: 1 000 updates of one signal inside a window give one frame per subscriber with the last value;
// the full VSS 4.0 tree loads and all 910 leaves subscribe at once, embedded and through a v2 client.
import * as fs from 'node:fs';
import t from 'tap';
import { ApiClient, startAgent } from './helpers/agent';
import { call, FULL_VSS, rawClients, startDownstream, startUpstream } from './helpers/signals';

const apisValues = (c: ApiClient, id: unknown) => c.frames.filter((f) => f.type === 'apis-value' && f.id === id);

t.test('1 000 updates inside one window: one frame per subscriber, last value', async (t) => {
  const up = await startUpstream({ config: { signals: { batchWindowMs: 4000 } } });
  t.teardown(() => up.agent.stop());
  const raw = rawClients(up.port);
  t.teardown(() => raw.v2.close());
  const subs: Array<{ c: ApiClient; id: unknown }> = [];
  for (let i = 0; i < 3; i++) {
    const c = await ApiClient.connect(up.agent.apiUrl);
    t.teardown(() => c.close());
    const r = await c.request({ type: 'subscribe_apis', apis: ['Vehicle.Speed', 'Vehicle.Body.Lights.Hazard.IsSignaling'] });
    subs.push({ c, id: r.subscriptionId });
  }
  for (const s of subs) await s.c.waitFor((f) => f.type === 'apis-value' && f.id === s.id, 10_000); // initial snapshot
  for (let i = 1; i <= 1000; i++) await call(raw.v2, 'PublishValue', { signal_id: { path: 'Vehicle.Speed' }, data_point: { value: { float: i } } });
  for (const s of subs) {
    const f = await s.c.waitFor((fr) => fr.type === 'apis-value' && fr.id === s.id && (fr.result as Record<string, unknown>)['Vehicle.Speed'] !== null, 10_000);
    t.same(f.result, { 'Vehicle.Speed': 1000 }, 'only the changed signal, with the last value');
  }
  await new Promise((r) => setTimeout(r, 500));
  for (const s of subs) t.equal(apisValues(s.c, s.id).length, 2, 'snapshot + exactly one batch frame');
});

t.test('full VSS 4.0: 910 leaves load and subscribe at once', { skip: !fs.existsSync(FULL_VSS) && 'shared VSS release not found' }, async (t) => {
  const up = await startUpstream({ kuksa: { vss: FULL_VSS } });
  t.teardown(() => up.agent.stop());
  const c = await ApiClient.connect(up.agent.apiUrl);
  t.teardown(() => c.close());
  const r = await c.request({ type: 'subscribe_apis', apis: ['Vehicle.**'] });
  t.equal((r.apis as string[]).length, 910, 'embedded: 910 leaves');
  const f = await c.waitFor((fr) => fr.type === 'apis-value' && fr.id === r.subscriptionId);
  t.equal(Object.keys(f.result as object).length, 910, 'snapshot carries every leaf');

  const down = await startDownstream(up.port, 'v2');
  t.teardown(() => down.stop());
  await down.waitLog((l) => l.msg === 'kuksa databroker connected');
  const d = await ApiClient.connect(down.apiUrl);
  t.teardown(() => d.close());
  const r2 = await d.request({ type: 'subscribe_apis', apis: ['Vehicle.**'] }, 20_000);
  t.equal((r2.apis as string[]).length, 910, 'external v2: 910 leaves');
  await d.waitFor((fr) => fr.type === 'apis-value' && Object.keys(fr.result as object).length === 910, 20_000);
  await c.request({ type: 'write_signals_value', data: { 'Vehicle.Cabin.HVAC.AmbientAirTemperature': 21.5 } });
  await d.waitFor((fr) => fr.type === 'apis-value' && (fr.result as Record<string, unknown>)['Vehicle.Cabin.HVAC.AmbientAirTemperature'] === 21.5);
  t.pass('a change flows through the 910-signal upstream subscription');
});

t.test('a bad vehicle model is refused at start with the offending path', async (t) => {
  const dir = fs.mkdtempSync('/tmp/sdv-vss-bad-');
  const file = `${dir}/bad.json`;
  fs.writeFileSync(file, JSON.stringify({ Vehicle: { type: 'branch', children: { Speed: { type: 'sensor', datatype: 'floaty' } } } }));
  const a = await startAgent({ config: { kuksa: { vss: file } }, waitReady: false });
  t.teardown(() => a.stop());
  const code = await new Promise<number | null>((resolve) => a.proc.on('exit', resolve));
  t.not(code, 0);
  t.match(a.logs.map((l) => JSON.stringify(l)).join('\n') + a.stderr.join(''), /Vehicle\.Speed: datatype must be/);
});
