// Section "python-env" — the apps.runAs user against the agent's Python environment (the agent is root):
//   - a link planted at the name the agent once wrote the `sdv` alias through (`sdv/__init__.py.<pid>.tmp` in the
//     python-packages folder), for the running agent and for the pids of the next starts;
//   - the alias folder swapped for a link to a root package while the agent writes and hands over the alias;
//   - a `vehicle` folder of the app's own, swapped for a link to a root-only folder at the first deletion while the
//     agent removes it (after a model command, and at the next start);
//   - an app under apps.runAs imports the generated `vehicle` package.
// Root-owned victims the app user cannot read must stay as they were (content, owner, mode, presence).
import t from 'tap';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ApiClient, startAgent, tmpDir, type AgentHandle, type Scope } from '../helpers/agent';
import { stopChild, trackChild } from '../helpers/scope';
import { Summary, attack, caughtCrashes, count, seedFor, sleep, until } from './lib';
import { SAFE_ENV } from './safe-env';

const SECTION = 'python-env';
const summary = new Summary(SECTION, seedFor(SECTION));
t.teardown(() => summary.write(t));

const isRoot = process.getuid?.() === 0;
const NOT_ROOT = isRoot ? false : 'apps.runAs drops privileges only when the agent is root';
const RUN_AS = { apps: { runAs: 'nobody', python: 'python3' }, log: { level: 'debug' } };
type F = Record<string, unknown>;
const NOBODY = isRoot ? Number(execFileSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).trim()) : -1;
const NOBODY_GID = isRoot ? Number(execFileSync('id', ['-g', 'nobody'], { encoding: 'utf8' }).trim()) : -1;

/** A folder others may pass (as /var/lib is), holding dataDir and a root-only folder of victims. */
function arena(t: Scope, prefix: string): { base: string; victims: string; dataDir: string } {
  const base = tmpDir(t, prefix);
  fs.chmodSync(base, 0o711);
  const victims = path.join(base, 'victims');
  fs.mkdirSync(victims, { mode: 0o700 });
  return { base, victims, dataDir: path.join(base, 'data') };
}

/** content length, owner, group and mode of each file, or "absent". */
function snapshot(files: string[]): string[] {
  return files.map((f) => {
    try { const st = fs.lstatSync(f); return `${path.basename(f)}:${fs.readFileSync(f).length}:${st.uid}:${st.gid}:${(st.mode & 0o7777).toString(8)}`; } catch { return `${path.basename(f)}:absent`; }
  });
}

/** The number of interpreter probes the agent has finished (the agent logs each one at debug level). */
const probes = (agent: AgentHandle): number => agent.logs.filter((l) => l.msg === 'python interpreter probed').length;

/** Waits until the agent has probed `n` times or `stop()` holds; false when neither came within the ceiling. */
async function probed(agent: AgentHandle, n: number, stop: () => boolean = () => false, ceilingMs = 30_000): Promise<boolean> {
  return until(() => probes(agent) >= n || stop(), ceilingMs, 50);
}

/** Deploys and runs an app; resolves once it printed a line matching `re`. */
async function runApp(c: ApiClient, id: string, code: string, re: RegExp, timeoutMs = 60_000): Promise<string> {
  const dep = await c.request({ type: 'deploy_request', prototype: { id, name: id, type: 'python', code, config: {} } });
  if (dep.type === 'error') throw new Error(`deploy ${id}: ${JSON.stringify(dep)}`);
  const sid = `sub-${id}-${Date.now()}`;
  c.send({ type: 'console_subscribe', id: sid, appId: `VEA-${id}` });
  await c.waitFor((f) => f.id === sid);
  await c.request({ type: 'run_app', appId: `VEA-${id}` });
  const lines = () => c.frames.filter((f: F) => f.type === 'console_output' && f.appId === `VEA-${id}`).map((f) => String(f.output));
  const f = await c.waitFor((x) => x.type === 'console_output' && x.appId === `VEA-${id}` && re.test(String(x.output)), timeoutMs)
    .catch((e: Error) => { throw new Error(`${e.message.split(';')[0]}: ${id} printed no line matching ${re}; console: ${lines().slice(-20).join(' | ')}`); });
  return String(f.output);
}

