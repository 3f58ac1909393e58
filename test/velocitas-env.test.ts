// What every user program gets (SDV_* addresses, PYTHONPATH with the agent's folder before an inherited one) in
// deployed apps, Kit-Manager ad-hoc runs and compiled runs; the sdv alias (the very modules of velocitas_sdk, an
// existing sdv left alone); provisioning the SDK with install_python_packages; and the agent's one extra line for a
// run whose import of sdv / velocitas_sdk / vehicle fails.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ApiClient, startAgent, tmpDir } from './helpers/agent';
import { agentBehindKitManager } from './helpers/kit-manager';
import { runPython, VELOCITAS_SDK } from './helpers/peers';
import { deployPython, probedInfo, velocitasBox } from './helpers/velocitas-box';
import { buildWheel } from './helpers/wheel';

const PRINT_ENV = 'import os, json\nprint("ENV " + json.dumps({k: os.environ.get(k) for k in ("SDV_MIDDLEWARE_TYPE", "SDV_VEHICLEDATABROKER_ADDRESS", "SDV_MQTT_ADDRESS", "PYTHONPATH")}), flush=True)\n';
const envOf = (line: string) => JSON.parse(line.slice(line.indexOf('ENV ') + 4)) as Record<string, string | null>;

t.test('the environment of deployed apps, ad-hoc runs and compiled runs', async (t) => {
  const inherited = tmpDir(t, 'sdv-inherited-');
  const agent = await startAgent(t, { config: { kuksa: { serve: true, address: '127.0.0.1:0' } }, env: { PYTHONPATH: inherited } });
  const mqttPort = (await agent.waitLog((l) => l.msg === 'mqtt broker listening')).port as number;
  const grpcPort = (await agent.waitLog((l) => l.msg === 'databroker gRPC server listening')).port as number;
  const pkgs = `${path.join(agent.dataDir, 'python-packages')}:${path.join(agent.dataDir, 'python-agent')}`;
  const want = { SDV_MIDDLEWARE_TYPE: 'native', SDV_VEHICLEDATABROKER_ADDRESS: `grpc://127.0.0.1:${grpcPort}`, SDV_MQTT_ADDRESS: `mqtt://127.0.0.1:${mqttPort}`, PYTHONPATH: `${pkgs}:${inherited}` };
  const c = await ApiClient.connect(agent.apiUrl);
  t.teardown(() => c.close());

  const app = await deployPython(c, 'envapp', PRINT_ENV);
  t.same(envOf(await app.waitLine(/^ENV /)), want, 'deployed app: the ports actually bound; python-packages, then the agent\'s folder, before the inherited PYTHONPATH');

  c.send({ type: 'run_python_app', id: 'adhoc', data: { code: PRINT_ENV, name: 'env' } });
  const adhoc = await c.waitFor((f) => (f.id === 'adhoc' || f.requestId === 'adhoc') && typeof f.result === 'string' && (f.result as string).includes('ENV '));
  t.same(envOf(String(adhoc.result).split('\r\n').find((l) => l.startsWith('ENV '))!), want, 'Kit-Manager ad-hoc run');

  const cpp = '#include <cstdio>\n#include <cstdlib>\nint main(){ const char* a = std::getenv("SDV_MQTT_ADDRESS"); const char* p = std::getenv("PYTHONPATH"); std::printf("CPP %s %s\\n", a ? a : "-", p ? p : "-"); return 0; }';
  c.send({ type: 'run_cpp_app', id: 'cpp', data: { code: cpp, name: 'envcpp' } });
  const out = await c.waitFor((f) => (f.id === 'cpp' || f.requestId === 'cpp') && typeof f.result === 'string' && (f.result as string).includes('CPP '));
  t.match(String(out.result), `CPP mqtt://127.0.0.1:${mqttPort} ${pkgs}:${inherited}`, 'compiled run');
});

t.test('mqtt.mode external passes mqtt.address; off passes nothing', async (t) => {
  for (const [mode, expected] of [['external', 'mqtt://192.0.2.7:1999'], ['off', null]] as const) {
    const agent = await startAgent(t, { config: { mqtt: { mode, address: '192.0.2.7:1999' } } });
    const c = await ApiClient.connect(agent.apiUrl);
    t.teardown(() => c.close());
    const app = await deployPython(c, `env-${mode}`, PRINT_ENV);
    t.equal(envOf(await app.waitLine(/^ENV /)).SDV_MQTT_ADDRESS, expected, mode);
    t.notOk(agent.logs.some((l) => l.msg === 'mqtt broker listening'), `${mode}: no broker started`);
  }
});

