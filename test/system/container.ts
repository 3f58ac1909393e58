// The container recipes with podman and runc: the standalone image (container/Containerfile) and the drop-in for the
// sdv-runtime image (container/sdv-runtime/), each built on a base imported from the debootstrapped rootfs. Run by
// scripts/test-container.sh (root; it makes the rootfs and the binary first), never by `npm test`:
// `SDV_ROOTFS=<rootfs> npx tap test/system/container.ts`.
import t, { type Test as Tap } from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildWheel } from '../helpers/wheel';
import { VELOCITAS_SDK } from '../helpers/peers';
import type { Frame } from './inside';
import { ROOT } from './nspawn';
import { baseImage, build, Container, limits, podman } from './podman';

const BINARY = path.join(ROOT, 'dist', 'sdv-agent-linux-x64');
const WORK = path.join(ROOT, '.cache', 'system-checks', `container-${process.pid}`);
const b64 = (s: string) => Buffer.from(s).toString('base64');

// Saves its state in its SIGTERM handler (0.3 s of work, then exit 0); prints what `extra` (on PYTHONPATH) says.
const KEEPER = (extra: string) => [
  'import os, signal, sys, time',
  extra ? `import ${extra}` : '',
  'def term(*_):',
  '    time.sleep(0.3)',
  '    open("saved.txt", "w").write("saved")',
  '    sys.exit(0)',
  'signal.signal(signal.SIGTERM, term)',
  `print("keeper up", ${extra ? `${extra}.WHO` : '""'}, flush=True)`,
  'while True:',
  '    time.sleep(1)',
].join('\n');
// Leaves an orphan behind: the background sleep outlives the app, whose process group the agent then kills.
const ORPHAN = '#!/bin/sh\n(sleep 30) &\necho ORPHAN-LEFT\n';

async function eventually(what: string, fn: () => boolean, timeoutMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) { if (fn()) return true; await new Promise((r) => setTimeout(r, 250)); }
  return fn();
}

/** An app that leaves an orphan: the orphan goes with the app's group, and nothing stays a zombie. */
async function orphanReaped(t: Tap, c: Container): Promise<void> {
  c.call({ type: 'deploy_request', prototype: { id: 'orphan', type: 'binary', code: b64(ORPHAN), config: { autoStart: true } } });
  await c.output('VEA-orphan', 'ORPHAN-LEFT');
  t.ok(await eventually('orphan gone', () => !/sleep 30/.test(c.processes())), 'the orphan was killed with its app\'s group');
  t.same(c.zombies(), [], 'no zombies: PID 1 reaped the orphan');
}

/** `podman stop`: exit 0 within 3 s, the container's exit code 0, and the keeper app's state saved on the way down. */
function stopsCleanly(t: Tap, c: Container, keeperFolder: string): void {
  const s = c.stop();
  t.equal(s.status, 0, 'podman stop exits 0');
  t.ok(s.ms < 3000, `within 3 s (${s.ms} ms)`);
  t.equal(s.exitCode, 0, 'the container exited 0 (the agent\'s status)');
  t.equal(c.read(`${keeperFolder}/saved.txt`), 'saved', 'the app saved its state on the way down');
}

function stage(dir: string, files: Record<string, string>): string {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  for (const [name, from] of Object.entries(files)) {
    const to = path.join(dir, name);
    fs.mkdirSync(path.dirname(to), { recursive: true });
    fs.cpSync(from, to, { recursive: true });
  }
  return dir;
}

