// apps.runAs against the real agent: when the agent is root, an app runs as the configured user and can use its folder.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ApiClient, startAgent, tmpDir, type Scope } from './helpers/agent';
import { buildWheel } from './helpers/wheel';

type F = Record<string, unknown>;
const isRoot = process.getuid?.() === 0;
const NOT_ROOT = isRoot ? false : 'the agent drops privileges only when it runs as root; these tests are not root';

/** nobody's uid, and a folder others may pass through (as /var/lib is on a box; mkdtemp's own folder is 0700). */
function nobodyAndBase(t: Scope, prefix: string): { nobodyUid: number; base: string } {
  const base = tmpDir(t, prefix);
  fs.chmodSync(base, 0o711);
  return { nobodyUid: Number(execFileSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).trim()), base };
}

t.test('apps.runAs nobody: the app runs as nobody and can write in its folder', { skip: NOT_ROOT }, async (t) => {
  const { nobodyUid, base } = nobodyAndBase(t, 'runas-');
  const agent = await startAgent(t, { dataDir: path.join(base, 'data'), config: { apps: { runAs: 'nobody' } } });
  const c = await ApiClient.connect(agent.apiUrl);
  t.teardown(() => c.close());
  const code = 'import os\nprint("uid", os.getuid())\nopen("scratch.txt", "w").write("ok")\nprint("wrote", open("scratch.txt").read())\n';
  await c.request({ type: 'deploy_request', prototype: { id: 'who', type: 'python', code } });
  const id = `sub-${Math.random()}`;
  c.send({ type: 'console_subscribe', id, appId: 'VEA-who' });
  await c.waitFor((f) => f.id === id);
  await c.request({ type: 'run_app', appId: 'VEA-who' });
  await c.waitFor((f) => f.type === 'app_status' && f.appId === 'VEA-who' && (f.status === 'stopped' || f.status === 'error'));
  const out = c.frames.filter((f: F) => f.type === 'console_output' && f.appId === 'VEA-who').map((f) => String(f.output));
  t.ok(out.includes(`uid ${nobodyUid}`), `the app printed uid ${nobodyUid} (got ${JSON.stringify(out).slice(0, 300)})`);
  t.ok(out.includes('wrote ok'), 'the app could write and read a file in its folder');
  t.equal(fs.statSync(path.join(base, 'data')).mode & 0o777, 0o711, 'dataDir: others may pass through, not list');
  t.equal(fs.statSync(path.join(base, 'data', 'apps')).mode & 0o777, 0o711);
});

t.test('apps.runAs nobody: ad-hoc runs, the variable tracer, C++ builds and pip run as nobody too', { skip: NOT_ROOT }, async (t) => {
  const { nobodyUid, base } = nobodyAndBase(t, 'runas-adhoc-');
  // A wheel folder the run user may read, as an operator would provide it.
  const wheels = path.join(base, 'wheels');
  fs.mkdirSync(wheels, { mode: 0o755 });
  const wheel = buildWheel(wheels, 'whoami_pkg', '1.0', { 'whoami_pkg/__init__.py': 'import os\nUID = os.getuid()\n' });
  fs.chmodSync(wheel, 0o644);
  const agent = await startAgent(t, { dataDir: path.join(base, 'data'), config: { apps: { runAs: 'nobody' }, packages: { findLinks: wheels, installTimeoutS: 60 } } });
  const c = await ApiClient.connect(agent.apiUrl);
  t.teardown(() => c.close());
  const outputOf = async (id: string, frame: F, timeoutMs = 30_000) => {
    c.send({ ...frame, id });
    // The reply (with the id) is the end of the run; the stream before it carries requestId.
    const end = await c.waitFor((f) => f.id === id, timeoutMs);
    const out = c.frames.filter((f: F) => f.requestId === id && f.isDone === false).map((f) => String(f.result)).join('');
    return { end, out };
  };

  // pip: installs as nobody into a folder nobody owns; the package then imports in a run
  c.send({ type: 'install_python_packages', id: 'pip', data: 'whoami-pkg==1.0' });
  const pip = await c.waitFor((f) => f.id === 'pip');
  t.equal(pip.result, 'Successful', `pip as nobody (${String(pip.data).slice(-300)})`);
  t.equal(fs.statSync(path.join(agent.dataDir, 'python-packages', 'whoami_pkg', '__init__.py')).uid, nobodyUid, 'installed files are nobody\'s');

  const py = await outputOf('py', { type: 'run_python_app', data: { code: 'import os, whoami_pkg\nprint("uid", os.getuid(), "pkg", whoami_pkg.UID)\n', name: 'who' } });
  t.equal(py.end.code, 0, `ad-hoc python run ended 0 (${py.out.slice(0, 300)})`);
  t.match(py.out, new RegExp(`uid ${nobodyUid} pkg ${nobodyUid}`), 'an ad-hoc python run is nobody, and imports the package');

  // the tracer's socket is reachable by the run user
  const traced = ['import os, time', 'me = os.getuid()', 'n = 0', 'while n < 40:', '    n += 1', '    time.sleep(0.05)'].join('\n');
  c.send({ type: 'run_python_app', id: 'tr', data: { code: traced, name: 'traced', watch_vars: 'me n' } });
  const seen = await c.waitFor((f) => f.requestId === 'tr' && f.cmd === 'trace_vars' && (f.data as F)?.me !== undefined);
  t.equal((seen.data as F).me, nobodyUid, 'watched variables arrive from a traced run as nobody');
  await c.waitFor((f) => f.id === 'tr' && f.isDone === true);

  const cpp = await outputOf('cpp', { type: 'run_cpp_app', data: { code: '#include <cstdio>\n#include <unistd.h>\nint main(){ std::printf("uid %d\\n", (int)getuid()); }\n', name: 'who-cpp' } }, 120_000);
  t.equal(cpp.end.code, 0, `C++ build and run as nobody (${cpp.out.slice(-300)})`);
  t.match(cpp.out, new RegExp(`uid ${nobodyUid}`), 'the compiled program runs as nobody');
});

