// generate_vehicle_model swaps the embedded store atomically: subscriptions whose signals survive keep flowing, the
// others are reported; a bad tree is refused naming the path; revert goes back to the default model;
// kuksa.modelGenerator runs after the change whichever door it came through.
import * as fs from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import { ApiClient, startAgent, restartOnSameData, tmpDir } from './helpers/agent';
import { StandInKitManager } from './helpers/kit-manager';
import { Playground } from './helpers/playground';

t.test('generate and revert keep surviving subscriptions', async (t) => {
  const a = await startAgent(t, { config: { signals: { batchWindowMs: 20 } } });
  const c = await ApiClient.connect(a.apiUrl);
  t.teardown(() => c.close());
  const sub = await c.request({ type: 'subscribe_apis', apis: ['Vehicle.Speed', 'Vehicle.Body.Hood.IsOpen'] });
  await c.request({ type: 'write_signals_value', data: { 'Vehicle.Speed': 5 } });

  const bad = await c.request({ type: 'generate_vehicle_model', data: JSON.stringify({ Vehicle: { type: 'branch', children: { Speed: { type: 'sensr', datatype: 'float' } } } }) });
  t.equal(bad.type, 'error');
  t.match(JSON.stringify(bad), /Vehicle\.Speed: type must be/);

  const tree = { Vehicle: { type: 'branch', children: { Speed: { type: 'sensor', datatype: 'float', unit: 'km/h' }, Custom: { type: 'branch', children: { Gizmo: { type: 'actuator', datatype: 'int16' } } } } } };
  const g = await c.request({ type: 'generate_vehicle_model', data: tree });
  t.match(g, { result: 'Successful', leaves: 2 });
  t.same(g.droppedSubscriptions, [{ id: sub.subscriptionId, paths: ['Vehicle.Body.Hood.IsOpen'] }], 'vanished signals reported');
  t.same((await c.request({ type: 'get_signals_value', apis: ['Vehicle.Speed'] })).result, { 'Vehicle.Speed': 5 }, 'surviving value kept');
  await c.request({ type: 'write_signals_value', data: { 'Vehicle.Speed': 6 } });
  await c.waitFor((f) => f.id === sub.subscriptionId && (f.result as Record<string, unknown>)['Vehicle.Speed'] === 6);
  t.pass('surviving subscription keeps flowing after generate');
  const sub2 = await c.request({ type: 'subscribe_apis', apis: ['Vehicle.Custom.*'] });
  t.same(sub2.apis, ['Vehicle.Custom.Gizmo']);

  const r = await c.request({ type: 'revert_vehicle_model' });
  t.match(r, { result: 'Successful' });
  t.ok((r.leaves as number) > 90, 'default model back');
  await c.request({ type: 'write_signals_value', data: { 'Vehicle.Speed': 7 } });
  await c.waitFor((f) => f.id === sub.subscriptionId && (f.result as Record<string, unknown>)['Vehicle.Speed'] === 7);
  t.pass('surviving subscription keeps flowing after revert');
});

t.test('a generated model survives a restart', async (t) => {
  const a = await startAgent(t);
  const c = await ApiClient.connect(a.apiUrl);
  const tree = { Vehicle: { type: 'branch', children: { Speed: { type: 'sensor', datatype: 'float' }, Only: { type: 'sensor', datatype: 'boolean' } } } };
  t.match(await c.request({ type: 'generate_vehicle_model', data: tree }), { result: 'Successful' });
  c.close();
  const { client: cb } = await restartOnSameData(t, a);
  const r = await cb.request({ type: 'subscribe_apis', apis: ['Vehicle.**'] });
  t.same(r.apis, ['Vehicle.Speed', 'Vehicle.Only']);
});