const rootfs = process.env.SDV_ROOTFS;
if (!rootfs || !fs.existsSync(path.join(rootfs, 'usr/bin/python3'))) {
  t.fail('SDV_ROOTFS must name the Debian rootfs of scripts/debian-rootfs.sh: run scripts/test-container.sh');
} else if (!fs.existsSync(BINARY)) {
  t.fail(`no ${BINARY}: run scripts/test-container.sh (it builds it)`);
} else {
  const base = baseImage(rootfs);
  t.teardown(() => fs.rmSync(WORK, { recursive: true, force: true }));

  t.test('standalone image (container/Containerfile)', async (t) => {
    // The build context as the docs make it: the binary, container/, and container/python-packages/ filled with the
    // Velocitas SDK (here the test peer, laid out as site-packages as `pip install --target` leaves it).
    const ctx = stage(path.join(WORK, 'standalone-context'), {
      'dist/sdv-agent-linux-x64': BINARY, 'container/Containerfile': path.join(ROOT, 'container', 'Containerfile'),
      'container/entrypoint.sh': path.join(ROOT, 'container', 'entrypoint.sh'), 'container/sdv-api.py': path.join(ROOT, 'container', 'sdv-api.py'),
      'container/sdv-agent.yaml': path.join(ROOT, 'container', 'sdv-agent.yaml'), 'container/python-packages': VELOCITAS_SDK,
    });
    const t0 = Date.now();
    build('localhost/sdv-agent:ci', ctx, path.join(ctx, 'container', 'Containerfile'), { BASE: base });
    t.comment(`built in ${Date.now() - t0} ms`);
    // A module of the operator's on PYTHONPATH: apps must see the inherited PYTHONPATH, behind packages.dir.
    const extra = path.join(WORK, 'extra');
    fs.mkdirSync(extra, { recursive: true });
    fs.writeFileSync(path.join(extra, 'ci_extra.py'), 'WHO = "from the inherited PYTHONPATH"\n');
    const name = `sdv-ci-standalone-${process.pid}`;
    const c = Container.run(name, 'localhost/sdv-agent:ci', ['-v', `${extra}:/opt/extra:ro`, '-e', 'PYTHONPATH=/opt/extra'], '/usr/local/bin/sdv-api');
    t.teardown(() => c.remove());

    const h = await c.health();
    t.match(h, { status: 'healthy', kitId: 'RunTime-MyRuntime' }, '/health');
    t.equal(c.exec(['cat', '/proc/1/comm']).stdout.trim(), 'sdv-entrypoint', 'PID 1 is the entrypoint, the agent its child');
    t.match(c.call({ type: 'deploy_request', prototype: { id: 'keeper', type: 'python', code: KEEPER('ci_extra'), config: { autoStart: true } } }), { status: 'running' }, 'deployed and started');
    // Not fatal to the checks after it: a missing module ends the app, and the rest still has something to say.
    const up = await c.output('VEA-keeper', 'keeper up').catch((e: Error) => e.message);
    t.equal(up, 'keeper up from the inherited PYTHONPATH', 'a python app runs, with the inherited PYTHONPATH');
    if (up !== 'keeper up from the inherited PYTHONPATH') c.call({ type: 'deploy_request', prototype: { id: 'keeper', type: 'python', code: KEEPER(''), config: { autoStart: true } } });
    // The image carries the SDK: a python app imports it under both names, beside the operator's PYTHONPATH (the sdv
    // alias is the agent's, written once it has probed the interpreter).
    let info: Frame = {};
    await eventually('the python probe', () => ((info = c.call({ type: 'get_runtime_info' })).python as Frame | null)?.probed === true, 60_000);
    t.match(info.python, { velocitasSdk: { importable: true, version: '0.14.1' }, sdvAlias: true }, 'get_runtime_info: the SDK imports, sdv is its alias');
    const sdkApp = 'import sdv, velocitas_sdk, ci_extra\nprint("SDK", velocitas_sdk.__file__, ci_extra.WHO, flush=True)\n';
    c.call({ type: 'deploy_request', prototype: { id: 'sdk', type: 'python', code: sdkApp, config: { autoStart: true } } });
    t.equal(await c.output('VEA-sdk', 'SDK ').catch((e: Error) => e.message), 'SDK /usr/local/lib/sdv-agent/python/velocitas_sdk/__init__.py from the inherited PYTHONPATH',
      'a python app imports the image\'s SDK (sdv, velocitas_sdk), with -e PYTHONPATH kept');
    await orphanReaped(t, c);
    stopsCleanly(t, c, '/var/lib/sdv-agent/apps/VEA-keeper');

    c.start();
    await c.health();
    t.match(await c.output('VEA-keeper', 'keeper up'), /^keeper up/, 'podman start: the app meant to run runs again');
    t.equal(c.stop().exitCode, 0, 'stopped again, exit 0');

    // The reason for the entrypoint: the agent as PID 1 leaves the same orphan a zombie.
    const bare = Container.run(`${name}-bare`, 'localhost/sdv-agent:ci', ['--entrypoint', '/usr/local/bin/sdv-agent'], '/usr/local/bin/sdv-api');
    t.teardown(() => bare.remove());
    await bare.health();
    bare.call({ type: 'deploy_request', prototype: { id: 'orphan', type: 'binary', code: b64(ORPHAN), config: { autoStart: true } } });
    await bare.output('VEA-orphan', 'ORPHAN-LEFT');
    t.ok(await eventually('a zombie', () => bare.zombies().length > 0), `without the entrypoint the orphan stays a zombie: ${bare.zombies().join('; ')}`);

    // A temp folder mounted noexec: one line saying what to set, exit 1 (no stack trace).
    const noexec = podman(['run', '--rm', '--runtime', 'runc', '--network', 'none', ...limits(), '--tmpfs', '/tmp:rw,noexec,mode=1777', 'localhost/sdv-agent:ci']);
    t.equal(noexec.status, 1, 'exit 1');
    const lines = noexec.stderr.split('\n').filter(Boolean);
    t.equal(lines.length, 1, `one line: ${noexec.stderr}`);
    t.match(lines[0], /^sdv-agent: cannot use the single binary's assets: .*mounted noexec.*Set CACHE_DIRECTORY/, 'it names the cause and what to set');
  });

  t.test('sdv-runtime image with the drop-in (container/sdv-runtime/)', async (t) => {
    const dropIn = path.join(ROOT, 'container', 'sdv-runtime');
    const standIn = path.join(ROOT, 'test', 'system', 'sdv-runtime');
    const ctx = stage(path.join(WORK, 'sdv-runtime-context'), {
      Containerfile: path.join(standIn, 'Containerfile'), databroker: path.join(standIn, 'databroker'), mock: path.join(standIn, 'mock'),
      'mosquitto-no-auth.conf': path.join(standIn, 'mosquitto-no-auth.conf'), 'default-vss.json': path.join(ROOT, 'resources', 'default-vss.json'),
      'velocitas-python': VELOCITAS_SDK, 'sdv-agent-linux-x64': BINARY,
      'start_services.sh': path.join(dropIn, 'start_services.sh'), 'sdv-agent.yaml': path.join(dropIn, 'sdv-agent.yaml'), 'sdv-api.py': path.join(ROOT, 'container', 'sdv-api.py'),
    });
    const t0 = Date.now();
    build('localhost/sdv-runtime-standin:ci', ctx, path.join(ctx, 'Containerfile'), { BASE: base });
    t.comment(`built in ${Date.now() - t0} ms`);
    const wheels = path.join(WORK, 'wheels');
    fs.mkdirSync(wheels, { recursive: true });
    buildWheel(wheels, 'sdvci', '1.0', { 'sdvci/__init__.py': 'VALUE = 17\n' });
    const output = path.join(WORK, 'output');
    fs.mkdirSync(output, { recursive: true });
    fs.writeFileSync(path.join(output, 'hello'), '#!/bin/sh\necho "hello from /home/dev/output"\n', { mode: 0o755 });
    const name = `sdv-ci-runtime-${process.pid}`;
    const c = Container.run(name, 'localhost/sdv-runtime-standin:ci', ['-e', 'RUNTIME_NAME=CiBox', '-e', 'SDV_AGENT_PACKAGES_FIND_LINKS=/home/dev/ws/wheels',
      '-v', `${wheels}:/home/dev/ws/wheels:ro`, '-v', `${output}:/home/dev/output:ro`], '/home/dev/ws/sdv-api.py');
    t.teardown(() => c.remove());

    const h = await c.health();
    t.match(h, { kitId: 'RunTime-CiBox', kitManagerConfigured: true, kuksaMode: 'external' }, 'RUNTIME_NAME honoured; the default SYNCER_SERVER_URL reached the agent');
    const agentEnv = c.exec(['sh', '-c', 'tr "\\0" "\\n" < /proc/$(pgrep -P 1 -x sdv-agent)/environ']).stdout.split('\n');
    t.ok(agentEnv.includes('SYNCER_SERVER_URL=https://kit.digitalauto.tech'), 'the agent was given the exported default SYNCER_SERVER_URL');
    const broker = await eventually('databroker running', () => c.app('VEA-databroker')?.status === 'running', 30_000);
    t.ok(broker, 'the databroker runs as the agent\'s kuksa-server app');
    t.ok(await eventually('kuksa connected', () => c.call({ type: 'get_runtime_info' }).kuksaConnected === true, 30_000), 'the agent is connected to it');
    t.ok(await eventually('services', () => /mosquitto -c/.test(c.processes()) && /mockprovider\.py/.test(c.processes()), 30_000), `mosquitto and the mock provider run:\n${c.processes()}`);
    // The image's mosquitto owns 1883: the drop-in gives apps its address instead of starting a second broker.
    const mqttUp = await eventually('mqtt up', () => (c.call({ type: 'get_runtime_info' }).mqtt as { up?: boolean } | undefined)?.up === true, 30_000);
    t.ok(mqttUp, 'the agent sees the image\'s mosquitto (mqtt.mode external)');
    t.match(c.call({ type: 'get_runtime_info' }).mqtt, { mode: 'external', address: '127.0.0.1:1883' }, 'no embedded broker beside mosquitto');
    t.match(c.logs(), /mock: 2 datapoints[\s\S]*mock provider is now running/, 'the mock datapoints were created before the provider started');

    // external-mode generate_vehicle_model: the databroker app restarts with the new model
    const model = { Vehicle: { type: 'branch', description: 'v', children: {
      Speed: { type: 'sensor', datatype: 'float', unit: 'km/h', description: 'speed' },
      CiProbe: { type: 'sensor', datatype: 'uint8', description: 'only in the generated model' },
    } } };
    const gen = c.call({ type: 'generate_vehicle_model', data: model }, 60);
    t.match(gen, { result: 'Successful', kuksaServer: [{ appId: 'VEA-databroker', restarted: true }] }, `generate_vehicle_model: ${JSON.stringify(gen).slice(0, 500)}`);
    t.ok(await eventually('new model served', () => {
      const r = c.call({ type: 'write_signals_value', data: { 'Vehicle.CiProbe': 7 } });
      return (r.result as Frame | undefined)?.['Vehicle.CiProbe'] === 'ok';
    }, 30_000), 'the databroker serves the generated model');

    // python apps: the image's SDK from /home/dev/python-packages, under both names
    const sdkApp = 'import sdv, velocitas_sdk, sys\nprint("SDK", velocitas_sdk.__file__, sys.path.index("/home/dev/python-packages") >= 0)\n';
    c.call({ type: 'deploy_request', prototype: { id: 'sdk', type: 'python', code: sdkApp, config: { autoStart: true } } });
    t.equal(await c.output('VEA-sdk', 'SDK '), 'SDK /home/dev/python-packages/velocitas_sdk/__init__.py True', 'a python app imports the image\'s SDK (sdv, velocitas_sdk)');
    t.match(String(c.call({ type: 'list_python_packages' }).data), /velocitas.sdk==0\.14\.1/i, 'list_python_packages reads /home/dev/python-packages');
    const installed = c.call({ type: 'install_python_packages', data: 'sdvci' }, 120);
    t.equal(installed.result, 'Successful', String(installed.data).slice(-400));
    t.equal(c.exec(['cat', '/home/dev/python-packages/sdvci/__init__.py']).stdout, 'VALUE = 17\n', 'pip installed into /home/dev/python-packages');
    const bin = c.api({ type: 'run_bin_app', data: 'hello' });
    t.match(bin.map((f) => f.result ?? '').join(''), /hello from \/home\/dev\/output/, 'run_bin_app runs the binaries in /home/dev/output');
    t.match(bin.at(-1), { isDone: true, code: 0 }, 'and ends with its exit code 0');

    c.call({ type: 'deploy_request', prototype: { id: 'keeper', type: 'python', code: KEEPER(''), config: { autoStart: true } } });
    await c.output('VEA-keeper', 'keeper up');
    await orphanReaped(t, c);
    stopsCleanly(t, c, '/home/dev/ws/sdv-agent-data/apps/VEA-keeper');

    c.start();
    await c.health();
    t.ok(await eventually('databroker back', () => c.app('VEA-databroker')?.status === 'running', 30_000), 'podman start: the databroker app is restored, not deployed twice');
    t.equal((c.call({ type: 'list_deployed_apps' }).apps as Frame[]).filter((a) => a.type === 'kuksa-server').length, 1, 'one kuksa-server app');
    t.ok(await eventually('model kept', () => ((c.call({ type: 'write_signals_value', data: { 'Vehicle.CiProbe': 8 } }).result as Frame | undefined)?.['Vehicle.CiProbe'] === 'ok'), 30_000), 'with the generated model');
    t.equal(c.stop().exitCode, 0, 'stopped again, exit 0');
  });
}