/** Python: the app user's python-packages folder (first on its PYTHONPATH) and a stub SDK in it, so the agent sees one. */
const PREAMBLE = [
  'import os, sys, time, glob, ctypes',
  'd = os.environ["PYTHONPATH"].split(":")[0]',
  'os.makedirs(d + "/velocitas_sdk", exist_ok=True)',
  'open(d + "/velocitas_sdk/__init__.py", "w").close()',
].join('\n');

t.test('a link at the alias temp name: the running agent and the next start', { skip: NOT_ROOT }, async (t) => {
  const { victims, dataDir } = arena(t, 'sdv-chaos-alias-');
  const victim = path.join(victims, 'alias-victim.txt');
  const created = path.join(victims, 'created-by-root');
  fs.writeFileSync(victim, 'VICTIM alias\n', { mode: 0o600 });
  const files = [victim, created];
  const before = snapshot(files);
  let agent = await startAgent(t, { env: SAFE_ENV, dataDir, config: RUN_AS });
  let c = await ApiClient.connect(agent.apiUrl);
  t.teardown(() => c.close());
  const pid = agent.proc.pid!;
  const code = [
    PREAMBLE,
    'os.makedirs(d + "/sdv", exist_ok=True)',
    'open(d + "/sdv/__init__.py", "w").write("# sdv-agent alias (planted)\\n")',
    `for p in range(${pid}, ${pid} + 3001):`,
    '    name = d + "/sdv/__init__.py.%d.tmp" % p',
    `    os.symlink(${JSON.stringify(victim)} if p == ${pid} else ${JSON.stringify(created)}, name)`,
    'print("PLANTED", flush=True)',
    'time.sleep(600)',
  ].join('\n');
  const changed = () => JSON.stringify(snapshot(files)) !== JSON.stringify(before);

  await attack(t, summary, 'a link at the alias temp name (sdv/__init__.py.<pid>.tmp)', agent, async () => {
    await runApp(c, 'planter', code, /^PLANTED$/);
    const n = probes(agent);
    t.not((await c.request({ type: 'revert_vehicle_model' })).type, 'error', 'revert_vehicle_model (it probes the interpreter after)');
    t.ok(await probed(agent, n + 1, changed), 'the probe after the model command has run');
    t.same(snapshot(files), before, 'the running agent wrote through no planted link');
    return !changed();
  }, { probe: c });
  summary.data.crashes += caughtCrashes(agent).length;
  summary.data.figures['alias temp link: victims changed by the running agent'] = snapshot(files).filter((s, i) => s !== before[i]).length;
  // The next start (the pids after this one are planted too, as dangling links): the alias at start and the deferred
  // probe. Compared with the victims as they are now (a build that wrote through the link above changed one already).
  c.close();
  await agent.stop();
  // The app user plants its alias again (a build that wrote through the link left a link in its place).
  const pkgs = path.join(dataDir, 'python-packages');
  const replant = spawnSync('python3', ['-c', [
    'import os, sys',
    'p = os.path.join(sys.argv[1], "sdv", "__init__.py")',
    'os.remove(p) if os.path.lexists(p) else None',
    'open(p, "w").write("# sdv-agent alias (planted)\\n")',
  ].join('\n'), pkgs], { uid: NOBODY, gid: NOBODY_GID, cwd: '/', encoding: 'utf8' });
  t.equal(replant.status, 0, `the app user planted its alias again (${replant.stderr})`);
  const beforeStart = snapshot(files);
  const changedAtStart = () => JSON.stringify(snapshot(files)) !== JSON.stringify(beforeStart);
  agent = await startAgent(t, { env: SAFE_ENV, dataDir, config: RUN_AS });
  c = await ApiClient.connect(agent.apiUrl);
  await attack(t, summary, 'a link at the alias temp name, at the next start', agent, async () => {
    t.ok(await probed(agent, 1, changedAtStart, 30_000), 'the next start has probed');
    const after = snapshot(files);
    t.same(after, beforeStart, 'the next start wrote through no planted link either: nothing changed, nothing created');
    summary.data.figures['alias temp link: victims changed or created by the next start'] = after.filter((s, i) => s !== beforeStart[i]).length;
    if (changedAtStart()) summary.finding(`alias temp link at start: ${JSON.stringify(beforeStart)} → ${JSON.stringify(after)}`);
    return !changedAtStart();
  }, { probe: c });
  summary.data.crashes += caughtCrashes(agent).length;
});

