// Batching and scale: 1 000 updates of one signal coalesce into at most one frame per window per subscriber, the last
// value last (the delay a window adds is a figure of the benchmark, not a test);
// the full VSS 4.0 tree loads and all 910 leaves subscribe at once, embedded and through a v2 client.
import * as fs from 'node:fs';
import t from 'tap';
import { ApiClient, startAgent, tmpDir } from './helpers/agent';
import { call, FULL_VSS, rawClients, startDownstream, startUpstream } from './helpers/signals';

const apisValues = (c: ApiClient, id: unknown) => c.frames.filter((f) => f.type === 'apis-value' && f.id === id);

t.test('1 000 updates of one signal coalesce: at most one frame per window per subscriber, the last value last', async (t) => {
  // The window is long (2 s) so that on an idle box all 1 000 updates fall into one or two windows; on a slow box they
  // spread over more windows, and the property that holds either way is checked: never more than one frame per
  // window (counted against the time the updates actually took), values only rising, the last frame the last value.
  const WINDOW_MS = 2000;
  const up = await startUpstream(t, { config: { signals: { batchWindowMs: WINDOW_MS } } });
  const raw = rawClients(up.port);
  t.teardown(() => raw.v2.close());
  const subs: Array<{ c: ApiClient; id: unknown }> = [];
  for (let i = 0; i < 3; i++) {
    const c = await ApiClient.connect(up.agent.apiUrl);
    t.teardown(() => c.close());
    const r = await c.request({ type: 'subscribe_apis', apis: ['Vehicle.Speed', 'Vehicle.Body.Lights.Hazard.IsSignaling'] });
    subs.push({ c, id: r.subscriptionId });
  }
  for (const s of subs) await s.c.waitFor((f) => f.type === 'apis-value' && f.id === s.id); // initial snapshot
  const t0 = performance.now();
  for (let i = 1; i <= 1000; i++) await call(raw.v2, 'PublishValue', { signal_id: { path: 'Vehicle.Speed' }, data_point: { value: { float: i } } });
  for (const s of subs) await s.c.waitFor((fr) => fr.type === 'apis-value' && fr.id === s.id && (fr.result as Record<string, unknown>)['Vehicle.Speed'] === 1000);
  const windows = Math.ceil((performance.now() - t0) / WINDOW_MS) + 1;
  for (const s of subs) {
    const batches = apisValues(s.c, s.id).slice(1);
    const speeds = batches.map((f) => (f.result as Record<string, unknown>)['Vehicle.Speed'] as number);
    t.ok(batches.every((f) => Object.keys(f.result as object).join() === 'Vehicle.Speed'), 'only the changed signal in each batch');
    t.ok(speeds.every((v, i) => i === 0 || v > speeds[i - 1]!), `values only rise (${speeds.join(', ')})`);
    t.equal(speeds[speeds.length - 1], 1000, 'the last frame carries the last value');
    t.ok(batches.length <= windows, `${batches.length} frames for 1 000 updates over at most ${windows} windows`);
  }
});

t.test('full VSS 4.0: 910 leaves load and subscribe at once', async (t) => {
  const up = await startUpstream(t, { kuksa: { vss: FULL_VSS } });
  const c = await ApiClient.connect(up.agent.apiUrl);
  t.teardown(() => c.close());
  const r = await c.request({ type: 'subscribe_apis', apis: ['Vehicle.**'] });
  t.equal((r.apis as string[]).length, 910, 'embedded: 910 leaves');
  const f = await c.waitFor((fr) => fr.type === 'apis-value' && fr.id === r.subscriptionId);
  t.equal(Object.keys(f.result as object).length, 910, 'snapshot carries every leaf');

  const down = await startDownstream(t, up.port, 'v2');
  await down.waitLog((l) => l.msg === 'kuksa databroker connected');
  const d = await ApiClient.connect(down.apiUrl);
  t.teardown(() => d.close());
  const r2 = await d.request({ type: 'subscribe_apis', apis: ['Vehicle.**'] });
  t.equal((r2.apis as string[]).length, 910, 'external v2: 910 leaves');
  await d.waitFor((fr) => fr.type === 'apis-value' && Object.keys(fr.result as object).length === 910);
  await c.request({ type: 'write_signals_value', data: { 'Vehicle.Cabin.HVAC.AmbientAirTemperature': 21.5 } });
  await d.waitFor((fr) => fr.type === 'apis-value' && (fr.result as Record<string, unknown>)['Vehicle.Cabin.HVAC.AmbientAirTemperature'] === 21.5);
  t.pass('a change flows through the 910-signal upstream subscription');
});

t.test('a bad vehicle model is refused at start with the offending path', async (t) => {
  const dir = tmpDir(t, 'sdv-vss-bad-');
  const file = `${dir}/bad.json`;
  fs.writeFileSync(file, JSON.stringify({ Vehicle: { type: 'branch', children: { Speed: { type: 'sensor', datatype: 'floaty' } } } }));
  const a = await startAgent(t, { config: { kuksa: { vss: file } }, waitReady: false });
  const code = await new Promise<number | null>((resolve) => a.proc.on('exit', resolve));
  t.not(code, 0);
  t.match(a.logs.map((l) => JSON.stringify(l)).join('\n') + a.stderr.join(''), /Vehicle\.Speed: datatype must be/);
});
