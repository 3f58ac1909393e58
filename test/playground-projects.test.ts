// Multi-file Python projects as the playground sends them (issue 25): a prototype's code that parses as a JSON array
// is a file tree (PrototypeTabCode.tsx getEditorType; the backend's "Python Multiple Files" template), for
// run_python_app, deploy_request and deploy_n_run, through the stand-in Kit-Manager and the frontend-logic client
// (test/helpers/playground.ts). The tree is unpacked into the run's own folder; its main.py runs with its sibling
// modules and sub-packages importable; requirements.txt is installed into that folder first with pip's lines in the
// log (a failed install is said and the run goes on); a tree that names ../ is refused with its reason and writes
// nothing anywhere.
import t, { type Test } from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ApiClient, startAgent, tmpDir, type AgentHandle } from './helpers/agent';
import { StandInKitManager } from './helpers/kit-manager';
import { Playground, type PlaygroundOptions } from './helpers/playground';
import { buildWheel } from './helpers/wheel';
import { eventually } from './helpers/scope';

const KIT = 'RunTime-ProjBox';
const file = (name: string, content: string) => ({ type: 'file', name, content });
const folder = (name: string, items: unknown[]) => ({ type: 'folder', name, items });

/** A project as the project editor saves it: one top folder, a sibling module, a sub-package, requirements.txt. */
const PROJECT = JSON.stringify([folder('python-project', [
  file('README.md', '# Python Project\n'),
  file('requirements.txt', '# pinned for the demo\nprojdep==1.0\n'),
  file('main.py', 'import helper\nfrom pkg.sub import deep\nimport projdep\nprint("helper says", helper.greet("box"))\nprint("deep value", deep.VALUE)\nprint("projdep", projdep.VERSION)\n'),
  file('helper.py', 'def greet(who):\n    return f"hello {who}"\n'),
  folder('pkg', [file('__init__.py', ''), folder('sub', [file('__init__.py', ''), file('deep.py', 'VALUE = 42\n')])]),
])]);

interface Setup { km: StandInKitManager; agent: AgentHandle; open(opts?: PlaygroundOptions): Promise<Playground> }

async function setup(t: Test): Promise<Setup> {
  const km = await StandInKitManager.start();
  t.teardown(() => km.close());
  // The project's requirement comes from a local wheel folder: installs here never need the network.
  const wheels = tmpDir(t, 'sdv-proj-wheels-');
  buildWheel(wheels, 'projdep', '1.0', { 'projdep/__init__.py': 'VERSION = "1.0"\n' });
  const agent = await startAgent(t, { config: { runtime: { name: 'ProjBox' }, packages: { findLinks: wheels, installTimeoutS: 120 }, apps: { adhocMaxS: 120 }, kitManager: { url: km.url, reconnect: { minMs: 50, maxMs: 500 } } } });
  return {
    km, agent,
    open: async (opts: PlaygroundOptions = {}) => {
      const p = await Playground.open(km.url, { assets: [{ type: 'CLOUD_RUNTIME', name: 'Runtime-ProjBox' }], ...opts });
      t.teardown(() => p.close());
      await p.selected(KIT);
      return p;
    },
  };
}

/** Every file under a folder, as paths relative to it. */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    let entries: fs.Dirent[];
    try { entries = fs.readdirSync(d, { withFileTypes: true }); } catch { return; } // removed while walked
    for (const e of entries) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p); else out.push(path.relative(dir, p));
    }
  };
  if (fs.existsSync(dir)) walk(dir);
  return out;
}

