// src/apps/registry.ts: the app registry on disk. A desired state is written before it is acted on (and a refused
// write refuses the command, nothing changed); what a crash between the write and the act leaves is restored from
// it; status changes are written together within STATUS_SAVE_MS on the clock given; a torn or corrupt file is moved
// aside. Real files in a temp folder; the clock is the test's.
import t, { type Test } from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import pino from 'pino';
import { AppRegistry, restore, STATUS_SAVE_MS } from '../../src/apps/registry';
import type { AppRecord } from '../../src/apps/store';
import { CommandError } from '../../src/core/errors';
import { ManualClock } from '../helpers/manual-clock';
import { tmpDir } from '../helpers/scope';

const record = (id: string, more: Partial<AppRecord> = {}): AppRecord => ({
  id, prototypeId: id, name: id, type: 'python', createdAt: '2026-12-07T00:00:00.000Z',
  config: { args: [], env: {}, restartPolicy: 'never', restartDelayMs: 1000, maxRestarts: 5, extra: {} },
  desired: 'stopped', status: 'installed', exitCode: null, reason: null, restarts: 0, pid: null, lastSeq: 0, ...more,
});

function setup(t: Test) {
  const root = tmpDir(t, 'registry-');
  const lines: string[] = [];
  const log = pino({ level: 'info' }, { write: (s: string) => { lines.push(s); } });
  const apps: AppRecord[] = [];
  const clock = new ManualClock();
  const registry = new AppRegistry(root, () => apps, log, clock);
  /** The registry as the next agent reads it. */
  const onDisk = () => new AppRegistry(root, () => [], log).load();
  return { root, lines, apps, clock, registry, onDisk };
}

t.test('write-ahead: the desired state is on disk when intend returns, before anything is done', async (t) => {
  const { apps, registry, onDisk } = setup(t);
  apps.push(record('VEA-a'), record('VEA-b', { desired: 'running', status: 'running' }));
  registry.intend(apps[0]!, 'running', 'app VEA-a was not started');
  t.equal(apps[0]!.desired, 'running');
  t.same(onDisk().apps.map((a) => [a.id, a.desired]), [['VEA-a', 'running'], ['VEA-b', 'running']], 'written at once, every app');
  registry.intend(apps[1]!, 'stopped', 'app VEA-b keeps running');
  t.equal(onDisk().apps[1]!.desired, 'stopped');
  t.equal(registry.storageError, null);
});

t.test('a crash between the write and the act: the next start acts on the desired state written', async (t) => {
  const { apps, registry, onDisk } = setup(t);
  // run_app wrote "running" ahead, and the agent died before the process started (status still installed on disk)
  apps.push(record('VEA-run', { status: 'installed' }));
  registry.intend(apps[0]!, 'running', 'x');
  // stop_app wrote "stopped" ahead, and the agent died before the stop (status running, a pid, on disk)
  apps.push(record('VEA-stop', { desired: 'running', status: 'running', pid: 4242 }));
  registry.intend(apps[1]!, 'stopped', 'x');
  // a deploy and an uninstall cut off in the middle
  apps.push(record('VEA-inst', { status: 'installing' }), record('VEA-uninst', { status: 'uninstalling' }), record('VEA-paused', { status: 'paused' }));
  registry.commit('x');
  const { apps: back, quarantined } = onDisk();
  t.equal(quarantined, null);
  const again = back.map((r) => [r.id, restore(r), r.status, r.pid] as const);
  t.same(again, [
    ['VEA-run', true, 'stopped', null],
    ['VEA-stop', false, 'stopped', null],
    ['VEA-inst', false, 'error', null],
    ['VEA-uninst', false, 'error', null],
    ['VEA-paused', false, 'stopped', null],
  ], 'meant to run: started again; meant to stop: stopped; no pid of the dead agent kept');
  t.equal(back[2]!.reason, 'agent stopped while installing; deploy again');
  t.equal(back[3]!.reason, 'agent stopped while uninstalling; deploy again');
});