t.test('a restarted box parses its built-in model at the first call that needs it, not at start', async (t) => {
  const config = { log: { level: 'info' } };
  const first = await startAgent(t, { config });
  await first.stop(); // the first start wrote the Python vehicle package from the model
  const a = await startAgent(t, { dataDir: first.dataDir, config });
  await a.waitLog((l) => l.msg === 'ready');
  t.notOk(a.logs.some((l) => l.msg === 'vehicle model ready'), 'not parsed by the start (the package check needs only the identity of the model file)');
  const c = await ApiClient.connect(a.apiUrl);
  t.teardown(() => c.close());
  await c.request({ type: 'write_signals_value', data: { 'Vehicle.Speed': 42 } });
  t.same((await c.request({ type: 'get_signals_value', apis: ['Vehicle.Speed'] })).result, { 'Vehicle.Speed': 42 });
  t.match(await a.waitLog((l) => l.msg === 'vehicle model ready'), { leaves: 910, source: 'built-in' }, 'parsed once, by the first signal request');
  t.equal(a.logs.filter((l) => l.msg === 'vehicle model ready').length, 1);
  const sub = await c.request({ type: 'subscribe_apis', apis: ['Vehicle.Cabin.Door.Row1.DriverSide.IsOpen'] });
  t.same(sub.apis, ['Vehicle.Cabin.Door.Row1.DriverSide.IsOpen'], 'the whole model is there');
});

t.test('kuksa.modelGenerator runs after generate, its output streamed', async (t) => {
  const dir = tmpDir(t, 'sdv-gen-');
  const script = path.join(dir, 'gen.js');
  fs.writeFileSync(script, "const m = JSON.parse(require('fs').readFileSync(process.env.SDV_VSS_FILE, 'utf8'));\nconsole.log('roots', Object.keys(m).join(','));\nconsole.log('done');\n");
  const a = await startAgent(t, { config: { kuksa: { modelGenerator: `${process.execPath} ${script}` } } });
  const c = await ApiClient.connect(a.apiUrl);
  t.teardown(() => c.close());
  c.send({ type: 'generate_vehicle_model', id: 'g1', data: { Vehicle: { type: 'branch', children: { Speed: { type: 'sensor', datatype: 'float' } } } } });
  const final = await c.waitFor((f) => f.id === 'g1' && f.result === 'Successful');
  const lines = c.frames.filter((f) => f.requestId === 'g1' && typeof f.line === 'string').map((f) => f.line);
  t.same(lines, ['roots Vehicle', 'done'], 'generator output streamed');
  t.match(final.generator, { exitCode: 0 });
});

t.test('kuksa.modelGenerator runs after a Kit-Manager generate and revert too; its lines and failures in the log', async (t) => {
  const dir = tmpDir(t, 'sdv-gen-');
  const script = path.join(dir, 'gen.js');
  // Fails when the model has no Speed (the revert's built-in model has one; a second tree has not).
  fs.writeFileSync(script, "const m = JSON.parse(require('fs').readFileSync(process.env.SDV_VSS_FILE, 'utf8'));\nconst kids = Object.keys(m.Vehicle.children);\nconsole.log('generated', kids.length, 'branches and leaves');\nprocess.exit(kids.includes('Speed') ? 0 : 3);\n");
  const km = await StandInKitManager.start();
  t.teardown(() => km.close());
  await startAgent(t, { config: { runtime: { name: 'Gen' }, kitManager: { url: km.url, reconnect: { minMs: 50, maxMs: 500 } }, kuksa: { modelGenerator: `${process.execPath} ${script}` } } });
  const p = await Playground.open(km.url, { assets: [{ type: 'CLOUD_RUNTIME', name: 'Runtime-Gen' }] });
  t.teardown(() => p.close());
  await p.selected('RunTime-Gen');

  p.buildVehicleModel(JSON.stringify({ Vehicle: { type: 'branch', description: 'v', children: { Speed: { type: 'sensor', datatype: 'float', description: 's' } } } }));
  t.match(await p.logShows(/Successful\r\n/), /^generated 1 branches and leaves\r\nSuccessful\r\n$/, 'the generator ran, its line before the outcome');
  p.log = '';
  p.buildVehicleModel(JSON.stringify({ Vehicle: { type: 'branch', description: 'v', children: { Other: { type: 'sensor', datatype: 'float', description: 'o' } } } }));
  t.match(await p.logShows(/Successful.*\r\n/), /^generated 1 branches and leaves\r\nSuccessful; kuksa\.modelGenerator failed: exit code 3\r\n$/, 'a failing generator is said');
  p.log = '';
  p.revertToDefaultVehicleModel();
  t.match(await p.logShows(/Successful\r\n/), /^generated \d+ branches and leaves\r\nSuccessful\r\n$/, 'revert runs it too');
});