t.test('apps.runAs nobody: what an older agent left in python-packages goes at start; apps import the agent\'s vehicle', { skip: NOT_ROOT }, async (t) => {
  const { nobodyUid, base } = nobodyAndBase(t, 'runas-old-');
  const dataDir = path.join(base, 'data');
  const pkgs = path.join(dataDir, 'python-packages');
  fs.mkdirSync(pkgs, { recursive: true, mode: 0o700 });
  fs.chmodSync(dataDir, 0o711);
  const mine = (p: string) => fs.chownSync(p, nobodyUid, nobodyUid);
  mine(pkgs);
  // An older agent's package (root's, 0700, with its stamp), its alias (handed to the app user), and a leftover.
  fs.mkdirSync(path.join(pkgs, 'vehicle', 'Cabin'), { recursive: true, mode: 0o700 });
  fs.writeFileSync(path.join(pkgs, 'vehicle', '__init__.py'), 'raise ImportError("the old package")\n', { mode: 0o600 });
  fs.writeFileSync(path.join(pkgs, 'vehicle', '.sdv-agent-model.json'), '{"hash":"old","signals":1,"branches":1,"source":"built-in"}\n', { mode: 0o600 });
  fs.mkdirSync(path.join(pkgs, 'sdv'));
  fs.writeFileSync(path.join(pkgs, 'sdv', '__init__.py'), '# sdv-agent alias of velocitas_sdk, format 1\n');
  mine(path.join(pkgs, 'sdv', '__init__.py'));
  mine(path.join(pkgs, 'sdv'));
  fs.mkdirSync(path.join(pkgs, '.vehicle-old-1234-abcd'), { mode: 0o700 });
  // The app user's own package stays.
  fs.mkdirSync(path.join(pkgs, 'own_pkg'));
  fs.writeFileSync(path.join(pkgs, 'own_pkg', '__init__.py'), 'X = 1\n');
  mine(path.join(pkgs, 'own_pkg', '__init__.py'));
  mine(path.join(pkgs, 'own_pkg'));

  const agent = await startAgent(t, { dataDir, config: { apps: { runAs: 'nobody' } } });
  const removed = await agent.waitLog((l) => /files of an older agent removed/.test(String(l.msg)));
  t.same([...(removed.removed as string[])].sort(), ['.vehicle-old-1234-abcd', 'sdv', 'vehicle'], 'the older agent\'s package, alias and leftover');
  t.same(fs.readdirSync(pkgs).sort(), ['own_pkg'], 'only the app user\'s own package is left');
  const c = await ApiClient.connect(agent.apiUrl);
  t.teardown(() => c.close());
  const code = 'import importlib.util, os\nprint("VEHICLE", importlib.util.find_spec("vehicle").origin, os.access(importlib.util.find_spec("vehicle").origin, os.W_OK), flush=True)\n';
  await c.request({ type: 'deploy_request', prototype: { id: 'finder', type: 'python', code } });
  const id = `sub-${Math.random()}`;
  c.send({ type: 'console_subscribe', id, appId: 'VEA-finder' });
  await c.waitFor((f) => f.id === id);
  await c.request({ type: 'run_app', appId: 'VEA-finder' });
  const line = await c.waitFor((f) => f.type === 'console_output' && f.appId === 'VEA-finder' && /^VEHICLE|Error/.test(String(f.output)));
  t.equal(line.output, `VEHICLE ${path.join(dataDir, 'python-agent', 'vehicle', '__init__.py')} False`, 'an app finds the agent\'s package, and may not write it');
});
