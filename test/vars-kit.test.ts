// Watched variables end to end: frontend → stand-in Kit-Manager → real agent → python under the tracer, and back.
import t from 'tap';
import { tmpDir } from './helpers/agent';
import { agentBehindKitManager } from './helpers/kit-manager';

const KIT = 'RunTime-VarBox';
type Rec = Record<string, unknown>;

t.test('run_python_app with watch_vars: trace_vars replies, set_vars_value applied', async (t) => {
  const { fe } = await agentBehindKitManager(t, 'VarBox', { apps: { adhocMaxS: 60, stopGraceMs: 1000 } });

  const none = await fe.command(KIT, { cmd: 'set_vars_value', data: { counter: '1' } });
  t.match(String(none.error), /no program with watched variables/, 'nothing traced yet');

  const code = [
    'import time',
    'counter = 0',
    'mode = "run"',
    'while mode != "stop" and counter < 600:',
    '    counter += 1',
    '    time.sleep(0.05)',
    'print("final", counter, mode)',
  ].join('\n');
  const before = fe.replies.length;
  // Names that are not python variables are skipped with one warning line; the run goes on.
  const bad = await fe.command(KIT, { cmd: 'run_python_app', data: { code: 'print("bad ran")\n', name: 'Bad', watch_vars: 'counter; import os' } });
  t.match(String(bad.result), /^Warning: watch_vars: skipped "counter;", "import" .*watching os\r\n$/, 'one warning line first');
  const badEnd = await fe.waitFor((r) => fe.replies.indexOf(r) >= before && r.cmd === 'run_python_app' && r.isDone === true);
  t.equal(badEnd.code, 0, 'and the run went on');
  t.match(fe.replies.slice(before).map((r) => r.result ?? '').join(''), /bad ran/);
  const start = fe.replies.length;

  await fe.command(KIT, { cmd: 'run_python_app', data: { code, name: 'Traced', watch_vars: 'counter mode' } }, (r) => r.cmd === 'trace_vars');
  const moving = await fe.waitFor((r) => fe.replies.indexOf(r) >= before && r.cmd === 'trace_vars' && typeof (r.data as Rec)?.counter === 'number' && ((r.data as Rec).counter as number) >= 2);
  t.equal(moving.request_from, fe.id);
  t.equal(moving.kit_id, KIT);

  const set = await fe.command(KIT, { cmd: 'set_vars_value', data: { counter: '400' } });
  t.equal(set.result, 'Successful');
  await fe.waitFor((r) => r.cmd === 'trace_vars' && ((r.data as Rec)?.counter as number) >= 400);
  t.pass('the new value took effect in the running program');
  await fe.command(KIT, { cmd: 'set_vars_value', data: { mode: 'stop' } });
  const done = await fe.waitFor((r) => fe.replies.indexOf(r) >= start && r.cmd === 'run_python_app' && r.isDone === true);
  t.equal(done.code, 0);
  const out = fe.replies.slice(start).filter((r) => r.cmd === 'run_python_app' && r.isDone === false).map((r) => r.result).join('');
  t.match(out, /final \d+ stop/, 'the program saw the values');
  t.notMatch(out, /"vars"/, 'the trace channel is not on stdout');
});

t.test('packages and C++ through the Kit-Manager: the reply shapes the frontend reads', async (t) => {
  const { fe } = await agentBehindKitManager(t, 'VarBox', { packages: { findLinks: agent0Dir() } });

  const list = await fe.command(KIT, { cmd: 'list_python_packages' });
  t.equal(list.kit_id, KIT);
  // Two labelled lists (the playground issue): nothing installed yet in python-packages, then the interpreter's own.
  t.match(String(list.data), /^# python-packages \([^)]*\): what install_python_packages installed\n\(none\)\n# the interpreter /, 'python-packages empty, then the interpreter\'s packages');
  const refused = await fe.command(KIT, { cmd: 'install_python_packages', data: 'numpy; rm -rf /' });
  t.match(String(refused.error), /refused/);
  const from = fe.replies.length;
  const first = await fe.command(KIT, { cmd: 'install_python_packages', data: 'absent-pkg' });
  t.equal(first.result, 'Installing');
  t.equal(first.data, 'Installing packages: absent-pkg\n');
  const end = await fe.waitFor((r) => fe.replies.indexOf(r) >= from && r.cmd === 'install_python_packages' && r.result !== 'Installing' && r.result !== undefined);
  t.match(String(end.result), /no matching package/, 'a plain failure in result');
  t.type(end.data, 'string');

  const before = fe.replies.length;
  // C++ output comes as run_bin_app, a cmd the frontend shows; requestCmd names the request.
  await fe.command(KIT, { cmd: 'run_cpp_app', data: { code: '#include <cstdio>\nint main(){ std::puts("hi cpp"); return 0; }', name: 'C' } }, (r) => r.requestCmd === 'run_cpp_app');
  const done = await fe.waitFor((r) => fe.replies.indexOf(r) >= before && r.cmd === 'run_bin_app' && r.requestCmd === 'run_cpp_app' && r.isDone === true);
  t.equal(done.code, 0);
  t.match(fe.replies.slice(before).filter((r) => r.cmd === 'run_bin_app' && r.isDone === false).map((r) => r.result).join(''), /hi cpp\r\n/);
});

/** An empty local wheel folder: pip runs offline and finds nothing. */
function agent0Dir(): string {
  return tmpDir(t, 'sdv-empty-wheels-');
}
