// The agent as a client of a databroker that serves kuksa.val.v2 only and holds its providers to the 0.6+ rules (an
// upstream agent configured `kuksa.serveApis: [kuksa.val.v2]` — a stand-in for databroker 0.7, which this box cannot
// build): auto-detection picks v2; the mock provider announces its signals (provide_signal_request) before it
// publishes them, in every mode, so the upstream takes its values instead of ending its stream ABORTED; a GetValue on
// the upstream of a signal the mock provides is answered by the mock (get_provider_value_request).
import t from 'tap';
import { ApiClient, eventually } from './helpers/agent';
import { call, rawClients, startDownstream, startUpstream } from './helpers/signals';

const LOW = 'Vehicle.Body.Lights.Beam.Low.IsOn';
const SPEED = 'Vehicle.Speed';
const SOC = 'Vehicle.Powertrain.TractionBattery.StateOfCharge.Current';

t.test('mock provider on an external v2-only databroker: announce, then publish', async (t) => {
  const up = await startUpstream(t, { kuksa: { serveApis: ['kuksa.val.v2'], echoActuators: false } });
  const raw = rawClients(up.port);
  t.teardown(() => { for (const c of Object.values(raw)) c.close(); });
  const down = await startDownstream(t, up.port, 'auto');
  const connected = await down.waitLog((l) => l.msg === 'kuksa databroker connected');
  t.equal(connected.api, 'kuksa-v2', 'auto-detection on a broker without kuksa.val.v1: the v2 client');
  const c = await ApiClient.connect(down.apiUrl);
  t.teardown(() => c.close());
  const upValue = async (p: string) => (await call(raw.v2, 'GetValue', { signal_id: { path: p } })).data_point?.value;

  // random: values published on the provider stream after provide_signal_response
  await c.request({ type: 'mock_service_configure', mode: 'random', signals: [SPEED, SOC], rateMs: 50 });
  const seen = new Set<number>();
  await eventually('the upstream takes the mock\'s random values', async () => { const v = (await upValue(SOC))?.float; if (typeof v === 'number') seen.add(v); return seen.size > 2; }, { stepMs: 50 });
  t.ok(seen.size > 2, `the upstream holds the random values as they move (${seen.size} distinct seen)`);
  t.match(await c.request({ type: 'mock_service_status' }), { mode: 'random', running: true, error: null }, 'no refusal reported by the mock');

  // static: one publish, after the announcement
  await c.request({ type: 'set_mock_signals', data: [{ signal: SPEED, value: '88' }] });
  await c.request({ type: 'mock_service_configure', mode: 'static' });
  await eventually('the upstream holds the static value', async () => (await upValue(SPEED))?.float === 88, { stepMs: 50 });
  t.pass('static: the upstream holds 88');

  // echo-all: the upstream forwards a target to the mock (by id), the mock publishes it back as the value
  await c.request({ type: 'mock_service_start', mode: 'echo-all' });
  await eventually('an Actuate on the upstream is taken by the mock\'s claim', async () => {
    const ok = await call(raw.v2, 'Actuate', { signal_id: { path: LOW }, value: { bool: true } }).then(() => true, () => false);
    return ok && (await upValue(LOW))?.bool === true;
  }, { stepMs: 100 });
  t.pass('echo-all: the target set on the upstream comes back as its value');
  t.match(await c.request({ type: 'mock_service_status' }), { mode: 'echo-all', running: true, error: null }, 'no refusal reported by the mock');
  t.notOk(down.logs.some((l) => /ABORTED|ProvideSignalRequest first/.test(JSON.stringify(l))), 'the upstream never ended a provider stream for a publish before provide');
});

t.test('the mock provider announces again after the databroker restarts, then publishes', async (t) => {
  let up = await startUpstream(t, { kuksa: { serveApis: ['kuksa.val.v2'] } });
  const port = up.port;
  const down = await startDownstream(t, port, 'v2');
  await down.waitLog((l) => l.msg === 'kuksa databroker connected');
  const c = await ApiClient.connect(down.apiUrl);
  t.teardown(() => c.close());
  await c.request({ type: 'mock_service_configure', mode: 'random', signals: [SOC], rateMs: 50 });
  const moving = async (p: number) => {
    const raw = rawClients(p);
    const seen = new Set<number>();
    try {
      await eventually('the upstream takes the mock\'s values', async () => {
        const v = (await call(raw.v2, 'GetValue', { signal_id: { path: SOC } }).catch(() => null))?.data_point?.value?.float;
        if (typeof v === 'number') seen.add(v);
        return seen.size > 2;
      }, { stepMs: 50 });
    } finally { for (const x of Object.values(raw)) x.close(); }
    return seen.size;
  };
  t.ok(await moving(port) > 2, 'values reach the first upstream');
  await up.agent.stop('SIGKILL');
  const mark = down.logs.length;
  up = await startUpstream(t, { port, kuksa: { serveApis: ['kuksa.val.v2'] } });
  await down.waitLog((l) => l.msg === 'kuksa databroker connected' && down.logs.indexOf(l) >= mark);
  t.ok(await moving(port) > 2, 'values reach the restarted upstream: the provider stream was re-opened and the signals announced again');
  t.match(await c.request({ type: 'mock_service_status' }), { mode: 'random', running: true }, 'the mock runs on');
});