t.test('the alias folder flipped with a link to a root package while the agent probes', { skip: NOT_ROOT }, async (t) => {
  const { victims, dataDir } = arena(t, 'sdv-chaos-flip-');
  const pkg = path.join(victims, 'rootpkg');
  fs.mkdirSync(pkg, { mode: 0o755 });
  const init = path.join(pkg, '__init__.py');
  fs.writeFileSync(init, 'VALUE = "root"\n', { mode: 0o644 });
  const before = snapshot([init]);
  const listing = () => fs.readdirSync(pkg).sort().join(',');
  const listed = listing();
  const agent = await startAgent(t, { env: SAFE_ENV, dataDir, config: RUN_AS });
  const c = await ApiClient.connect(agent.apiUrl);
  t.teardown(() => c.close());
  // renameat2(RENAME_EXCHANGE) swaps the two names atomically, as fast as the app can.
  const code = [
    PREAMBLE,
    'os.makedirs(d + "/sdv", exist_ok=True)',
    'open(d + "/sdv/__init__.py", "w").write("# sdv-agent alias (the app\'s own)\\n")',
    `os.symlink(${JSON.stringify(pkg)}, d + "/sdvlink")`,
    'libc = ctypes.CDLL(None, use_errno=True)',
    'AT_FDCWD, RENAME_EXCHANGE = -100, 2',
    'a, b = (d + "/sdv").encode(), (d + "/sdvlink").encode()',
    'print("FLIPPING", flush=True)',
    'while True:',
    '    libc.renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE)',
  ].join('\n');
  const changed = () => JSON.stringify(snapshot([init])) !== JSON.stringify(before) || listing() !== listed;
  const triggers = count(8, 150);

  await attack(t, summary, `the alias folder flipped with a link to a root package (${triggers} probes)`, agent, async () => {
    await runApp(c, 'flipper', code, /^FLIPPING$/);
    let done = 0;
    for (; done < triggers && !changed(); done++) {
      const n = probes(agent);
      const r = await c.request({ type: 'revert_vehicle_model' });
      if (r.type === 'error') { t.fail(`revert_vehicle_model: ${JSON.stringify(r)}`); break; }
      await probed(agent, n + 1, changed);
    }
    const after = snapshot([init]);
    t.same(after, before, `after ${done} probes the root package's __init__.py is unchanged: content, owner (root), mode`);
    t.equal(listing(), listed, 'and nothing was added to the root package folder');
    summary.data.figures['alias flip: probes until the victim changed (or all of them)'] = done;
    if (changed()) summary.finding(`alias flip: the root package changed after ${done} probes: ${JSON.stringify(after)}, ${listing()}`);
    return !changed();
  }, { probe: c });
  summary.data.crashes += caughtCrashes(agent).length;
});

