// The generated Python `vehicle` package, imported with the real Velocitas SDK 0.14.1: every leaf of the built-in
// model and of VSS 4.0 is the SDK's DataPoint class for its datatype at its VSS path, instances are addressed as the
// Velocitas generator's output addresses them, docstrings carry the VSS descriptions; the package follows
// generate_vehicle_model / revert_vehicle_model before the reply, and is rewritten at start only when it is stale.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ApiClient, eventually, startAgent, tmpDir } from './helpers/agent';
import { runPython } from './helpers/peers';
import { FULL_VSS } from './helpers/signals';
import { probedInfo, velocitasBox, type VelocitasBox } from './helpers/velocitas-box';
import { generatePythonModel, dataPointClass } from '../src/python/model-code';
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
  const py = runPython(t, `import json, sys
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
  t.match(info.python, { velocitasSdk: { importable: true, version: '0.14.1' }, sdvAlias: true, vehicleModel: { signals: 910, source: 'built-in' } });
  const tree = JSON.parse(fs.readFileSync(FULL_VSS, 'utf8')) as Tree;
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
  const r = await c.request({ type: 'generate_vehicle_model', data: vss });
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
  t.match(rev, { result: 'Successful', pythonModel: { signals: 910, source: 'built-in' } });
  const stamp = JSON.parse(fs.readFileSync(path.join(box.agentDir, 'vehicle', '.sdv-agent-model.json'), 'utf8'));
  t.equal(stamp.signals, 910, 'the package on disk followed the revert before the reply');

  // A restart on the same data finds the package current and leaves it alone.
  // The log line of the last write may come a moment after the reply.
  const written = () => box.agent.logs.filter((l) => l.msg === 'python vehicle model written').length;
  // The built-in model is VSS 4.0 itself: the package written at start already matches what generate and revert name.
  await eventually('the start\'s package write logged', () => written() >= 1);
  const writes = written();
  await box.agent.stop();
  const again = await velocitasBox(t, { dataDir: box.agent.dataDir });
  await again.agent.waitLog((l) => l.msg === 'ready');
  t.equal(again.agent.logs.filter((l) => l.msg === 'python vehicle model written').length, 0, 'not rewritten when current');
  t.ok(writes >= 1, `written at start, and left as it was by a generate and a revert of the same tree (${writes})`);
  // A stale one (made from another tree: another hash, and no identity of the built-in model's file) is rewritten.
  t.type(stamp.modelFile, 'string', 'the stamp keeps the built-in model file\'s identity (a restart need not hash it)');
  fs.writeFileSync(path.join(box.agentDir, 'vehicle', '.sdv-agent-model.json'), JSON.stringify({ ...stamp, model: 'other', modelFile: undefined }));
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

t.test('someone else\'s vehicle in python-packages (ahead of the agent\'s on PYTHONPATH) is set aside, never deleted', async (t) => {
  const base = tmpDir(t, 'sdv-vehicle-aside-');
  const dataDir = path.join(base, 'data');
  const pkgs = path.join(dataDir, 'python-packages');
  fs.mkdirSync(path.join(pkgs, 'vehicle'), { recursive: true });
  fs.writeFileSync(path.join(pkgs, 'vehicle', '__init__.py'), 'MINE = 1\n');
  await startAgent(t, { dataDir });
  const aside = fs.readdirSync(pkgs).filter((n) => n.startsWith('vehicle.replaced-'));
  t.equal(aside.length, 1, `set aside as ${aside.join(', ')}`);
  t.equal(fs.readFileSync(path.join(pkgs, aside[0] ?? '-', '__init__.py'), 'utf8'), 'MINE = 1\n', 'whole');
  t.notOk(fs.existsSync(path.join(pkgs, 'vehicle')), 'nothing named vehicle ahead of the agent\'s folder');
  t.ok(fs.existsSync(path.join(dataDir, 'python-agent', 'vehicle', '__init__.py')), 'the agent\'s package is in its folder');
});

t.test('names Python would mangle, merge or refuse: folders unique among siblings, dunders refused naming the node', async (t) => {
  const leaf = { type: 'sensor', datatype: 'float' };
  const py = generatePythonModel(VssModel.parse({ Vehicle: { type: 'branch', children: {
    '12V': { type: 'branch', children: { A: leaf } }, N_12V: { type: 'branch', children: { B: leaf } },
    Door: { type: 'branch', children: { C: leaf } }, door: { type: 'branch', children: { D: leaf } },
    super: { type: 'branch', children: { E: leaf } }, __x: leaf,
  } } }))!;
  t.same([...py.files.keys()].sort(), ['vehicle/Door/__init__.py', 'vehicle/N_12V/__init__.py', 'vehicle/N_12V_/__init__.py', 'vehicle/__init__.py', 'vehicle/door_/__init__.py', 'vehicle/super_/__init__.py']);
  const root = py.files.get('vehicle/__init__.py')!;
  t.match(root, /setattr\(self, "12V", N_12V\("12V", self\)\)/, 'the attribute keeps its VSS name');
  t.match(root, /self\.N_12V = N_12V_\("N_12V", self\)/);
  t.match(root, /setattr\(self, "__x", DataPointFloat\("__x", self\)\)/, 'no self.__x, which Python would mangle');
  t.match(root, /self\.super = super_\("super", self\)/, 'the class is not named super');
  t.throws(() => generatePythonModel(VssModel.parse({ Vehicle: { type: 'branch', children: { A: { type: 'branch', children: { __dict__: leaf } } } } })), /Vehicle\.A\.__dict__: "__dict__" is a name Python keeps/);
  const nul = generatePythonModel(VssModel.parse({ Vehicle: { type: 'branch', children: { S: { ...leaf, description: 'a\u0000b\u0085c' } } } }))!;
  t.notMatch(nul.files.get('vehicle/__init__.py')!, /[\u0000\u0085]/, 'no control characters in the source');
});
