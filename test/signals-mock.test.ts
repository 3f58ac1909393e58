// Mock provider modes against the embedded store, and echo through an external v1 databroker; the legacy mock list
// persists in dataDir across a restart.
import t from 'tap';
import { ApiClient, eventually, startAgent, restartOnSameData } from './helpers/agent';
import { startDownstream, startUpstream } from './helpers/signals';

const valueOf = (f: Record<string, unknown>, p: string) => (f.result as Record<string, unknown>)[p];

// The mock provider's own modes, with the store's echo turned off so that what they do shows.
t.test('embedded: echo-all, echo-specific, random, static, off', async (t) => {
  const a = await startAgent(t, { config: { signals: { batchWindowMs: 20 }, kuksa: { echoActuators: false } } });
  const c = await ApiClient.connect(a.apiUrl);
  t.teardown(() => c.close());
  const LOW = 'Vehicle.Body.Lights.Beam.Low.IsOn';
  const HIGH = 'Vehicle.Body.Lights.Beam.High.IsOn';

  t.match((await c.request({ type: 'write_signals_value', data: { [LOW]: true } })).errors, { [LOW]: /no provider/ }, 'no provider while off');
  t.match(await c.request({ type: 'mock_service_start', mode: 'echo-all' }), { mode: 'echo-all', running: true });
  t.notOk((await c.request({ type: 'write_signals_value', data: { [LOW]: true } })).errors);
  t.same((await c.request({ type: 'get_signals_value', apis: [LOW] })).result, { [LOW]: true }, 'echo-all: target became the value');

  await c.request({ type: 'mock_service_configure', mode: 'echo-specific', signals: [HIGH] });
  t.notOk((await c.request({ type: 'write_signals_value', data: { [HIGH]: true } })).errors);
  t.same((await c.request({ type: 'get_signals_value', apis: [HIGH] })).result, { [HIGH]: true }, 'echo-specific: listed actuator echoed');
  t.ok((await c.request({ type: 'write_signals_value', data: { [LOW]: false } })).errors, 'echo-specific: others have no provider');

  const r = await c.request({ type: 'mock_service_configure', mode: 'random', signals: ['Vehicle.Speed', 'Vehicle.Powertrain.TractionBattery.StateOfCharge.Current'], rateMs: 30 });
  t.equal(r.mode, 'random');
  const sub = await c.request({ type: 'subscribe_apis', apis: ['Vehicle.Speed', 'Vehicle.Powertrain.TractionBattery.StateOfCharge.Current'] });
  const socs = () => c.frames.filter((f) => f.id === sub.subscriptionId)
    .map((f) => valueOf(f, 'Vehicle.Powertrain.TractionBattery.StateOfCharge.Current')).filter((v) => typeof v === 'number') as number[];
  await eventually('random values', () => new Set(socs()).size > 2);
  t.ok(new Set(socs()).size > 2, `random values move (${socs().length} frames)`);
  t.ok(socs().every((v) => v >= 0 && v <= 100), 'within min/max');

  const list = [{ signal: 'Vehicle.Speed', value: '88' }, { signal: 'Vehicle.Body.Hood.IsOpen', value: 'False' }];
  t.same((await c.request({ type: 'set_mock_signals', data: list })).data, list);
  await c.request({ type: 'mock_service_configure', mode: 'static' });
  const staticValues = async () => (await c.request({ type: 'get_signals_value', apis: ['Vehicle.Speed', 'Vehicle.Body.Hood.IsOpen'] })).result as Record<string, unknown>;
  await eventually('the static values published', async () => (await staticValues())['Vehicle.Speed'] === 88);
  t.same(await staticValues(), { 'Vehicle.Speed': 88, 'Vehicle.Body.Hood.IsOpen': false }, 'static holds the list values, converted');
  t.match(await c.request({ type: 'mock_service_status' }), { mode: 'static', running: true, error: null });

  t.match(await c.request({ type: 'mock_service_stop' }), { mode: 'off', running: false });
  const bad = await c.request({ type: 'mock_service_start', mode: 'dance' });
  t.equal(bad.type, 'error');
  t.match(bad.message ?? bad.error, /mode: expected one of/);

  // the mock list survives a restart
  const { client: cb } = await restartOnSameData(t, a);
  t.same((await cb.request({ type: 'list_mock_signal' })).data, list, 'mock list persisted');
});

t.test('external v1: echo-all answers actuator targets', async (t) => {
  const up = await startUpstream(t, { kuksa: { echoActuators: false } }); // the downstream's mock, not the upstream's echo
  const down = await startDownstream(t, up.port, 'v1');
  await down.waitLog((l) => l.msg === 'kuksa databroker connected');
  const c = await ApiClient.connect(down.apiUrl);
  t.teardown(() => c.close());
  await c.request({ type: 'mock_service_start', mode: 'echo-all' });
  const sub = await c.request({ type: 'subscribe_apis', apis: ['Vehicle.Cabin.Door.Row1.DriverSide.IsOpen'] });
  // Until the upstream has the mock's claim, a write is refused for want of a provider.
  await eventually('a write the mock provider takes', async () => !(await c.request({ type: 'write_signals_value', data: { 'Vehicle.Cabin.Door.Row1.DriverSide.IsOpen': true } })).errors, { stepMs: 100 });
  await c.waitFor((f) => f.id === sub.subscriptionId && valueOf(f, 'Vehicle.Cabin.Door.Row1.DriverSide.IsOpen') === true);
  t.pass('v1: target echoed as current value');
});
