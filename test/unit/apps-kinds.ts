// src/apps/kinds/: the map of app kinds. Every app type has a kind; each kind's config check accepts its valid config
// and refuses a wrong one with its message; each installs its code as its file; python spawns `apps.python -u main.py`
// (also through the deployed app's spawn spec); docker without the CLI is unavailable and says so; mock-service is a
// service (no process). Real files in a temp folder.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadConfig } from '../../src/config';
import { APP_TYPES, KIND_FILES, KINDS, isAppType, kindOf, type AppKind, type KindConfig } from '../../src/apps/kinds';
import { appSpawnSpec } from '../../src/apps/spawn-spec';
import type { AppRecord } from '../../src/apps/store';
import { CommandError } from '../../src/core/errors';
import { tmpDir } from '../helpers/scope';

const cfg = (more: Partial<KindConfig> = {}): KindConfig => ({ args: [], env: {}, extra: {}, ...more });

/** The message a config check refuses with (BAD_REQUEST), or null when it accepts. */
function refusal(kind: AppKind, config: KindConfig, hasCode: boolean): string | null {
  try { kind.checkConfig(config, hasCode); return null; } catch (e) {
    if (!(e instanceof CommandError) || e.code !== 'BAD_REQUEST') throw e;
    return e.message;
  }
}

t.test('every app type has its kind, named as its key, in the order the deploy lists them', async (t) => {
  t.same(APP_TYPES, ['python', 'binary', 'docker', 'mock-service', 'kuksa-server']);
  for (const type of APP_TYPES) {
    t.ok(isAppType(type), type);
    t.equal(kindOf(type).name, type, `${type}'s kind says its name`);
  }
  t.same(Object.keys(KINDS), APP_TYPES);
  t.notOk(isAppType('cobol'));
  t.notOk(isAppType('toString'), 'a name of Object.prototype is no kind');
  t.same([...KIND_FILES].sort(), ['app.bin', 'main.py']);
});

t.test('each kind\'s config check accepts its valid config and refuses a wrong one with its message', async (t) => {
  const cases: Array<[string, [KindConfig, boolean], [KindConfig, boolean], string]> = [
    ['python', [cfg(), true], [cfg(), false], 'prototype.code: a python app needs its source code'],
    ['binary', [cfg({ path: '/bin/true' }), false], [cfg(), false], 'prototype: a binary app needs config.path (an executable on the box) or code (the executable, base64)'],
    ['kuksa-server', [cfg(), true], [cfg(), false], 'prototype: a kuksa-server app needs config.path (an executable on the box) or code (the executable, base64)'],
    ['docker', [cfg({ image: 'repo/name:tag' }), false], [cfg({ image: '-rm' }), false], 'config.image: a docker app needs an image name like "repo/name:tag"'],
    ['mock-service', [cfg({ extra: { mode: 'random', signals: ['Vehicle.Speed'], rateMs: 100 } }), false], [cfg({ extra: { mode: 'off' } }), false], 'config.mode: expected one of echo-all, echo-specific, random, static, got "off"'],
  ];
  t.same(cases.map((c) => c[0]).sort(), [...APP_TYPES].sort(), 'a case for every kind');
  for (const [type, ok, bad, message] of cases) {
    const kind = kindOf(type as (typeof APP_TYPES)[number]);
    t.equal(refusal(kind, ...ok), null, `${type}: accepted`);
    t.equal(refusal(kind, ...bad), message, `${type}: refused with its message`);
  }
  t.equal(refusal(kindOf('docker'), cfg(), false), 'config.image: a docker app needs an image name like "repo/name:tag"', 'docker: no image');
  t.equal(refusal(kindOf('mock-service'), cfg({ extra: { rateMs: 1 } }), false), 'config.rateMs: expected an integer from 10 to 3600000');
});

t.test('each kind installs its code as its own file, private to the app', async (t) => {
  const dir = tmpDir(t, 'kinds-');
  const folder = (name: string) => { const f = path.join(dir, name); fs.mkdirSync(f); return f; };
  const py = folder('python');
  kindOf('python').install(py, null, 'print("hi")\n');
  t.equal(fs.readFileSync(path.join(py, 'main.py'), 'utf8'), 'print("hi")\n');
  t.equal(fs.statSync(path.join(py, 'main.py')).mode & 0o777, 0o600);
  for (const type of ['binary', 'kuksa-server'] as const) {
    const bin = folder(type);
    kindOf(type).install(bin, null, Buffer.from('#!/bin/sh\necho hi\n').toString('base64'));
    t.equal(fs.readFileSync(path.join(bin, 'app.bin'), 'utf8'), '#!/bin/sh\necho hi\n', `${type}: app.bin from base64`);
    t.equal(fs.statSync(path.join(bin, 'app.bin')).mode & 0o777, 0o700);
    const byPath = folder(`${type}-path`);
    kindOf(type).install(byPath, null, undefined);
    t.same(fs.readdirSync(byPath), [], `${type} without code (config.path): nothing installed`);
  }
  for (const type of ['docker', 'mock-service'] as const) {
    const f = folder(type);
    kindOf(type).install(f, null, 'ignored');
    t.same(fs.readdirSync(f), [], `${type}: nothing installed`);
  }
});

