// The generated Python `vehicle` package, imported with the real Velocitas SDK 0.14.1: every leaf of the built-in
// model and of VSS 4.0 is the SDK's DataPoint class for its datatype at its VSS path, instances are addressed as the
// Velocitas generator's output addresses them, docstrings carry the VSS descriptions; the package follows
// generate_vehicle_model / revert_vehicle_model before the reply, and is rewritten at start only when it is stale.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ApiClient } from './helpers/agent';
import { runPython } from './helpers/peers';
import { FULL_VSS } from './helpers/signals';
import { probedInfo, velocitasBox, type VelocitasBox } from './helpers/velocitas-box';
import { generatePythonModel, dataPointClass } from '../src/signals/python-model';
import { VssModel } from '../src/signals/vss';

type Tree = Record<string, unknown>;

/** [path, datatype] of every leaf of a VSS JSON tree. */
function leavesOf(tree: Tree): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const walk = (node: Tree, p: string) => {
    if (node.type === 'branch') for (const [k, v] of Object.entries((node.children ?? {}) as Tree)) walk(v as Tree, `${p}.${k}`);
    else out.push([p, node.datatype as string]);
  };
  for (const [k, v] of Object.entries(tree)) walk(v as Tree, k);
  return out;
}

/** Imports vehicle (and sdv) in the peer python as an app would, and checks every leaf against the tree. */
async function checkImport(box: VelocitasBox, leaves: Array<[string, string]>, extra = ''): Promise<Record<string, unknown>> {
  const list = path.join(box.packages, '..', `leaves-${Date.now()}.json`);
  fs.writeFileSync(list, JSON.stringify(leaves.map(([p, d]) => [p, dataPointClass(d)])));
  const py = runPython(`import json, sys
from sdv.vdb.reply import DataPointReply
from sdv.vehicle_app import VehicleApp
import sdv.model, velocitas_sdk.model
from vehicle import Vehicle, vehicle
bad = []
for path, cls in json.load(open(sys.argv[1])):
    node = vehicle.getNode(path)
    if type(node).__name__ != cls or node.get_path() != path or not isinstance(node, getattr(sdv.model, cls)):
        bad.append([path, cls, type(node).__name__, node.get_path()])
out = {"bad": bad[:5], "nbad": len(bad), "isVehicle": isinstance(vehicle, Vehicle) and isinstance(vehicle, sdv.model.Model), "name": vehicle.name}
${extra}
print(json.dumps(out), flush=True)
`, { args: [list], env: { PYTHONPATH: box.pythonPath, SDV_MQTT_ADDRESS: `mqtt://127.0.0.1:${box.mqttPort}` } });
  const line = await py.waitOut(/^\{/, 60_000);
  return JSON.parse(line) as Record<string, unknown>;
}

t.test('the built-in model, written at start, imports with the SDK; every leaf is its DataPoint class', async (t) => {
  const box = await velocitasBox(t);
  const c = await ApiClient.connect(box.agent.apiUrl);
  t.teardown(() => c.close());
  const info = await probedInfo(c);
  t.match(info.python, { velocitasSdk: { importable: true, version: '0.14.1' }, sdvAlias: true, vehicleModel: { signals: 120, source: 'built-in' } });
  const tree = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'resources', 'default-vss.json'), 'utf8')) as Tree;
  const res = await checkImport(box, leavesOf(tree), `
out["door"] = vehicle.Cabin.Door.Row1.DriverSide.IsOpen.get_path()
out["doc"] = Vehicle.__doc__
out["speedDoc"] = "Vehicle speed." in Vehicle.__doc__ and "Unit: km/h" in Vehicle.__doc__
`);
  t.same(res.bad, [], 'every leaf: class, path, isinstance');
  t.equal(res.nbad, 0);
  t.equal(res.isVehicle, true);
  t.equal(res.name, 'Vehicle', 'vehicle = Vehicle("Vehicle")');
  t.equal(res.door, 'Vehicle.Cabin.Door.Row1.DriverSide.IsOpen', 'instances as expanded branches, as the Velocitas generator gives them');
  t.match(res.doc, /^Vehicle: High-level vehicle data\./, 'docstring from the VSS description');
  t.equal(res.speedDoc, true, 'leaf description and unit in the class docstring');
});

