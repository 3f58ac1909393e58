// The playground's signal widgets, mock tab and vehicle model as a user sees them (test/helpers/playground.ts), through
// the stand-in Kit-Manager against the real agent: subscribed signals show their values, typed values are written
// (a sensor, and an actuator echoed by the mock provider), set_mock_signals refuses unknown signals and makes the
// listed values live, a run's usedAPIs join the mock list, and the model commands print their outcome in the log.
import t, { type Test } from 'tap';
import { ApiClient, startAgent } from './helpers/agent';
import { StandInKitManager } from './helpers/kit-manager';
import { Playground, type PlaygroundOptions } from './helpers/playground';

const KIT = 'RunTime-Sig';
const SPEED = 'Vehicle.Speed';
const LOW_BEAM = 'Vehicle.Body.Lights.Beam.Low.IsOn';
const DOOR = 'Vehicle.Cabin.Door.Row1.DriverSide.IsOpen';

async function open(t: Test, km: StandInKitManager, opts: PlaygroundOptions): Promise<Playground> {
  const p = await Playground.open(km.url, { assets: [{ type: 'CLOUD_RUNTIME', name: 'Runtime-Sig' }], ...opts });
  t.teardown(() => p.close());
  await p.selected(KIT);
  return p;
}

t.test('signal widgets, mock list and vehicle model through the playground', async (t) => {
  const km = await StandInKitManager.start();
  t.teardown(() => km.close());
  const agent = await startAgent(t, { config: { runtime: { name: 'Sig' }, kitManager: { url: km.url, reconnect: { minMs: 50, maxMs: 500 } }, apps: { adhocMaxS: 60 } } });
  const local = await ApiClient.connect(agent.apiUrl);
  t.teardown(() => local.close());

  t.test('the widgets show the subscribed signals; typed values are written and seen', async (t) => {
    const p = await open(t, km, { usedAPIs: [SPEED, LOW_BEAM] });
    await p.until('the first values', () => Object.keys(p.apisValue).length === 2);
    p.enterSignalValue(SPEED, '88');
    await p.until('the speed widget at 88', () => p.widgets()[SPEED] === '88');
    t.equal(p.widgets()[SPEED], '88', 'a sensor');
    // An actuator's written value is a target; the mock provider (echo-all, started by the operator) makes it current.
    t.match(await local.request({ type: 'mock_service_start', mode: 'echo-all' }), { type: 'mock_service_start-response', mode: 'echo-all' });
    p.enterSignalValue(LOW_BEAM, 'true');
    await p.until('the low beam widget on', () => p.widgets()[LOW_BEAM] === 'true');
    t.equal(p.widgets()[LOW_BEAM], 'true', 'an actuator');
    p.enterSignalValue(SPEED, 'fast');
    t.match(await p.logShows(/\r\n/), /^Error: write_signals_value: .*Vehicle\.Speed.*\r\n$/, 'a value the signal cannot hold: the reason in the log');
    t.equal(p.widgets()[SPEED], '88', 'and the widget keeps the live value');
    p.getRuntimeInfo();
    await p.until('the usage tab', () => Boolean((p.runtimeInfo?.lsOfApiSubscriber as Record<string, unknown> | undefined)?.[p.id]));
    t.same(((p.runtimeInfo!.lsOfApiSubscriber as Record<string, { apis: string[] }>)[p.id]!.apis).sort(), [LOW_BEAM, SPEED].sort(), 'the usage tab counts this page as a listener of two signals');
  });

  t.test('set_mock_signals stores only signals that exist and makes their values live', async (t) => {
    const p = await open(t, km, { usedAPIs: [SPEED] });
    p.setMockSignals([{ signal: SPEED, value: '37' }, { signal: 'Vehicle.NoSuchSignal', value: '1' }]);
    await p.until('the speed widget at 37', () => p.widgets()[SPEED] === '37');
    t.equal(p.widgets()[SPEED], '37', 'the listed value is the live one');
    const reply = p.replies.find((r) => r.cmd === 'set_mock_signals')!;
    t.same(reply.unknown, ['Vehicle.NoSuchSignal'], 'the unknown signal is refused and named');
    t.match(String(reply.error), /Vehicle\.NoSuchSignal \(no such signal in the vehicle model\)/);
    t.match(p.log, /^Error: set_mock_signals: refused Vehicle\.NoSuchSignal \(no such signal in the vehicle model\)\r\n$/, 'and said in the log, the one place the page shows it');
    p.loadMockSignals();
    await p.until('the mock list', () => p.mockSignals.length > 0);
    t.same(p.mockSignals, [{ signal: SPEED, value: '37' }], 'the mock tab lists what was stored');
  });

  t.test('a run\'s usedAPIs join the mock list', async (t) => {
    const p = await open(t, km, { usedAPIs: [SPEED, DOOR, 'Vehicle.NotInTheModel'], prototype: { id: 'u1', name: 'Uses', language: 'python', code: 'print("ran")\n' } });
    p.run();
    await p.logShows(/Exit code 0/);
    p.mockSignals = [];
    p.loadMockSignals();
    await p.until('the mock list', () => p.mockSignals.length > 0);
    t.same(p.mockSignals, [{ signal: SPEED, value: '37' }, { signal: DOOR, value: '0' }], 'the new signal joined with a value; the listed one kept its value; an unknown one was skipped');
  });

  t.test('vehicle model: the outcome in the log', async (t) => {
    const p = await open(t, km, {});
    const tree = { Vehicle: { type: 'branch', description: 'v', children: { Speed: { type: 'sensor', datatype: 'float', description: 's' } } } };
    p.buildVehicleModel(JSON.stringify(tree));
    t.match(await p.logShows(/\r\n/), /^Successful\r\n$/);
    p.log = '';
    p.buildVehicleModel(JSON.stringify({ Vehicle: { type: 'branch', children: { Speed: { type: 'sensor' } } } }));
    t.match(await p.logShows(/\r\n/), /^Error: .*Vehicle\.Speed.*\r\n$/, 'a bad tree: the reason, naming the node');
    p.log = '';
    p.revertToDefaultVehicleModel();
    t.match(await p.logShows(/\r\n/), /^Successful\r\n$/);
  });
});