t.test('a refused write refuses the command: STORAGE, the desired state as it was, /health told', async (t) => {
  const { root, apps, registry, lines, onDisk } = setup(t);
  apps.push(record('VEA-a'));
  registry.commit('x');
  // a registry.json the file system will not replace (a folder in its place: EISDIR, also as root)
  const file = path.join(root, 'registry.json');
  fs.rmSync(file);
  fs.mkdirSync(path.join(file, 'x'), { recursive: true });
  try {
    registry.intend(apps[0]!, 'running', 'app VEA-a was not started');
    t.fail('the write was refused, so must the command be');
  } catch (e) {
    t.ok(e instanceof CommandError && e.code === 'STORAGE', `STORAGE (${(e as Error).message})`);
    t.match((e as Error).message, /^could not write the app registry: .*; app VEA-a was not started\. Make runtime\.dataDir writable and retry$/);
  }
  t.equal(apps[0]!.desired, 'stopped', 'the desired state in memory is what it was');
  t.match(registry.storageError, /^could not write the app registry: /);
  registry.saveOrLog();
  t.ok(lines.some((l) => l.includes('could not save the app registry')), 'a status write that fails is logged, not thrown');
  fs.rmSync(file, { recursive: true });
  registry.intend(apps[0]!, 'running', 'x');
  t.equal(registry.storageError, null, 'a write that succeeds clears it');
  t.equal(onDisk().apps[0]!.desired, 'running');
});

t.test('status changes are written together within STATUS_SAVE_MS, on the clock given', async (t) => {
  const { apps, registry, clock, onDisk } = setup(t);
  apps.push(record('VEA-a'), record('VEA-b'));
  registry.commit('x');
  const before = fs.readFileSync(registry.file, 'utf8');
  apps[0]!.status = 'running';
  registry.saveSoon();
  apps[1]!.status = 'error';
  apps[1]!.exitCode = 2;
  registry.saveSoon();
  t.equal(clock.pending, 1, 'one write waits for both');
  clock.advance(STATUS_SAVE_MS - 1);
  t.equal(fs.readFileSync(registry.file, 'utf8'), before, 'not written before its time');
  clock.advance(1);
  t.same(onDisk().apps.map((a) => [a.status, a.exitCode]), [['running', null], ['error', 2]], 'both in one write after 1 s');
  t.equal(clock.pending, 0);
  apps[0]!.status = 'stopped';
  registry.saveSoon();
  registry.intend(apps[1]!, 'running', 'x');
  t.equal(clock.pending, 0, 'a write ahead takes the waiting status along');
  t.equal(onDisk().apps[0]!.status, 'stopped');
  apps[0]!.status = 'paused';
  registry.saveSoon();
  registry.hold();
  clock.advance(10 * STATUS_SAVE_MS);
  t.equal(onDisk().apps[0]!.status, 'stopped', 'held at shutdown: the last save writes what the stops changed');
  registry.saveSoon();
  t.equal(clock.pending, 0);
  registry.saveOrLog();
  t.equal(onDisk().apps[0]!.status, 'paused');
});

t.test('a torn or corrupt file is moved aside and said; records that make no sense are left out', async (t) => {
  const { root, lines, onDisk } = setup(t);
  const file = path.join(root, 'registry.json');
  t.same(onDisk(), { apps: [], quarantined: null }, 'no file yet: no apps, nothing to say');
  const torn = JSON.stringify({ version: 1, apps: [record('VEA-a')] }).slice(0, 60);
  fs.writeFileSync(file, torn);
  const r = onDisk();
  t.same(r.apps, []);
  t.match(r.quarantined, /registry\.json\.corrupt-\d{4}-\d\d-\d\dT/);
  t.equal(fs.readFileSync(r.quarantined!, 'utf8'), torn, 'kept as it was, for the operator');
  t.notOk(fs.existsSync(file), 'out of the way of the next write');
  fs.writeFileSync(file, JSON.stringify({ version: 1, apps: [record('VEA-ok'), record('../etc'), { ...record('VEA-t'), type: 'shell' }, { ...record('VEA-c'), config: undefined }, null, 42] }));
  t.same(onDisk().apps.map((a) => a.id), ['VEA-ok'], 'an unsafe id, an unknown type, no config: skipped');
  fs.writeFileSync(file, JSON.stringify({ version: 1, apps: 'many' }));
  t.same(onDisk(), { apps: [], quarantined: null }, 'parses but holds no list: no apps');
  t.equal(lines.length, 0, 'reading logs nothing: the supervisor says it (recovery.ts)');
});