t.test('VSS 4.0 through generate_vehicle_model: all 910 leaves; revert goes back; restart rewrites only when stale', async (t) => {
  const box = await velocitasBox(t);
  const c = await ApiClient.connect(box.agent.apiUrl);
  t.teardown(() => c.close());
  await probedInfo(c);
  const vss = fs.readFileSync(FULL_VSS, 'utf8');
  const t0 = Date.now();
  const r = await c.request({ type: 'generate_vehicle_model', data: vss }, 30_000);
  t.match(r, { result: 'Successful', leaves: 910, pythonModel: { signals: 910, source: 'generate_vehicle_model' } }, `replied in ${Date.now() - t0} ms`);
  const res = await checkImport(box, leavesOf(JSON.parse(vss) as Tree), `
out["seat"] = vehicle.Cabin.Seat.Row2.PassengerSide.Heating.get_path()
out["arr"] = type(vehicle.Cabin.SeatPosCount).__name__
`);
  t.same(res.bad, []);
  t.equal(res.nbad, 0);
  t.equal(res.seat, 'Vehicle.Cabin.Seat.Row2.PassengerSide.Heating');
  t.equal(res.arr, 'DataPointUint8Array', 'arrays are the SDK\'s *Array data points');

  const rev = await c.request({ type: 'revert_vehicle_model' });
  t.match(rev, { result: 'Successful', pythonModel: { signals: 120, source: 'built-in' } });
  const stamp = JSON.parse(fs.readFileSync(path.join(box.agentDir, 'vehicle', '.sdv-agent-model.json'), 'utf8'));
  t.equal(stamp.signals, 120, 'the package on disk followed the revert before the reply');

  // A restart on the same data finds the package current and leaves it alone.
  // The log line of the last write may come a moment after the reply.
  const written = () => box.agent.logs.filter((l) => l.msg === 'python vehicle model written').length;
  for (const end = Date.now() + 10_000; written() < 3 && Date.now() < end;) await new Promise((r) => setTimeout(r, 50));
  const writes = written();
  await box.agent.stop();
  const again = await velocitasBox(t, { dataDir: box.agent.dataDir });
  await again.agent.waitLog((l) => l.msg === 'ready');
  t.equal(again.agent.logs.filter((l) => l.msg === 'python vehicle model written').length, 0, 'not rewritten when current');
  t.ok(writes >= 3, `written at start, after generate and after revert (${writes})`);
  // A stale one (made from another tree) is rewritten at start.
  fs.writeFileSync(path.join(box.agentDir, 'vehicle', '.sdv-agent-model.json'), JSON.stringify({ ...stamp, model: 'other' }));
  await again.agent.stop();
  const third = await velocitasBox(t, { dataDir: box.agent.dataDir });
  await third.agent.waitLog((l) => l.msg === 'python vehicle model written');
});

t.test('names VSS allows and Python does not, and names the SDK\'s Model uses, still give an importable package', async (t) => {
  const leaf = (datatype: string, description = 'd') => ({ type: 'sensor', datatype, description });
  const tree = {
    Vehicle: {
      type: 'branch', description: 'Root with """quotes""" and a \\ backslash', children: {
        '12V': { type: 'branch', description: 'digit first', children: { Level: leaf('uint8') } },
        None: { type: 'branch', description: 'a keyword', children: { class: leaf('boolean'), Value: leaf('int64[]') } },
        Model: { type: 'branch', description: 'the SDK base class name', children: { DataPointFloat: leaf('float'), Model: { type: 'branch', description: 'nested', children: { X: leaf('string') } } } },
        Body: { type: 'branch', description: 'child named like its parent', children: { Body: { type: 'branch', description: 'b', children: { Y: leaf('double') } } } },
        name: leaf('string'),
        Speed: leaf('float'),
      },
    },
    Other: { type: 'branch', children: { Z: leaf('float') } },
  };
  const model = VssModel.parse(tree);
  const a = generatePythonModel(model)!;
  const b = generatePythonModel(VssModel.parse(JSON.parse(JSON.stringify(tree))))!;
  t.equal(a.hash, b.hash, 'deterministic: the same tree, the same bytes');
  t.same([...a.files.keys()], [...b.files.keys()]);
  t.same(a.skipped, ['Vehicle.name', 'Other'], 'a leaf named like Model.name, and a root other than Vehicle, are left out and reported');
  const box = await velocitasBox(t);
  const c = await ApiClient.connect(box.agent.apiUrl);
  t.teardown(() => c.close());
  await probedInfo(c);
  const r = await c.request({ type: 'generate_vehicle_model', data: tree });
  t.match(r, { result: 'Successful', pythonModel: { signals: 7 } });
  const res = await checkImport(box, leavesOf({ Vehicle: tree.Vehicle }).filter(([p]) => p !== 'Vehicle.name'), `
out["doc"] = '"""quotes"""' in Vehicle.__doc__
out["kw"] = getattr(getattr(vehicle, "None"), "class").get_path()
`);
  t.same(res.bad, []);
  t.equal(res.doc, true);
  t.equal(res.kw, 'Vehicle.None.class');
});
