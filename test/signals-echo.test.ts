// The embedded store's actuator echo in the default config (kuksa.echoActuators: true): a write of an actuator from
// the local API or from the playground (through the Kit-Manager) succeeds with no mock provider running, is read back
// and reaches subscribers, as the sdv-runtime's boot-time mock provider made it.
import t from 'tap';
import { ApiClient, startAgent } from './helpers/agent';
import { StandInKitManager } from './helpers/kit-manager';
import { Playground } from './helpers/playground';

const LOW = 'Vehicle.Body.Lights.Beam.Low.IsOn';
const valueOf = (f: Record<string, unknown>, p: string) => (f.result as Record<string, unknown>)[p];

t.test('local API: a write of an actuator succeeds, is read back and reaches a subscriber', async (t) => {
  const a = await startAgent(t);
  const c = await ApiClient.connect(a.apiUrl);
  t.teardown(() => c.close());
  const sub = await c.request({ type: 'subscribe_apis', apis: [LOW] });
  t.match(await c.request({ type: 'write_signals_value', data: { [LOW]: true } }), { result: { [LOW]: 'ok' } }, 'answered success');
  t.same((await c.request({ type: 'get_signals_value', apis: [LOW] })).result, { [LOW]: true }, 'read back');
  await c.waitFor((f) => f.id === sub.subscriptionId && valueOf(f, LOW) === true);
  t.match(await c.request({ type: 'mock_service_status' }), { mode: 'off', running: false }, 'with no mock provider running');
});

t.test('playground: the dashboard button (an actuator written through the Kit-Manager) shows its value with no mock provider', async (t) => {
  const km = await StandInKitManager.start();
  t.teardown(() => km.close());
  await startAgent(t, { config: { runtime: { name: 'Echo' }, kitManager: { url: km.url, reconnect: { minMs: 50, maxMs: 500 } } } });
  const p = await Playground.open(km.url, { assets: [{ type: 'CLOUD_RUNTIME', name: 'Runtime-Echo' }], usedAPIs: [LOW] });
  t.teardown(() => p.close());
  await p.selected('RunTime-Echo');
  await p.until('the first value', () => LOW in p.apisValue);
  p.enterSignalValue(LOW, 'true');
  await p.until('the low beam widget on', () => p.widgets()[LOW] === 'true');
  t.equal(p.widgets()[LOW], 'true', 'the widget shows the written value');
  t.notMatch(p.log, /Error/, 'and the log shows no error');
});
