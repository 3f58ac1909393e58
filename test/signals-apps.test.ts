// Signals through supervised apps, against the real agent: a `mock-service` app drives the mock provider (run_app
// starts it, stop_app stops it, an agent restart brings it back); in external mode generate/revert_vehicle_model
// restart a `kuksa-server` app (here a small sh script that records its argv) with --vss <file>.
import * as fs from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import { ApiClient, ceiling, eventually, sleep, startAgent, tmpDir, restartOnSameData } from './helpers/agent';

type F = Record<string, unknown>;
const LOW = 'Vehicle.Body.Lights.Beam.Low.IsOn';

async function until<T>(fn: () => T | undefined, what: string): Promise<T> {
  const end = Date.now() + ceiling();
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

t.test('mock-service app: run_app starts the mock provider in its mode, stop_app stops it', async (t) => {
  const a = await startAgent(t, { config: { kuksa: { echoActuators: false } } }); // the store's echo would hide the provider's
  const c = await ApiClient.connect(a.apiUrl);
  t.teardown(() => c.close());

  t.match(await c.request({ type: 'deploy_request', prototype: { id: 'mock', type: 'mock-service', config: { mode: 'echo-all' } } }), { appId: 'VEA-mock', status: 'installed' });
  t.match((await c.request({ type: 'write_signals_value', data: { [LOW]: true } })).errors, { [LOW]: /no provider/ }, 'no provider before run_app');
  t.match(await c.request({ type: 'run_app', appId: 'VEA-mock' }), { type: 'run_app-response', status: 'running' });
  t.match(await c.request({ type: 'mock_service_status' }), { mode: 'echo-all', running: true, error: null });
  t.notOk((await c.request({ type: 'write_signals_value', data: { [LOW]: true } })).errors, 'actuator target accepted');
  t.same((await c.request({ type: 'get_signals_value', apis: [LOW] })).result, { [LOW]: true }, 'target echoed as current value');

  t.match(await c.request({ type: 'stop_app', appId: 'VEA-mock' }), { status: 'stopped' });
  t.match(await c.request({ type: 'mock_service_status' }), { mode: 'off', running: false });
  t.match((await c.request({ type: 'write_signals_value', data: { [LOW]: false } })).errors, { [LOW]: /no provider/ }, 'no provider after stop_app');

  // bad settings are refused at deploy, naming the key; nothing is installed
  for (const [config, key] of [[{ mode: 'dance' }, 'mode'], [{ mode: 'echo-all', rateMs: 1 }, 'rateMs'], [{ signals: 'Vehicle.Speed' }, 'signals']] as const) {
    const bad = await c.request({ type: 'deploy_request', prototype: { id: 'badmock', type: 'mock-service', config } });
    t.match(bad, { type: 'error', code: 'BAD_REQUEST' }, `config.${key} refused at deploy`);
    t.match(String(bad.error), new RegExp(`config\\.${key}: expected`), 'naming the key');
  }
  const listed = (await c.request({ type: 'list_deployed_apps' })).apps as Array<{ id: string }>;
  t.notOk(listed.some((a) => a.id === 'VEA-badmock'), 'the refused app is not installed');

  // echo-specific with the app's signal list; a running mock-service app comes back after an agent restart
  await c.request({ type: 'deploy_request', prototype: { id: 'mock', type: 'mock-service', config: { mode: 'echo-specific', signals: [LOW] } } });
  t.match(await c.request({ type: 'run_app', appId: 'VEA-mock' }), { status: 'running' });
  t.match(await c.request({ type: 'mock_service_status' }), { mode: 'echo-specific', signals: [LOW], claimed: 1 });
  c.close();
  const { client: cb } = await restartOnSameData(t, a);
  let status = '';
  await eventually('the mock-service app running again', async () => {
    const list = await cb.request({ type: 'list_deployed_apps' });
    status = JSON.stringify(list).match(/"id":"VEA-mock"[^}]*?"status":"(\w+)"/)?.[1] ?? '';
    return status === 'running';
  }, { stepMs: 100 });
  t.equal(status, 'running', 'mock-service app restored running');
  t.notOk((await cb.request({ type: 'write_signals_value', data: { [LOW]: true } })).errors, 'echo works again after the restart');
  t.same((await cb.request({ type: 'get_signals_value', apis: [LOW] })).result, { [LOW]: true });
});