t.test('sdv is velocitas_sdk itself: the same module objects, so isinstance holds across both names', async (t) => {
  const box = await velocitasBox(t);
  const c = await ApiClient.connect(box.agent.apiUrl);
  t.teardown(() => c.close());
  t.match((await probedInfo(c)).python, { sdvAlias: true });
  const py = runPython(t, `import sys, json
import sdv
from sdv.vdb.reply import DataPointReply
from sdv.vehicle_app import VehicleApp
import sdv.model as a
import velocitas_sdk.model as b
import velocitas_sdk.vdb.reply, velocitas_sdk.vehicle_app
from vehicle import vehicle
dup = [n for n, m in sys.modules.items() if n.startswith("sdv.") and m is not sys.modules.get("velocitas_sdk." + n[4:])]
print(json.dumps({"top": sdv is sys.modules["velocitas_sdk"], "model": a is b, "cls": a.DataPointFloat is b.DataPointFloat,
  "app": VehicleApp is velocitas_sdk.vehicle_app.VehicleApp, "reply": DataPointReply is velocitas_sdk.vdb.reply.DataPointReply,
  "isinstance": isinstance(vehicle.Speed, a.DataPointFloat), "spec": a.__spec__.name, "dup": dup}), flush=True)
`, { env: { PYTHONPATH: box.pythonPath, SDV_MQTT_ADDRESS: `mqtt://127.0.0.1:${box.mqttPort}` } });
  t.same(JSON.parse(await py.waitOut(/^\{/)), { top: true, model: true, cls: true, app: true, reply: true, isinstance: true, spec: 'velocitas_sdk.model', dup: [] });
});

t.test('an existing sdv (kuksa-client ships one) is left alone, with a notice', async (t) => {
  const other = tmpDir(t, 'sdv-kuksa-client-');
  fs.mkdirSync(path.join(other, 'sdv'));
  fs.writeFileSync(path.join(other, 'sdv', '__init__.py'), '# a top-level sdv package of another project\n');
  const box = await velocitasBox(t, { env: { PYTHONPATH: other } });
  const c = await ApiClient.connect(box.agent.apiUrl);
  t.teardown(() => c.close());
  const info = await probedInfo(c);
  t.match(info.python, { sdvAlias: false, velocitasSdk: { importable: true } });
  t.notOk(fs.existsSync(path.join(box.agentDir, 'sdv')), 'no alias written');
  t.notOk(fs.existsSync(path.join(box.packages, 'sdv')), 'and nothing in the python-packages folder');
  t.match((info.notices as string[]).join('\n'), new RegExp(`an sdv package that is not the Velocitas SDK is installed \\(${other}/sdv.*kuksa-client`));
  const app = await deployPython(c, 'collide', 'from sdv.vehicle_app import VehicleApp\n');
  t.match(await app.waitLine(/^\[sdv-agent\]/), /not the Velocitas SDK .* import velocitas_sdk instead/, 'the failed run says why');
});

t.test('a bare box: one agent line says what is missing and how to install it; installing the SDK brings sdv', async (t) => {
  const wheels = tmpDir(t, 'sdv-wheels-');
  const files: Record<string, string> = {};
  const walk = (dir: string, rel: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory()) { if (e.name !== '__pycache__') walk(path.join(dir, e.name), `${rel}/${e.name}`); } else if (/\.(py|pyi|typed)$/.test(e.name)) files[`${rel}/${e.name}`] = fs.readFileSync(path.join(dir, e.name), 'utf8');
    }
  };
  walk(path.join(VELOCITAS_SDK, 'velocitas_sdk'), 'velocitas_sdk');
  buildWheel(wheels, 'velocitas_sdk', '0.14.1', files);
  const { agent, fe } = await agentBehindKitManager(t, 'BareBox', { packages: { findLinks: wheels, installTimeoutS: 120 }, apps: { python: (await import('./helpers/peers')).peerPython() } });
  const c = await ApiClient.connect(agent.apiUrl);
  t.teardown(() => c.close());
  const info = await probedInfo(c);
  t.match(info.python, { velocitasSdk: { importable: false }, sdvAlias: false, vehicleModel: { signals: 910 } });

  const app = await deployPython(c, 'playground', 'from sdv.vdb.reply import DataPointReply\nfrom sdv.vehicle_app import VehicleApp\n');
  const hint = await app.waitLine(/^\[sdv-agent\] sdv/);
  t.match(hint, /install_python_packages "velocitas-sdk==0\.14\.1" \(offline, from packages\.findLinks/, 'deployed app: the install command');
  t.equal(app.output().filter((l) => l.startsWith('[sdv-agent] sdv')).length, 1, 'one line');

  const before = fe.replies.length;
  fe.send('RunTime-BareBox', { cmd: 'run_python_app', data: { code: 'from vehicle import Vehicle, vehicle\n', name: 'Proto' } });
  const done = await fe.waitFor((r) => fe.replies.indexOf(r) >= before && r.cmd === 'run_python_app' && r.isDone === true);
  const text = fe.replies.slice(before).filter((r) => r.cmd === 'run_python_app' && r.isDone === false).map((r) => r.result).join('');
  t.not(done.code, 0);
  t.match(text, /\[sdv-agent\] the Velocitas SDK \(velocitas_sdk\) is not installed .*install_python_packages "velocitas-sdk==0\.14\.1"/, 'Kit-Manager run: the model needs the SDK');

  c.send({ type: 'install_python_packages', id: 'sdk', data: 'velocitas-sdk==0.14.1' });
  const inst = await c.waitFor((f) => (f.id === 'sdk' || f.requestId === 'sdk') && f.result !== 'Installing', 120_000);
  t.match(inst, { result: 'Successful' }, String(inst.data).slice(-300));
  const after = await c.request({ type: 'get_runtime_info' });
  t.match(after.python, { velocitasSdk: { importable: true, version: '0.14.1' }, sdvAlias: true }, 'probed again before the reply; the alias is there');
  const kitInfo = await fe.command('RunTime-BareBox', { cmd: 'get-runtime-info' });
  t.match((kitInfo.data as Record<string, unknown>).python, { velocitasSdk: { importable: true, version: '0.14.1' } }, 'the Kit-Manager\'s get-runtime-info reports it too');
});