t.test('run_python_app of a project: main.py with its sibling module and sub-package; requirements installed first', async (t) => {
  const s = await setup(t);
  const p = await s.open({ prototype: { id: 'proj', name: 'Python Project', language: 'python', code: PROJECT } });
  p.run();
  const log = await p.logShows(/Exit code/);
  t.match(log, /^Run app\r\n\[sdv-agent\] project python-project\/: 7 files, 2 folders, .*\r\n/, 'what was unpacked, first');
  t.match(log, /\[sdv-agent\] installing requirements\.txt \(projdep==1\.0\) into the run's folder\r\n/);
  t.match(log, /Successfully installed projdep-1\.0/, 'pip\'s lines, streamed');
  t.match(log, /helper says hello box\r\ndeep value 42\r\nprojdep 1\.0\r\nExit code 0\r\n$/, 'the program ran with its modules and its requirement');
  // Removed as the run user once the run has ended (after its exit code is sent).
  await eventually('the run\'s folder is gone after the run', () => filesUnder(path.join(s.agent.dataDir, 'runs')).length === 0);
});

t.test('the backend\'s template shape with a requirement the box cannot get: said, and the app runs', async (t) => {
  const s = await setup(t);
  const tree = JSON.stringify([folder('python-project', [
    file('README.md', '# Python Project\n'),
    file('requirements.txt', 'requests==2.31.0'),
    file('main.py', 'print("ran without requests")\n'),
  ])]);
  const p = await s.open({ prototype: { id: 'tpl', name: 'Template', language: 'python', code: tree } });
  p.run();
  const log = await p.logShows(/Exit code/);
  t.match(log, /Warning: requirements\.txt not installed: .*; main\.py starts without it\r\n/, 'the failed install, said');
  t.match(log, /ran without requests\r\nExit code 0\r\n$/, 'not fatal: the app ran');
});

t.test('refused trees: the reason in the log, nothing written anywhere', async (t) => {
  const s = await setup(t);
  const parent = path.dirname(s.agent.dataDir);
  const before = filesUnder(parent);
  const cases: Array<[string, unknown, RegExp]> = [
    ['a name with ../', [folder('python-project', [file('main.py', 'print(1)\n'), file('../evil.py', 'print("escaped")\n')])], /Error: project: .*"\.\.\/evil\.py" holds a path separator/],
    ['a folder named ..', [file('main.py', 'print(1)\n'), folder('..', [file('evil.py', 'x')])], /Error: project: .*"\.\." is not a file or folder name/],
    ['an absolute name', [file('main.py', 'print(1)\n'), file('/tmp/evil.py', 'x')], /Error: project: .*path separator/],
    ['no main.py at the root', [folder('app', [file('start.py', 'print(1)\n')])], /Error: project app\/: no main\.py at the project's root; .*start\.py/],
  ];
  for (const [what, tree, re] of cases) {
    const p = await s.open({ prototype: { id: 'bad', name: 'Bad', language: 'python', code: JSON.stringify(tree) } });
    p.run();
    const log = await p.logShows(/Exit code/);
    t.match(log, re, what);
    t.match(log, /\r\nExit code 1\r\n$/, `${what}: the run ends with code 1`);
    t.notMatch(log, /escaped/, `${what}: nothing ran`);
    p.close();
  }
  const outsideData = (list: string[]) => list.filter((f) => !f.startsWith(`data${path.sep}`)).sort();
  t.same(outsideData(filesUnder(parent)), outsideData(before), 'nothing new beside dataDir');
  t.same(filesUnder(parent).filter((f) => /evil/.test(f)), [], 'no evil.py anywhere, dataDir included');
  await eventually('no run folder left', () => filesUnder(path.join(s.agent.dataDir, 'runs')).length === 0);
});

t.test('the local API deploys a project too: its steps as progress lines, a tree naming ../ refused', async (t) => {
  // The Kit-Manager's deploy_request is the local deploy_request's handler with the frontend's form around it, so a
  // local client gets projects as well.
  const s = await setup(t);
  const c = await ApiClient.connect(s.agent.apiUrl);
  t.teardown(() => c.close());
  const reply = await c.request({ type: 'deploy_request', prototype: { id: 'localproj', name: 'Local Project', type: 'python', code: PROJECT } });
  t.match(reply, { type: 'deploy_request-response', appId: 'VEA-localproj', status: 'installed' });
  const steps = c.frames.filter((f) => f.type === 'deploy_request-progress' && f.appId === 'VEA-localproj' && typeof f.line === 'string').map((f) => String(f.line));
  t.match(steps[0], /^\[sdv-agent\] project python-project\/: 7 files, 2 folders/, 'the project said first');
  t.ok(steps.some((l) => /Successfully installed projdep-1\.0/.test(l)), 'pip\'s lines as progress');
  const sub = `sub-${Math.random()}`;
  c.send({ type: 'console_subscribe', id: sub, appId: 'VEA-localproj' });
  await c.waitFor((f) => f.id === sub);
  await c.request({ type: 'run_app', appId: 'VEA-localproj' });
  await c.waitFor((f) => f.type === 'console_output' && f.appId === 'VEA-localproj' && f.output === 'projdep 1.0');
  const bad = await c.request({ type: 'deploy_request', prototype: { id: 'badproj', type: 'python', code: JSON.stringify([file('../evil.py', 'print(1)')]) } });
  t.match(bad, { type: 'error', code: 'BAD_REQUEST', error: /^project: / }, 'refused with its reason');
  t.notOk(fs.existsSync(path.join(s.agent.dataDir, 'apps', 'evil.py')) || fs.existsSync(path.join(s.agent.dataDir, 'evil.py')), 'nothing written outside');
});

t.test('deploy_request and deploy_n_run of a project', async (t) => {
  const s = await setup(t);
  const p = await s.open({ prototype: { id: 'projapp', name: 'Project App', language: 'python', code: PROJECT } });
  p.deploy(); // C 231-245: deploy_request with disable_code_convert
  const log = await p.logShows(/VEA-projapp deployed/);
  t.match(log, /\[sdv-agent\] project python-project\/: 7 files, 2 folders/);
  t.match(log, /Successfully installed projdep-1\.0/, 'pip\'s lines in the deploy log');
  t.match(log, /VEA-projapp deployed \(installed\)\r\n$/);
  const c = await ApiClient.connect(s.agent.apiUrl);
  t.teardown(() => c.close());
  const sub = `sub-${Date.now()}`;
  c.send({ type: 'console_subscribe', id: sub, appId: 'VEA-projapp' });
  await c.waitFor((f) => f.id === sub);
  await c.request({ type: 'run_app', appId: 'VEA-projapp' });
  await c.waitFor((f) => f.type === 'console_output' && f.appId === 'VEA-projapp' && f.output === 'projdep 1.0');
  const lines = c.frames.filter((f) => f.type === 'console_output' && f.appId === 'VEA-projapp').map((f) => f.output);
  t.same(lines, ['helper says hello box', 'deep value 42', 'projdep 1.0'], 'the deployed project runs from its own folder');
  const appDir = path.join(s.agent.dataDir, 'apps', 'VEA-projapp');
  t.same(filesUnder(appDir).filter((f) => !f.startsWith('.python-packages/') && !f.includes('__pycache__')).sort(), ['README.md', 'helper.py', 'main.py', 'pkg/__init__.py', 'pkg/sub/__init__.py', 'pkg/sub/deep.py', 'requirements.txt']);

  // deploy_n_run (what the Kit-Manager routes with convertedCode; the frontend's project sends it unconverted).
  p.log = '';
  p.socket.emit('messageToKit', { cmd: 'deploy_n_run', to_kit_id: KIT, disable_code_convert: true, code: PROJECT, prototype: { id: 'projrun', name: 'Project Run' }, username: 'tester' });
  const runLog = await p.logShows(/VEA-projrun deployed;.*\r\n|Error: VEA-projrun/);
  t.match(runLog, /\[VEA-projrun\] helper says hello box\r\n\[VEA-projrun\] deep value 42\r\n\[VEA-projrun\] projdep 1\.0\r\n/, 'its first output in the deploy log');
  t.match(runLog, /VEA-projrun deployed; it ran and exited with code 0/);
});