t.test('external mode: generate/revert_vehicle_model restart the kuksa-server app with --vss', async (t) => {
  const dir = tmpDir(t, 'sdv-kuksa-server-');
  const argvFile = path.join(dir, 'argv.txt');
  const script = path.join(dir, 'fake-databroker.sh');
  // Records its argv (one per line) and then stays up like a databroker would.
  fs.writeFileSync(script, '#!/bin/sh\nprintf \'%s\\n\' "$@" > "$ARGV_OUT.tmp" && mv "$ARGV_OUT.tmp" "$ARGV_OUT"\necho "argv: $*"\nexec sleep 300\n', { mode: 0o755 });
  const readArgv = () => { try { return fs.readFileSync(argvFile, 'utf8').trim().split('\n'); } catch { return undefined; } };

  // Nothing listens on the address: the agent keeps retrying the databroker, which is irrelevant here.
  const a = await startAgent(t, { config: { kuksa: { mode: 'external', api: 'v2', address: '127.0.0.1:1' }, apps: { stopGraceMs: 1000 } } });
  const c = await ApiClient.connect(a.apiUrl);
  t.teardown(() => c.close());
  const tree = { Vehicle: { type: 'branch', children: { Speed: { type: 'sensor', datatype: 'float' }, Gizmo: { type: 'actuator', datatype: 'boolean' } } } };

  const none = await c.request({ type: 'generate_vehicle_model', data: tree });
  t.match(none, { type: 'error', code: 'CONFLICT' }, 'no kuksa-server app: cannot');
  t.match(JSON.stringify(none), /no kuksa-server app is deployed/);
  t.match(await c.request({ type: 'revert_vehicle_model' }), { type: 'error', code: 'CONFLICT' });

  await c.request({ type: 'deploy_request', prototype: { id: 'databroker', type: 'kuksa-server', config: { path: script, args: ['--port', '55556', '--vss', '/old/model.json', '--insecure'], env: { ARGV_OUT: argvFile } } } });
  t.match(await c.request({ type: 'run_app', appId: 'VEA-databroker' }), { status: 'running' });
  t.same(await until(readArgv, 'first argv'), ['--port', '55556', '--vss', '/old/model.json', '--insecure']);
  fs.rmSync(argvFile);

  const bad = await c.request({ type: 'generate_vehicle_model', data: { Vehicle: { type: 'branch', children: { X: { type: 'sensr', datatype: 'float' } } } } });
  t.match(bad, { type: 'error', code: 'BAD_REQUEST' }, 'a bad tree is refused before anything restarts');
  t.equal(readArgv(), undefined, 'not restarted for a bad tree');

  const g = await c.request({ type: 'generate_vehicle_model', data: JSON.stringify(tree) });
  const modelFile = path.join(a.dataDir, 'vehicle-model.json');
  t.match(g, { result: 'Successful', leaves: 2, file: modelFile, kuksaServer: [{ appId: 'VEA-databroker', restarted: true, status: 'running' }] });
  t.same(JSON.parse(fs.readFileSync(modelFile, 'utf8')), tree, 'model written into dataDir');
  t.same(await until(readArgv, 'argv after generate'), ['--port', '55556', '--vss', modelFile, '--insecure'], '--vss replaced, other args kept');
  fs.rmSync(argvFile);

  const r = await c.request({ type: 'revert_vehicle_model' });
  t.match(r, { result: 'Successful', kuksaServer: [{ restarted: true, status: 'running' }] });
  t.match(r.file, /resources\/vss\/vss_release_4\.0\.json$/, 'revert points at the built-in model');
  t.notOk(fs.existsSync(modelFile), 'generated model removed');
  const argv = await until(readArgv, 'argv after revert');
  t.same(argv.filter((x) => x === '--vss').length, 1, 'exactly one --vss');
  t.equal(argv[argv.indexOf('--vss') + 1], r.file);

  // a stopped kuksa-server app: the new --vss is stored (appended when absent) and used at the next run_app
  await c.request({ type: 'deploy_request', prototype: { id: 'databroker', type: 'kuksa-server', config: { path: script, args: ['--port', '55556'], env: { ARGV_OUT: argvFile } } } });
  fs.rmSync(argvFile, { force: true });
  t.match(await c.request({ type: 'generate_vehicle_model', data: tree }), { result: 'Successful', kuksaServer: [{ restarted: false, status: 'installed', args: ['--port', '55556', '--vss', modelFile] }] });
  await c.request({ type: 'run_app', appId: 'VEA-databroker' });
  t.same(await until(readArgv, 'argv after run_app'), ['--port', '55556', '--vss', modelFile], '--vss appended');
});

t.test('withVssArg replaces --vss <f> and --vss=<f>, appends when absent', async (t) => {
  const { withVssArg } = await import('../src/commands/model');
  t.same(withVssArg(['--vss', 'a', '-x'], '/m'), ['--vss', '/m', '-x']);
  t.same(withVssArg(['--vss=a', '-x'], '/m'), ['--vss=/m', '-x']);
  t.same(withVssArg(['--vss', 'a', '--vss', 'b'], '/m'), ['--vss', '/m'], 'duplicates collapse to one');
  t.same(withVssArg(['-x'], '/m'), ['-x', '--vss', '/m']);
  t.same(withVssArg([], '/m'), ['--vss', '/m']);
});

t.test('a mode started by mock_service_start is applied again after an agent restart', async (t) => {
  const a = await startAgent(t, { config: { kuksa: { echoActuators: false } } });
  const c = await ApiClient.connect(a.apiUrl);
  t.match(await c.request({ type: 'mock_service_start', mode: 'echo-all' }), { running: true });
  c.close();
  const { client: cb } = await restartOnSameData(t, a);
  let st: F = {};
  await eventually('the actuators claimed again', async () => { st = await cb.request({ type: 'mock_service_status' }); return (st.claimed as number) > 0; }, { stepMs: 100 });
  t.match(st, { mode: 'echo-all', running: true, error: null });
  t.ok((st.claimed as number) > 0, 'actuators claimed again');
  t.notOk((await cb.request({ type: 'write_signals_value', data: { [LOW]: true } })).errors, 'echo works after the restart');
});