t.test('the app\'s own vehicle folder swapped for a link to a root-only folder during its removal', { skip: NOT_ROOT }, async (t) => {
  const { victims, dataDir } = arena(t, 'sdv-chaos-rimraf-');
  const deldir = path.join(victims, 'deldir');
  fs.mkdirSync(deldir, { mode: 0o700 });
  const precious = path.join(deldir, 'precious.txt');
  fs.writeFileSync(precious, 'PRECIOUS\n', { mode: 0o600 });
  const before = snapshot([precious]);
  const config = RUN_AS;
  let agent = await startAgent(t, { env: SAFE_ENV, dataDir, config });
  let c = await ApiClient.connect(agent.apiUrl);
  t.teardown(() => c.close());
  const files = count(3000, 30_000);
  // A vehicle folder of the app's own with the agent's stamp forged; at the first deletion in it, every folder named
  // like a vehicle package being removed gets its `a` swapped for a link to the root-only folder.
  const code = [
    PREAMBLE,
    'if os.path.isdir(d + "/vehicle") and not os.path.islink(d + "/vehicle"):',
    '    os.rename(d + "/vehicle", d + "/vehicle-aside-%d" % time.time_ns())',
    'os.makedirs(d + "/vehicle/a")',
    'open(d + "/vehicle/.sdv-agent-model.json", "w").write(\'{"hash": "forged", "signals": 1, "branches": 1, "source": "x"}\')',
    'open(d + "/vehicle/__init__.py", "w").close()',
    `for i in range(${files}): open(d + "/vehicle/a/f%05d" % i, "w").close()`,
    'open(d + "/vehicle/a/precious.txt", "w").close()',
    'libc = ctypes.CDLL(None, use_errno=True)',
    'fd = libc.inotify_init1(0)',
    'libc.inotify_add_watch(fd, (d + "/vehicle/a").encode(), 0x200)  # IN_DELETE',
    'print("ARMED", flush=True)',
    'os.read(fd, 4096)',
    'n = 0',
    'for o in glob.glob(d + "/.vehicle-*") + glob.glob(d + "/vehicle*") + [d + "/vehicle"]:',
    '    try:',
    '        os.rename(o + "/a", o + "/a-aside")',
    `        os.symlink(${JSON.stringify(deldir)}, o + "/a")`,
    '        n += 1',
    '    except OSError:',
    '        pass',
    'print("SWAPPED", n, flush=True)',
    'time.sleep(600)',
  ].join('\n');
  const gone = () => !fs.existsSync(precious);

  await attack(t, summary, `a vehicle folder of ${files} files swapped during its removal by a model command`, agent, async () => {
    await runApp(c, 'swapper', code, /^ARMED$/, 120_000);
    const n = probes(agent);
    t.not((await c.request({ type: 'revert_vehicle_model' })).type, 'error', 'revert_vehicle_model');
    await probed(agent, n + 1, gone);
    // A background removal, if there were one, gets a moment to reach the file (a wait for something that must not
    // happen: it can only make the check pass wrongly on a box slower than this, never fail it).
    await sleep(3000);
    t.same(snapshot([precious]), before, 'after the model command: the root-only file is still there, unchanged');
    summary.data.figures['vehicle folder swapped during removal by a model command: root-only file deleted'] = gone() ? 'yes' : 'no';
    if (gone()) summary.finding('the root-only file was deleted through the swapped vehicle folder (model command)');
    return !gone();
  }, { probe: c });
  summary.data.crashes += caughtCrashes(agent).length;
  // The next start finds a forged package in the app user's folder and removes it: a process of that user that
  // outlives the agent (the same program, run as nobody outside it) lies in wait.
  c.close();
  await agent.stop();
  const trap = trackChild(spawn('python3', ['-c', code], {
    uid: NOBODY, gid: NOBODY_GID, cwd: '/', stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: '/usr/bin:/bin', PYTHONPATH: path.join(dataDir, 'python-packages') },
  }));
  t.teardown(() => stopChild(trap, 'SIGKILL'));
  let trapOut = '';
  trap.stdout!.on('data', (d: Buffer) => { trapOut += d.toString(); });
  trap.stderr!.on('data', (d: Buffer) => { trapOut += d.toString(); });
  t.ok(await until(() => /ARMED/.test(trapOut) || trap.exitCode !== null, 120_000), 'the trap is armed');
  t.match(trapOut, /ARMED/, `the trap printed ARMED (${trapOut.slice(-300)})`);
  agent = await startAgent(t, { env: SAFE_ENV, dataDir, config });
  c = await ApiClient.connect(agent.apiUrl);
  await attack(t, summary, `a vehicle folder of ${files} files swapped during its removal at the next start`, agent, async () => {
    await probed(agent, 1, gone);
    await sleep(3000);
    const after = snapshot([precious]);
    t.same(after, before, 'after the next start too');
    summary.data.figures['vehicle folder swapped during removal at start: root-only file deleted'] = gone() ? 'yes' : 'no';
    summary.data.figures['vehicle folder swapped during removal at start: the trap'] = trapOut.trim().split('\n').pop() ?? '';
    if (gone()) summary.finding('the root-only file was deleted through the swapped vehicle folder at start');
    return !gone();
  }, { probe: c });
  summary.data.crashes += caughtCrashes(agent).length;
});

