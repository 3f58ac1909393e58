// The vehicle model as the playground uses it (issue 25), through the stand-in Kit-Manager and the frontend-logic
// client (test/helpers/playground.ts): an Autowrx model whose root is its own main_api (FormCreateModel.tsx), here
// `FarmMachinery`, gives a Python package whose `vehicle` is a FarmMachinery("FarmMachinery"), as the Python runtime
// patches it (kuksa-syncer vehicle_model_manager.py); the built-in model is VSS 4.0 as released, so leaves outside the
// 120 of the old default are written from the page and come back in apis-value.
import t, { type Test } from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startAgent, tmpDir } from './helpers/agent';
import { StandInKitManager } from './helpers/kit-manager';
import { peerPython, VELOCITAS_SDK } from './helpers/peers';
import { Playground, type PlaygroundOptions } from './helpers/playground';

/** A Kit-Manager and a box with the Velocitas SDK in python-packages; pages that select it. */
async function box(t: Test, name: string): Promise<(o?: PlaygroundOptions) => Promise<Playground>> {
  const km = await StandInKitManager.start();
  t.teardown(() => km.close());
  const dataDir = path.join(tmpDir(t, 'sdv-model-'), 'data');
  fs.mkdirSync(path.join(dataDir, 'python-packages'), { recursive: true });
  fs.cpSync(VELOCITAS_SDK, path.join(dataDir, 'python-packages'), { recursive: true });
  await startAgent(t, { dataDir, config: { runtime: { name }, apps: { python: peerPython(), adhocMaxS: 120 }, kitManager: { url: km.url, reconnect: { minMs: 50, maxMs: 500 } } } });
  return async (o: PlaygroundOptions = {}) => {
    const p = await Playground.open(km.url, { assets: [{ type: 'CLOUD_RUNTIME', name: `RunTime-${name}` }], ...o });
    t.teardown(() => p.close());
    await p.selected(`RunTime-${name}`);
    return p;
  };
}

const FARM = {
  FarmMachinery: {
    type: 'branch', description: 'A tractor and its implements.', children: {
      Speed: { type: 'sensor', datatype: 'float', unit: 'km/h', description: 'Ground speed.' },
      Engine: { type: 'branch', description: 'The engine.', children: { Rpm: { type: 'sensor', datatype: 'uint16', description: 'Engine speed.' } } },
      Implement: { type: 'branch', description: 'The hitched implement.', children: { IsLowered: { type: 'actuator', datatype: 'boolean', description: 'Lowered to work.' } } },
    },
  },
};

t.test('a FarmMachinery model: type(vehicle).__name__ == "FarmMachinery"', async (t) => {
  const open = await box(t, 'Farm');
  const p = await open();
  p.buildVehicleModel(JSON.stringify(FARM)); // C 276-284
  t.match(await p.logShows(/\r\n/), /^Successful\r\n$/, 'the model is built');
  const code = [
    'from vehicle import FarmMachinery, vehicle',
    'print("root", type(vehicle).__name__, vehicle.name)',
    'print("paths", vehicle.Speed.get_path(), vehicle.Engine.Rpm.get_path(), vehicle.Implement.IsLowered.get_path())',
    'print("is class", isinstance(vehicle, FarmMachinery))',
  ].join('\n');
  const run = await open({ prototype: { id: 'farm', name: 'Farm', language: 'python', code } });
  run.run();
  const log = await run.logShows(/Exit code/);
  t.match(log, /root FarmMachinery FarmMachinery\r\n/, 'vehicle = FarmMachinery("FarmMachinery")');
  t.match(log, /paths FarmMachinery\.Speed FarmMachinery\.Engine\.Rpm FarmMachinery\.Implement\.IsLowered\r\n/);
  t.match(log, /is class True\r\nExit code 0\r\n$/);
});

/** Four VSS 4.0 sensors (a sensor's written value is its current one) that the old 120-leaf default did not have. */
const NEW_LEAVES: Record<string, string> = {
  'Vehicle.OBD.EngineSpeed': '1800',
  'Vehicle.Body.Windshield.Front.Wiping.IsWipersWorn': 'true',
  'Vehicle.OBD.FuelStatus': 'closed loop',
  'Vehicle.Body.Windshield.Front.Wiping.WiperWear': '42',
};

t.test('four VSS 4.0 leaves outside the old 120, written from the page, come back in apis-value', async (t) => {
  const old = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'resources', 'default-vss.json'), 'utf8'));
  const has = (tree: Record<string, { children?: unknown }>, p: string[]): boolean => {
    const node = tree[p[0]!] as { children?: Record<string, { children?: unknown }> } | undefined;
    return !!node && (p.length === 1 || has(node.children ?? {}, p.slice(1)));
  };
  for (const leaf of Object.keys(NEW_LEAVES)) t.notOk(has(old, leaf.split('.')), `${leaf} was not in the old default`);
  const open = await box(t, 'Vss4');
  const p = await open({ usedAPIs: Object.keys(NEW_LEAVES) });
  await p.until('the four widgets', () => Object.keys(p.apisValue).length === 4);
  for (const [leaf, value] of Object.entries(NEW_LEAVES)) p.enterSignalValue(leaf, value);
  await p.until('the four values back', () => Object.entries(NEW_LEAVES).every(([k, v]) => p.widgets()[k] === v));
  t.same(Object.fromEntries(Object.keys(NEW_LEAVES).map((k) => [k, p.widgets()[k]])), NEW_LEAVES);
});
