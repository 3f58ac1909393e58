// Every Kit-Manager command round trip, frontend → stand-in Kit-Manager → real agent → back, checking the reply fields
// the Autowrx frontend reads. A command whose part is not in this build must answer a well-formed UNAVAILABLE error;
// where the part exists, its real behaviour is checked.
import t, { type Test } from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { eventually, sleep } from './helpers/agent';
import { agentBehindKitManager, Frontend } from './helpers/kit-manager';

const KIT = 'RunTime-KitBox';
type Rec = Record<string, unknown>;

t.test('commands through the Kit-Manager', async (t) => {
  const { km, agent, fe } = await agentBehindKitManager(t, 'KitBox', { apps: { adhocMaxS: 60, stopGraceMs: 1000 } });

  /** Common to every reply: addressed to the frontend, and served (every part runs in this agent). */
  const available = (t: Test, r: Rec, cmd: string): boolean => {
    t.equal(r.request_from, fe.id, `${cmd}: request_from`);
    t.equal(r.kit_id, KIT, `${cmd}: kit_id`);
    t.not(r.errorCode, 'UNAVAILABLE', `${cmd}: served (${String(r.error ?? 'no error')})`);
    return r.errorCode !== 'UNAVAILABLE';
  };

  t.test('run_python_app streams output and the exit code', async (t) => {
    const before = fe.replies.length;
    const first = await fe.command(KIT, { cmd: 'run_python_app', usedAPIs: [], data: { code: 'print("hello")\nprint("world")\nraise SystemExit(3)\n', name: 'Proto1' } });
    if (!available(t, first, 'run_python_app')) return;
    const done = await fe.waitFor((r) => fe.replies.indexOf(r) >= before && r.cmd === 'run_python_app' && r.isDone === true);
    const stream = fe.replies.slice(before).filter((r) => r.cmd === 'run_python_app' && r.isDone === false);
    t.ok(stream.length >= 1);
    for (const r of stream) {
      t.equal(r.code, 0);
      t.type(r.result, 'string');
      t.equal(r.request_from, fe.id);
    }
    t.equal(stream.map((r) => r.result).join(''), 'hello\r\nworld\r\n');
    t.equal(done.code, 3);
    t.equal(done.result, '');
    t.equal(done.kit_id, KIT);
  });

  t.test('run_python_app: a crash reports its non-zero exit', async (t) => {
    const before = fe.replies.length;
    const first = await fe.command(KIT, { cmd: 'run_python_app', data: { code: 'import sys\nprint("oops", file=sys.stderr)\nraise ValueError("x")\n', name: 'Crash' } }, (r) => r.cmd === 'run_python_app');
    if (!available(t, first, 'run_python_app')) return;
    const done = await fe.waitFor((r) => fe.replies.indexOf(r) >= before && r.isDone === true);
    t.equal(done.code, 1);
    t.match(fe.replies.slice(before).map((r) => r.result ?? '').join(''), /oops\r\n[\s\S]*ValueError/);
  });

  t.test('a running app is listed; stop_python_app stops this client\'s run', async (t) => {
    const before = fe.replies.length;
    const first = await fe.command(KIT, { cmd: 'run_python_app', data: { code: 'import time\nwhile True:\n    print("tick", flush=True)\n    time.sleep(0.1)\n', name: 'Looper' } });
    if (!available(t, first, 'run_python_app')) return;
    const info = await fe.command(KIT, { cmd: 'get-runtime-info' });
    const runners = (info.data as { lsOfRunner: Rec[] }).lsOfRunner;
    t.ok(runners.some((r) => r.appName === 'Looper' && r.request_from === fe.id), 'lsOfRunner names the app and its client');
    t.ok(runners.every((r) => typeof r.from === 'number' && Math.abs((r.from as number) - Date.now() / 1000) < 600), 'lsOfRunner.from is the start time in epoch seconds');
    await eventually('report-runtime-state told the Kit-Manager', () => km.runtimeStates.some((s) => (s.data as Rec).noOfRunner === 1));
    t.pass('report-runtime-state told the Kit-Manager');

    const other = await Frontend.connect(km.url);
    t.teardown(() => other.close());
    await other.waitRuntime(KIT);
    await other.command(KIT, { cmd: 'stop_python_app', data: {} });
    const still = await fe.command(KIT, { cmd: 'get-runtime-info' });
    t.ok((still.data as { lsOfRunner: Rec[] }).lsOfRunner.some((r) => r.appName === 'Looper'), 'another client cannot stop it');

    const stop = await fe.command(KIT, { cmd: 'stop_python_app', data: {} }, (r) => r.cmd === 'stop_python_app');
    t.equal(stop.result, 'Successful');
    const done = await fe.waitFor((r) => fe.replies.indexOf(r) >= before && r.cmd === 'run_python_app' && r.isDone === true);
    t.type(done.code, 'number');
  });

  t.test('a new run from the same client replaces the previous one', async (t) => {
    const before = fe.replies.length;
    const first = await fe.command(KIT, { cmd: 'run_python_app', data: { code: 'import time\nprint("A", flush=True)\ntime.sleep(60)\n', name: 'A' } });
    if (!available(t, first, 'run_python_app')) return;
    await fe.command(KIT, { cmd: 'run_python_app', data: { code: 'print("B")\n', name: 'B' } }, (r) => r.cmd === 'run_python_app' && typeof r.result === 'string' && r.result.includes('B'));
    const ends = () => fe.replies.slice(before).filter((r) => r.cmd === 'run_python_app' && r.isDone === true).length;
    await eventually('both runs ended', () => ends() >= 2);
    t.equal(ends(), 2, 'the first run ended when the second started, the second on its own');
  });

  t.test('run_bin_app runs a binary placed in dataDir/bin, and nothing else on the box', async (t) => {
    const binDir = path.join(agent.dataDir, 'bin');
    fs.mkdirSync(binDir, { recursive: true });
    fs.copyFileSync('/bin/echo', path.join(binDir, 'hello'));
    fs.chmodSync(path.join(binDir, 'hello'), 0o755);
    for (const data of ['hello', path.join(binDir, 'hello')]) {
      const before = fe.replies.length;
      const first = await fe.command(KIT, { cmd: 'run_bin_app', usedAPIs: [], data });
      if (!available(t, first, 'run_bin_app')) return;
      const done = await fe.waitFor((r) => fe.replies.indexOf(r) >= before && r.cmd === 'run_bin_app' && r.isDone === true);
      t.equal(done.code, 0, `${data} ran`);
    }
    const end = (r: Rec) => r.cmd === 'run_bin_app' && r.isDone === true;
    const bad = await fe.command(KIT, { cmd: 'run_bin_app', data: '../../etc/passwd' }, end);
    t.equal(bad.errorCode, 'BAD_REQUEST', 'a name cannot climb out of dataDir/bin');
    for (const outside of ['/bin/echo', '/sbin/reboot', `${binDir}/../../../bin/sh`, `${binDir}`]) {
      const r = await fe.command(KIT, { cmd: 'run_bin_app', data: outside }, end);
      t.equal(r.errorCode, 'FORBIDDEN', `${outside} is refused`);
      t.match(String(r.error), /run_bin_app runs the binaries placed there/, 'saying what to do');
    }
  });

  for (const cmd of ['run_rust_app', 'run_cpp_app']) {
    t.test(`${cmd}`, async (t) => {
      // C++ replies travel as run_bin_app (the frontend shows no run_cpp_app replies), naming the request in requestCmd.
      const r = await fe.command(KIT, { cmd, usedAPIs: [], data: { code: 'x', name: 'p' } }, (x) => x.cmd === cmd || x.requestCmd === cmd);
      if (!available(t, r, cmd)) return;
      t.pass(`${cmd} answered: ${JSON.stringify(r).slice(0, 200)}`);
    });
  }

  t.test('deploy_request and deploy_n_run', async (t) => {
    const before = fe.replies.length;
    const code = 'import time\nwhile True:\n    print("deployed", flush=True)\n    time.sleep(1)\n';
    const r = await fe.command(KIT, { cmd: 'deploy_request', code, prototype: { id: 'proto-1', name: 'Proto One' }, username: 'tester', disable_code_convert: true },
      (x) => (x.cmd === 'deploy-request' && x.is_finish === true) || x.cmd === 'deploy_request');
    if (!available(t, r, 'deploy_request')) return;
    t.equal(r.is_finish, true);
    t.match(r.result, /VEA-proto-1 deployed.*\r\n$/);
    const lines = fe.replies.slice(before).filter((x) => x.cmd === 'deploy-request');
    t.ok(lines.length >= 2, 'progress lines before the end');
    for (const l of lines) t.match(l.result, /\r\n$/);
    t.ok(lines.slice(0, -1).every((l) => l.is_finish === false));
    t.match(lines[0]!.result, /original code/, 'disable_code_convert: the code as sent');

    const n = await fe.command(KIT, { cmd: 'deploy_n_run', code, prototype: { id: 'proto-2', name: 'Proto Two' } },
      (x) => x.cmd === 'deploy-request' && x.is_finish === true || x.cmd === 'deploy_n_run');
    t.equal(n.is_finish, true);
    t.match(n.result, /VEA-proto-2 deployed and running/);
    t.ok(fe.replies.some((x) => x.cmd === 'deploy-request' && /converted code/.test(String(x.result))), 'convertedCode from the Kit-Manager used');
    const bad = await fe.command(KIT, { cmd: 'deploy_request', code, disable_code_convert: true }, (x) => x.cmd === 'deploy_request');
    t.equal(bad.errorCode, 'BAD_REQUEST');
    t.equal(bad.is_finish, true);
  });

  t.test('subscribe_apis, apis-value with the full set, write, unsubscribe', async (t) => {
    const sub = await fe.command(KIT, { cmd: 'subscribe_apis', apis: ['Vehicle.Speed', 'Vehicle.Cabin.Door.Row1.DriverSide.IsOpen'] });
    if (!available(t, sub, 'subscribe_apis')) return;
    t.equal(sub.result, 'Successful');
    const info = await fe.command(KIT, { cmd: 'get-runtime-info' });
    const subs = (info.data as { lsOfApiSubscriber: Record<string, { apis: string[] }> }).lsOfApiSubscriber;
    t.ok(subs[fe.id]?.apis.includes('Vehicle.Speed'), 'lsOfApiSubscriber names this client and its signals');
    const w = await fe.command(KIT, { cmd: 'write_signals_value', data: { 'Vehicle.Speed': 42 } });
    t.equal(w.result, 'Successful');
    const v = await fe.waitFor((r) => r.cmd === 'apis-value' && (r.result as Rec)?.['Vehicle.Speed'] === 42);
    t.equal(v.kit_id, KIT);
    t.equal(v.request_from, fe.id);
    t.ok('Vehicle.Cabin.Door.Row1.DriverSide.IsOpen' in (v.result as Rec), 'the full set of the client\'s signals, not only the changed one');
    const again = await fe.command(KIT, { cmd: 'subscribe_apis', apis: ['Vehicle.Speed'] });
    t.equal(again.result, 'Successful', 'resubscribe renews');
    const info2 = await fe.command(KIT, { cmd: 'get-runtime-info' });
    t.equal(Object.keys((info2.data as { lsOfApiSubscriber: Rec }).lsOfApiSubscriber).filter((k) => k === fe.id).length, 1, 'still one subscriber per client');
    const bad = await fe.command(KIT, { cmd: 'write_signals_value', data: { 'Vehicle.NoSuchThing': 1 } });
    t.not(bad.result, 'Successful', 'an unknown path is reported');
    const un = await fe.command(KIT, { cmd: 'unsubscribe_apis' });
    t.equal(un.result, 'Successful');
    const info3 = await fe.command(KIT, { cmd: 'get-runtime-info' });
    t.notOk((info3.data as { lsOfApiSubscriber: Rec }).lsOfApiSubscriber[fe.id], 'gone after unsubscribe_apis');
  });

  t.test('mock list, reset, vehicle model', async (t) => {
    const set = await fe.command(KIT, { cmd: 'set_mock_signals', data: [{ signal: 'Vehicle.Speed', value: '12' }] });
    if (!available(t, set, 'set_mock_signals')) return;
    t.same(set.data, [{ signal: 'Vehicle.Speed', value: '12' }]);
    const list = await fe.command(KIT, { cmd: 'list_mock_signal' });
    t.same(list.data, [{ signal: 'Vehicle.Speed', value: '12' }]);
    await fe.command(KIT, { cmd: 'write_signals_value', data: { 'Vehicle.Speed': 99 } });
    const reset = await fe.command(KIT, { cmd: 'reset_signals_value' });
    t.equal(reset.result, 'Successful');
    const got = await fe.command(KIT, { type: 'get_signals_value', id: 'g1', apis: ['Vehicle.Speed'] }, (r) => r.id === 'g1');
    t.equal((got.result as Rec)?.['Vehicle.Speed'], 12, 'reset to the mock list\'s value');
    const badMock = await fe.command(KIT, { cmd: 'set_mock_signals', data: 'nope' });
    t.equal(badMock.errorCode, 'BAD_REQUEST');
    const gen = await fe.command(KIT, { cmd: 'generate_vehicle_model', data: JSON.stringify({ Vehicle: { type: 'branch', description: 'v', children: { Speed: { type: 'sensor', datatype: 'float', description: 's' } } } }) });
    t.type(gen.result ?? gen.error, 'string', `generate_vehicle_model answered (${String(gen.result ?? gen.error).slice(0, 80)})`);
    const rev = await fe.command(KIT, { cmd: 'revert_vehicle_model' });
    t.equal(rev.result, 'Successful');
  });

  t.test('package and variable commands', async (t) => {
    for (const cmd of ['list_python_packages', 'install_python_packages', 'set_vars_value']) {
      const payload: Rec = { cmd, data: cmd === 'install_python_packages' ? '' : cmd === 'set_vars_value' ? {} : undefined };
      const r = await fe.command(KIT, payload, (x) => x.cmd === cmd && (x.result !== 'Installing'));
      if (!available(t, r, cmd)) continue;
      t.ok(r.data !== undefined || r.result !== undefined || r.error !== undefined, `${cmd}: a reply with data, result or error`);
    }
  });

  t.test('get-runtime-info', async (t) => {
    const r = await fe.command(KIT, { cmd: 'get-runtime-info' });
    const data = r.data as Rec;
    t.ok(Array.isArray(data.lsOfRunner));
    t.type(data.lsOfApiSubscriber, 'object');
    t.equal(data.runtimeId !== undefined, true);
  });
});

t.test('a subscriber lease lapses signals.subscriberTtlS after the last subscribe_apis', async (t) => {
  // A lease of 3 s renewed every 0.5 s: only a box stalled for more than 2.5 s between two renewals would lose it.
  const { fe } = await agentBehindKitManager(t, 'KitBox', { signals: { subscriberTtlS: 3 } });
  const sub = await fe.command(KIT, { cmd: 'subscribe_apis', apis: ['Vehicle.Speed'] });
  if (sub.errorCode === 'UNAVAILABLE') { t.comment('signals not in this build'); return; }
  const listed = async () => Boolean(((await fe.command(KIT, { cmd: 'get-runtime-info' })).data as { lsOfApiSubscriber: Rec }).lsOfApiSubscriber[fe.id]);
  // Renewed for 4 s, longer than one lease: still there.
  for (let i = 0; i < 8; i++) {
    await sleep(500);
    await fe.command(KIT, { cmd: 'subscribe_apis', apis: ['Vehicle.Speed'] });
  }
  t.ok(await listed(), 'renewed leases keep the subscriber');
  await eventually('the unrenewed lease lapsed', async () => !(await listed()), { stepMs: 200 });
  t.pass('without renewal the subscriber lapses');
});