t.test('spawn: python runs apps.python -u main.py; binaries their path; docker run; mock-service has no process', async (t) => {
  const dir = tmpDir(t, 'kinds-');
  const { config } = loadConfig(null, { SDV_AGENT_RUNTIME_DATA_DIR: dir, SDV_AGENT_APPS_PYTHON: '/usr/bin/python3' });
  const { apps } = config;
  t.same(kindOf('python').spawn({ id: 'VEA-a', config: cfg(), folder: dir, apps, env: {} }), { file: '/usr/bin/python3', args: ['-u', 'main.py'] });
  t.same(kindOf('binary').spawn({ id: 'VEA-a', config: cfg({ path: '/bin/sh', args: ['-c', 'true'] }), folder: dir, apps, env: {} }), { file: '/bin/sh', args: ['-c', 'true'] });
  t.throws(() => kindOf('binary').spawn({ id: 'VEA-a', config: cfg(), folder: dir, apps, env: {} }), { message: `executable ${path.join(dir, 'app.bin')} does not exist` });
  const d = kindOf('docker').spawn({ id: 'VEA-d', config: cfg({ image: 'repo/x:1', args: ['--v'], env: { MINE: '1' } }), folder: dir, apps, env: { SDV_APP_ID: 'VEA-d', MINE: '1', HOME: '/h' } });
  t.same(d, { file: apps.docker, args: ['run', '--rm', '--init', '--name', 'VEA-d', '--network', 'host', '-e', 'SDV_APP_ID=VEA-d', '-e', 'MINE=1', 'repo/x:1', '--v'] });
  const mock = kindOf('mock-service');
  t.ok(mock.service, 'mock-service is a service');
  t.notOk(APP_TYPES.filter((n) => n !== 'mock-service').some((n) => kindOf(n).service), 'the others are processes');
  t.throws(() => mock.spawn({ id: 'VEA-m', config: cfg(), folder: dir, apps, env: {} }), { message: 'type mock-service has no process' });
  t.equal(kindOf('kuksa-server').rlimits, false, 'the databroker gets cgroup limits only');
  t.same(APP_TYPES.filter((n) => kindOf(n).importHints), ['python']);

  // The deployed app's spawn spec: the kind's program in the app's folder, with the app's environment.
  const folder = path.join(dir, 'app');
  fs.mkdirSync(folder);
  const rec = { id: 'VEA-p', type: 'python', config: { args: [], env: { MINE: 'x' }, restartPolicy: 'never', restartDelayMs: 1000, maxRestarts: 5, extra: {} } } as unknown as AppRecord;
  const spec = appSpawnSpec(rec, folder, config, null);
  t.equal(spec.file, '/usr/bin/python3');
  t.same(spec.args, ['-u', 'main.py']);
  t.equal(spec.cwd, folder);
  t.equal(spec.env.SDV_APP_ID, 'VEA-p');
  t.equal(spec.env.MINE, 'x');
});

t.test('docker is unavailable on a box without its CLI, and says so', async (t) => {
  const dir = tmpDir(t, 'kinds-');
  const missing = loadConfig(null, { SDV_AGENT_RUNTIME_DATA_DIR: dir, SDV_AGENT_APPS_DOCKER: path.join(dir, 'no-docker') }).config;
  t.equal(kindOf('docker').unavailable(missing.apps), 'docker is not available on this box');
  const fake = path.join(dir, 'docker');
  fs.writeFileSync(fake, '#!/bin/sh\n', { mode: 0o755 });
  const present = loadConfig(null, { SDV_AGENT_RUNTIME_DATA_DIR: dir, SDV_AGENT_APPS_DOCKER: fake }).config;
  t.equal(kindOf('docker').unavailable(present.apps), null, 'an executable docker CLI: available');
  for (const type of APP_TYPES.filter((n) => n !== 'docker')) t.equal(kindOf(type).unavailable(missing.apps), null, `${type}: always available`);
  // A deployed docker app on that box: refused UNAVAILABLE with the same words, before anything is spawned.
  const rec = { id: 'VEA-d', type: 'docker', config: { image: 'repo/x:1', args: [], env: {}, restartPolicy: 'never', restartDelayMs: 1000, maxRestarts: 5, extra: {} } } as unknown as AppRecord;
  fs.mkdirSync(path.join(dir, 'app'));
  t.throws(() => appSpawnSpec(rec, path.join(dir, 'app'), missing, null), { code: 'UNAVAILABLE', message: 'docker is not available on this box' });
});