t.test('the sdv-runtime image: the SDK and its sdv link on the inherited PYTHONPATH are used, not a collision', async (t) => {
  const image = tmpDir(t, 'sdv-image-');
  fs.symlinkSync(path.join(VELOCITAS_SDK, 'velocitas_sdk'), path.join(image, 'sdv'));
  const box = await velocitasBox(t, { sdk: false, env: { PYTHONPATH: `${VELOCITAS_SDK}:${image}` } });
  const c = await ApiClient.connect(box.agent.apiUrl);
  t.teardown(() => c.close());
  const info = await probedInfo(c);
  t.match(info.python, { velocitasSdk: { importable: true, version: '0.14.1' }, sdvAlias: true });
  t.notOk((info.python as Record<string, unknown>).sdvNote, 'no collision reported');
  t.same(info.notices, []);
});

t.test('packages.dir at the image\'s python-packages: its sdv link to the SDK stays, no collision, sdv imports', async (t) => {
  const image = tmpDir(t, 'sdv-image-pkgs-');
  fs.symlinkSync(path.join(VELOCITAS_SDK, 'velocitas_sdk'), path.join(image, 'sdv'));
  const box = await velocitasBox(t, { sdk: false, config: { packages: { dir: image } }, env: { PYTHONPATH: VELOCITAS_SDK } });
  const c = await ApiClient.connect(box.agent.apiUrl);
  t.teardown(() => c.close());
  const info = await probedInfo(c);
  t.match(info.python, { velocitasSdk: { importable: true }, sdvAlias: false, packagesDir: image });
  t.ok(fs.lstatSync(path.join(image, 'sdv')).isSymbolicLink(), 'the image\'s link is left as it is');
  t.same(info.notices, []);
  const app = await deployPython(c, 'image-app', 'from sdv.vehicle_app import VehicleApp\nfrom vehicle import vehicle\nprint("OK", vehicle.Speed.get_path(), flush=True)\n');
  t.equal(await app.waitLine(/^OK /), 'OK Vehicle.Speed');
});
