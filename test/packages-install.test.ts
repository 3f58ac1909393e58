// install_python_packages / list_python_packages through the real agent's local API, with no network: the test
// builds a tiny wheel into a local folder and points packages.findLinks at it (pip then runs with --no-index).
import t from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ApiClient, ROOT, startAgent, tmpDir } from './helpers/agent';
import { buildWheel } from './helpers/wheel';

t.test('install from a local folder, list, import; refusals name the requirement', async (t) => {
  const wheels = tmpDir(t, 'sdv-wheels-');
  buildWheel(wheels, 'sdvdemo', '1.0', { 'sdvdemo/__init__.py': 'VALUE = 4242\n' });
  const agent = await startAgent(t, { config: { packages: { findLinks: wheels, installTimeoutS: 60 } } });
  const c = await ApiClient.connect(agent.apiUrl);
  t.teardown(() => c.close());

  const empty = await c.request({ type: 'list_python_packages' });
  t.equal(empty.type, 'list_python_packages-response');
  t.equal(empty.packages, '', 'nothing installed yet');
  t.match(empty.data, /^# python-packages \(.*\): what install_python_packages installed\n\(none\)\n# the interpreter /, 'data: both places, labelled');

  // refused requirements: an error frame naming each, and pip never starts
  for (const bad of ['; rm -rf /', 'numpy --index-url http://x', '$(id)', '`id`', './pkg', '/tmp/x.whl', 'http://x/y.whl', 'git+https://x/y']) {
    const r = await c.request({ type: 'install_python_packages', data: bad });
    t.equal(r.type, 'error', `refused: ${bad}`);
    t.match(String(r.error), /refused/, `the error explains: ${bad}`);
  }
  const named = await c.request({ type: 'install_python_packages', data: 'numpy $(id)' });
  t.match(String(named.error), /"\$\(id\)"/, 'the error names the refused requirement');

  c.send({ type: 'install_python_packages', id: 'i1', data: 'sdvdemo==1.0' });
  const first = await c.waitFor((f) => f.requestId === 'i1');
  t.equal(first.result, 'Installing');
  t.equal(first.data, 'Installing packages: sdvdemo==1.0\n');
  // a second install while the first runs is refused plainly
  const busy = await c.request({ type: 'install_python_packages', data: 'sdvdemo' });
  if (busy.type === 'error') t.match(String(busy.error), /already running/, 'one install at a time');
  const done = await c.waitFor((f) => f.id === 'i1');
  t.equal(done.result, 'Successful', `install succeeded: ${String(done.data).slice(-500)}`);
  t.match(String(done.data), /^Done: sdvdemo==1\.0 installed \(sdvdemo-1\.0\); every python app/, 'the reply\'s data is the summary');
  const streamed = c.frames.filter((f) => f.requestId === 'i1' && f.result === 'Installing');
  t.ok(streamed.length >= 2, 'pip output was streamed as Installing frames');
  const pipText = streamed.slice(1).map((f) => String(f.data)).join('');
  t.match(pipText, /Successfully installed sdvdemo-1\.0/, 'pip\'s own lines are in the stream');
  t.notMatch(String(done.data), /Successfully installed/, 'and not repeated in the reply');

  const listed = await c.request({ type: 'list_python_packages' });
  t.equal(listed.packages, 'sdvdemo==1.0', 'pip freeze form');

  // The folder is the run user's to write: what is planted there is never followed and never blocks the agent.
  const pkgs = path.join(agent.dataDir, 'python-packages');
  const secret = path.join(tmpDir(t, 'sdv-secret-'), 'METADATA');
  fs.writeFileSync(secret, 'Name: secret\nVersion: 42\n');
  fs.mkdirSync(path.join(pkgs, 'linked-1.0.dist-info'));
  fs.symlinkSync(secret, path.join(pkgs, 'linked-1.0.dist-info', 'METADATA'));
  fs.symlinkSync(path.dirname(secret), path.join(pkgs, 'dirlink-1.0.dist-info'));
  fs.mkdirSync(path.join(pkgs, 'fifo-1.0.dist-info'));
  execFileSync('mkfifo', [path.join(pkgs, 'fifo-1.0.dist-info', 'METADATA')]);
  t.equal((await c.request({ type: 'list_python_packages' })).packages, 'sdvdemo==1.0', 'a linked METADATA, a linked dist-info and a FIFO: skipped, answered at once');

  // importable by a python program with the agent's package folder on PYTHONPATH (as every app gets it)
  const r = spawnSync('python3', ['-c', 'import sdvdemo; print(sdvdemo.VALUE)'], {
    encoding: 'utf8', env: { ...process.env, PYTHONPATH: path.join(agent.dataDir, 'python-packages') },
  });
  t.equal(r.stdout.trim(), '4242', 'the installed package imports');

  // a package that is not in the local folder: a plain failure reply, pip's text attached
  const failed = await c.request({ type: 'install_python_packages', data: 'no-such-package-xyz' });
  t.match(String(failed.result), /no matching package found/);
  t.match(String(failed.data), /^Error: no matching package found for no-such-package-xyz .*Check /, 'the reason and what to do, in data');
  t.notMatch(String(failed.data), /\u001b\[/, 'no terminal colour codes');
  const logged = await agent.waitLog((l) => l.msg === 'python packages not installed');
  t.match(logged, { level: 40, packages: ['no-such-package-xyz'], exitCode: 1, reason: /no matching package found/ }, 'a failed install is logged: requirement, exit code, reason');
  t.ok(Array.isArray(logged.lastLines) && (logged.lastLines as string[]).some((l) => /no-such-package-xyz/.test(l)), "with pip's last lines");
  t.ok(fs.existsSync(path.join(agent.dataDir, 'python-packages', 'sdvdemo')), 'earlier install untouched');

  // The shell client says so too: a reply that carries an error is exit status 1 (a script can test it).
  const cli = spawnSync('python3', [path.join(ROOT, 'container', 'sdv-api.py'), '--url', agent.apiUrl, '--timeout', '120',
    JSON.stringify({ type: 'install_python_packages', data: 'no-such-package-xyz' })], { encoding: 'utf8' });
  t.equal(cli.status, 1, `sdv-api.py exits 1 on a failed install (${cli.stderr})`);
  t.match(cli.stdout, /no matching package found/);
  const ok = spawnSync('python3', [path.join(ROOT, 'container', 'sdv-api.py'), '--url', agent.apiUrl, JSON.stringify({ type: 'list_python_packages' })], { encoding: 'utf8' });
  t.equal(ok.status, 0, 'and 0 on a reply without one');
});

t.test('packages.dir: pip installs there and python apps import from there', async (t) => {
  const wheels = tmpDir(t, 'sdv-wheels-');
  buildWheel(wheels, 'sdvelsewhere', '2.0', { 'sdvelsewhere/__init__.py': 'VALUE = 777\n' });
  const dir = path.join(tmpDir(t, 'sdv-pkgdir-'), 'site');
  const agent = await startAgent(t, { config: { packages: { findLinks: wheels, installTimeoutS: 60, dir } } });
  const c = await ApiClient.connect(agent.apiUrl);
  t.teardown(() => c.close());
  c.send({ type: 'install_python_packages', id: 'i1', data: 'sdvelsewhere' });
  const done = await c.waitFor((f) => f.id === 'i1' && f.result !== 'Installing');
  t.equal(done.result, 'Successful', String(done.data).slice(-300));
  t.ok(fs.existsSync(path.join(dir, 'sdvelsewhere', '__init__.py')), 'installed into packages.dir');
  t.notOk(fs.existsSync(path.join(agent.dataDir, 'python-packages')), 'nothing in dataDir/python-packages');
  t.equal((await c.request({ type: 'list_python_packages' })).packages, 'sdvelsewhere==2.0', 'listed from packages.dir');
  await c.request({ type: 'deploy_request', prototype: { id: 'imp', type: 'python', code: 'import sdvelsewhere\nprint("value", sdvelsewhere.VALUE)\n', config: {} } });
  c.send({ type: 'console_subscribe', id: 's1', appId: 'VEA-imp' });
  await c.waitFor((f) => f.id === 's1');
  await c.request({ type: 'run_app', appId: 'VEA-imp' });
  const line = await c.waitFor((f) => f.type === 'console_output' && f.appId === 'VEA-imp' && String(f.output).startsWith('value'));
  t.equal(line.output, 'value 777', 'an app imports what was installed there');
});