t.test('an app under apps.runAs imports the generated vehicle package', { skip: NOT_ROOT }, async (t) => {
  const { dataDir } = arena(t, 'sdv-chaos-import-');
  const agent = await startAgent(t, { env: SAFE_ENV, dataDir, config: RUN_AS });
  const c = await ApiClient.connect(agent.apiUrl);
  t.teardown(() => c.close());
  // A stub velocitas_sdk beside the app (enough of velocitas_sdk.model for the generated classes), as the report did.
  const code = [
    'import os, sys',
    'os.makedirs("velocitas_sdk", exist_ok=True)',
    'open("velocitas_sdk/__init__.py", "w").close()',
    'open("velocitas_sdk/model.py", "w").write("""',
    'class Node:',
    '    def __init__(self, parent=None):',
    '        self.name = type(self).__name__',
    '        self.parent = parent',
    '    def get_path(self):',
    '        return self.name if self.parent is None else self.parent.get_path() + "." + self.name',
    'class Model(Node):',
    '    pass',
    'class DataPoint(Node):',
    '    def __init__(self, name, parent):',
    '        super().__init__(parent)',
    '        self.name = name',
    '_made = {}',
    'def __getattr__(n):',
    '    if not n.startswith("DataPoint"):',
    '        raise AttributeError(n)',
    '    return _made.setdefault(n, type(n, (DataPoint,), {}))',
    '""")',
    'sys.path.insert(0, os.getcwd())',
    'try:',
    '    from vehicle import Vehicle, vehicle',
    '    print("IMPORTED", vehicle.Speed.get_path(), vehicle.Cabin.Door.Row1.DriverSide.IsOpen.get_path(), flush=True)',
    'except Exception as e:',
    '    print("IMPORT-FAILED", type(e).__name__, e, flush=True)',
  ].join('\n');
  await attack(t, summary, 'an app under apps.runAs imports vehicle', agent, async () => {
    const line = await runApp(c, 'importer', code, /^IMPORT/);
    t.equal(line, 'IMPORTED Vehicle.Speed Vehicle.Cabin.Door.Row1.DriverSide.IsOpen', 'the app imports the generated package');
    const info = await c.request({ type: 'get_runtime_info' });
    t.match(info.python, { vehicleModel: { signals: 910 } }, 'and get_runtime_info reports it');
    summary.data.figures['runAs app imports vehicle'] = line.slice(0, 120);
    return line.startsWith('IMPORTED ');
  }, { probe: c });
  // The package is root's: the app user reads it and cannot change it.
  const mine = fs.readdirSync(dataDir).map((n) => path.join(dataDir, n)).filter((p) => fs.existsSync(path.join(p, 'vehicle', '__init__.py')));
  t.equal(mine.length, 1, `one folder of dataDir holds the vehicle package (${mine.map((p) => path.basename(p)).join(', ')})`);
  for (const p of mine) {
    const st = fs.statSync(path.join(p, 'vehicle', '__init__.py'));
    t.equal(st.uid, 0, `${path.basename(p)}/vehicle/__init__.py is root's`);
    t.equal(st.mode & 0o022, 0, 'and no one else may write it');
    t.equal(st.mode & 0o004, 0, 'nor read it but root and the app user\'s group');
  }
  summary.data.crashes += caughtCrashes(agent).length;
});
