// Section "vehicle-model" — models that make the Python `vehicle` package expensive, wrong or unwritable:
//   - a model past the bounds (the report's 375 001 branches in full form, 12 001 in short form) and one whose
//     package would pass 32 MiB are refused, and the agent answers ping meanwhile; the largest accepted model is
//     written without holding the event loop, and a restart does not write it again;
//   - names Python cannot take as they are (`super`, `self`, `__class__`, `__dict__`, `12V` beside `N_12V`, `class`
//     beside `class_`, `__x`, NUL and other control characters in texts): each model is refused naming the node, or
//     its package imports with the real Velocitas SDK and every leaf is its own node;
//   - a full dataDir during generate_vehicle_model: the command fails and nothing changes; a start that cannot write
//     the package for the served model says so in /health until a model change puts one in place.
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ApiClient, ROOT, startAgent, tmpDir } from '../helpers/agent';
import { trackChild } from '../helpers/scope';
import { runPython } from '../helpers/peers';
import { velocitasBox } from '../helpers/velocitas-box';
import { FULL, MB, Summary, attack, caughtCrashes, count, req, rssOf, seedFor, until } from './lib';
import { SAFE_ENV } from './safe-env';

const SECTION = 'vehicle-model';
const summary = new Summary(SECTION, seedFor(SECTION));
t.teardown(() => summary.write(t));

type Tree = Record<string, unknown>;
const sensor = (extra: Tree = {}): Tree => ({ type: 'sensor', datatype: 'float', ...extra });
const branch = (children: Tree, extra: Tree = {}): Tree => ({ type: 'branch', ...extra, children });

/** `chains` leaves, each under a chain of `depth` branches of its own (the report's shape). */
function chains(n: number, depth: number): Tree {
  const children: Tree = {};
  for (let i = 0; i < n; i++) {
    let node: Tree = branch({ S: sensor() });
    for (let d = depth - 1; d >= 1; d--) node = branch({ [`L${d}`]: node });
    children[`B${i}`] = node;
  }
  return { Vehicle: branch(children) };
}

/** `branches` branches of `per` leaves each. */
function wide(branches: number, per: number, extra: Tree = {}): Tree {
  const children: Tree = {};
  for (let b = 0; b < branches; b++) {
    const leaves: Tree = {};
    for (let i = 0; i < per; i++) leaves[`S${i}`] = sensor();
    children[`B${b}`] = branch(leaves, extra);
  }
  return { Vehicle: branch(children) };
}

const stampOf = (dataDir: string): Record<string, unknown> | null => {
  for (const dir of ['python-agent', 'python-packages']) {
    try { return JSON.parse(fs.readFileSync(path.join(dataDir, dir, 'vehicle', '.sdv-agent-model.json'), 'utf8')) as Record<string, unknown>; } catch { /* the other */ }
  }
  return null;
};

/**
 * Sends a frame already serialised (so the test's own JSON.stringify of megabytes does not stall its probes) and
 * resolves with the reply; beside it a process of its own pings the agent every 100 ms for `windowMs` (ping-probe.ts):
 * the slowest pong is the agent's, not this process's.
 */
async function sendBig(c: ApiClient, apiUrl: string, id: string, type: string, data: Tree, windowMs: number): Promise<{ reply: Tree; ms: number; slowestPing: number; pingsMissed: number }> {
  const text = JSON.stringify({ type, id, data });
  const probe = trackChild(spawn(process.execPath, ['--import', 'tsx', path.join(__dirname, 'ping-probe.ts'), apiUrl, String(windowMs)], {
    cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PING_PROBE_READY: '1' },
  }));
  let out = '';
  let err = '';
  probe.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  probe.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  const done = new Promise<void>((resolve) => probe.on('close', () => resolve()));
  // The probe has had its first pong before the frame goes.
  await until(() => err.includes('ready') || probe.exitCode !== null, 60_000);
  const t0 = Date.now();
  c.send(text);
  const reply = await c.waitFor((f) => f.id === id, 300_000);
  const ms = Date.now() - t0;
  await done;
  const seen = JSON.parse(out.trim().split('\n').pop() || '{"ms":[],"missed":-1}') as { ms: number[]; missed: number };
  return { reply, ms, slowestPing: Math.round(Math.max(0, ...seen.ms)), pingsMissed: seen.missed };
}

t.test('models past the bounds, and the largest accepted one', async (t) => {
  const agent = await startAgent(t, { env: SAFE_ENV });
  const c = await ApiClient.connect(agent.apiUrl);
  t.teardown(() => c.close());
  const probe = await ApiClient.connect(agent.apiUrl);
  t.teardown(() => probe.close());
  const n = count(400, 12_500);
  // The ping probe's window feeds figures and the full run's bound; the short form asserts no ping time, so it waits less.
  const windowMs = count(1_000, 15_000);
  let seq = 0;

  const refused = async (name: string, tree: Tree, bound: RegExp) => {
    summary.data.figures[`${name}: frame MiB`] = (JSON.stringify(tree).length / MB).toFixed(1);
    await attack(t, summary, name, agent, async () => {
      const stamp = stampOf(agent.dataDir);
      const r = await sendBig(c, agent.apiUrl, `big-${++seq}`, 'generate_vehicle_model', tree, windowMs);
      summary.data.figures[`${name}: answered in (ms)`] = r.ms;
      summary.data.figures[`${name}: slowest ping from a process of its own (ms)`] = `${r.slowestPing} (missed ${r.pingsMissed})`;
      t.match(r.reply, { type: 'error', code: 'BAD_REQUEST', error: bound }, `${name}: refused, naming the bound (${String(r.reply.error ?? r.reply.result).slice(0, 200)})`);
      t.same(stampOf(agent.dataDir), stamp, 'the package on disk is the one before');
      const speed = await req(c, { type: 'get_signals_value', apis: ['Vehicle.Speed'] });
      t.match(speed, { type: 'get_signals_value-response', result: { 'Vehicle.Speed': null } }, 'the model served is the one before');
      // The bound of the report's attack: no ping waits 2 s (the short form's model is too small to tell).
      if (FULL) t.ok(r.slowestPing < 2000 && r.pingsMissed === 0, `${name}: no ping waited 2 s (${r.slowestPing} ms)`);
      return r.reply.code === 'BAD_REQUEST';
    }, { probe, everyMs: 50 });
  };
  await refused(`${n} leaves under ${n * 30 + 1} branches (chains of 30)`, chains(n, 30), /more than 10000 branches/);
  // Branch descriptions (shown up to 4 096 characters) are written twice, the branch's docstring and its parent's, and
  // indented: about 5 package bytes per byte of "a\n" sent.
  await refused('a model whose package would pass 32 MiB', wide(1500, 1, { description: 'a\n'.repeat(2048) }), /larger than 32 MiB/);

  // The largest accepted: every leaf bound and branch bound reached in full form.
  const [branches, per] = FULL ? [9_999, 10] : [2_000, 5];
  const name = `${branches * per} leaves in ${branches + 1} branches, accepted`;
  await attack(t, summary, name, agent, async () => {
    const r = await sendBig(c, agent.apiUrl, `big-${++seq}`, 'generate_vehicle_model', wide(branches, per), count(2_000, 30_000));
    summary.data.figures[`${name}: answered in (ms)`] = r.ms;
    summary.data.figures[`${name}: the package's share (ms)`] = String((r.reply.pythonModel as Tree | undefined)?.ms ?? '-');
    summary.data.figures[`${name}: slowest ping from a process of its own (ms)`] = `${r.slowestPing} (missed ${r.pingsMissed})`;
    t.match(r.reply, { result: 'Successful', leaves: branches * per, pythonModel: { signals: branches * per, branches: branches + 1 } }, `${name}: written (${String(r.reply.error ?? '')})`);
    return r.reply.result === 'Successful';
  }, { probe, everyMs: 50 });
  summary.data.crashes += caughtCrashes(agent).length;
  probe.close();
  c.close();

  // A restart loads the model and finds the package current: nothing is generated again.
  await agent.stop();
  const t0 = Date.now();
  const again = await startAgent(t, { env: SAFE_ENV, dataDir: agent.dataDir });
  const startMs = Date.now() - t0;
  summary.data.figures[`${name}: restart to ready (ms)`] = startMs;
  summary.data.figures[`${name}: RSS MB after the restart`] = ((rssOf(again.proc.pid) ?? 0) / MB).toFixed(1);
  t.equal(again.logs.filter((l) => l.msg === 'python vehicle model written').length, 0, `the restart wrote no package (ready in ${startMs} ms)`);
  const health = await fetch(again.healthUrl).then((r) => r.json()) as Tree;
  t.equal(health.status, 'healthy');
});

/** Each model, and what must hold of it: refused naming `node`, or imported with these leaves each its own node. */
const NAME_CASES: Array<{ what: string; tree: Tree; refused?: string; leaves?: string[] }> = [
  { what: 'a branch named super', tree: { Vehicle: branch({ Speed: sensor(), super: branch({ X: sensor() }) }) }, leaves: ['Vehicle.Speed', 'Vehicle.super.X'] },
  { what: 'a branch named self', tree: { Vehicle: branch({ self: branch({ X: sensor() }) }) }, leaves: ['Vehicle.self.X'] },
  { what: 'a branch named setattr beside one named vehicle', tree: { Vehicle: branch({ setattr: branch({ X: sensor() }), vehicle: branch({ Y: sensor() }) }) }, leaves: ['Vehicle.setattr.X', 'Vehicle.vehicle.Y'] },
  { what: 'a leaf named __class__', tree: { Vehicle: branch({ __class__: sensor() }) }, refused: 'Vehicle.__class__' },
  { what: 'a branch named __dict__', tree: { Vehicle: branch({ __dict__: branch({ X: sensor() }) }) }, refused: 'Vehicle.__dict__' },
  { what: 'a leaf named __init__ deep down', tree: { Vehicle: branch({ Cabin: branch({ __init__: sensor() }) }) }, refused: 'Vehicle.Cabin.__init__' },
  { what: 'siblings 12V and N_12V', tree: { Vehicle: branch({ '12V': branch({ A: sensor() }), N_12V: branch({ B: sensor() }) }) }, leaves: ['Vehicle.12V.A', 'Vehicle.N_12V.B'] },
  { what: 'siblings class and class_', tree: { Vehicle: branch({ class: branch({ A: sensor() }), class_: branch({ B: sensor() }) }) }, leaves: ['Vehicle.class.A', 'Vehicle.class_.B'] },
  { what: 'siblings Door, door and DOOR', tree: { Vehicle: branch({ Door: branch({ A: sensor() }), door: branch({ B: sensor() }), DOOR: branch({ C: sensor() }) }) }, leaves: ['Vehicle.Door.A', 'Vehicle.door.B', 'Vehicle.DOOR.C'] },
  { what: 'a branch __x (name mangling)', tree: { Vehicle: branch({ __x: branch({ A: sensor() }), __y: sensor() }) }, leaves: ['Vehicle.__x.A', 'Vehicle.__y'] },
  { what: 'NUL and control characters in every text', tree: { Vehicle: branch({ S: sensor({ description: 'a\u0000b\u0001\u001a\u007f\u0085c', comment: '\u0000', unit: 'k\u0000m', allowed: ['x\u0000'] }) }, { description: 'root\u0000\u000b\u000c' }) }, leaves: ['Vehicle.S'] },
];

t.test('names Python cannot take as they are', async (t) => {
  const box = await velocitasBox(t);
  const c = await ApiClient.connect(box.agent.apiUrl);
  t.teardown(() => c.close());
  let broken = 0;
  let handled = 0;
  await attack(t, summary, `${NAME_CASES.length} models with names and texts Python cannot take as they are`, box.agent, async () => {
    for (const k of NAME_CASES) {
      const r = await req(c, { type: 'generate_vehicle_model', data: k.tree });
      if (k.refused) {
        const ok = r.code === 'BAD_REQUEST' && String(r.error).includes(k.refused);
        t.ok(ok, `${k.what}: refused, naming ${k.refused} (${String(r.error ?? r.result).slice(0, 200)})`);
        if (ok) handled++; else broken++;
        continue;
      }
      if (r.result !== 'Successful') { t.fail(`${k.what}: ${JSON.stringify(r).slice(0, 300)}`); broken++; continue; }
      const py = runPython(t, `import json, sys
out = {}
try:
    from vehicle import vehicle
    nodes = {p: vehicle.getNode(p) for p in json.loads(sys.argv[1])}
    out["paths"] = {p: n.get_path() for p, n in nodes.items()}
    out["distinct"] = len(set(map(id, nodes.values()))) == len(nodes)
except BaseException as e:
    out["error"] = "%s: %s" % (type(e).__name__, e)
print(json.dumps(out), flush=True)
`, { args: [JSON.stringify(k.leaves)], env: { PYTHONPATH: box.pythonPath, SDV_MQTT_ADDRESS: `mqtt://127.0.0.1:${box.mqttPort}` } });
      const res = JSON.parse(await py.waitOut(/^\{/, 60_000)) as { paths?: Record<string, string>; distinct?: boolean; error?: string };
      const ok = !res.error && res.distinct === true && k.leaves!.every((p) => res.paths?.[p] === p);
      t.ok(ok, `${k.what}: the package imports and every leaf is its own node at its path (${res.error ?? JSON.stringify(res.paths)})`);
      if (ok) handled++; else { broken++; summary.finding(`${k.what}: ${res.error ?? JSON.stringify(res.paths)}`); }
    }
    summary.data.figures['names: models accepted whose package does not import or merges nodes'] = broken;
    summary.data.figures['names: models refused naming the node, or imported whole'] = `${handled} of ${NAME_CASES.length}`;
    return broken === 0;
  });
  summary.data.crashes += caughtCrashes(box.agent).length;
});

const canMount = process.getuid?.() === 0 && spawnSync('sh', ['-c', 'command -v mount']).status === 0;

t.test('a full dataDir during generate_vehicle_model, and a start that cannot write the package', { skip: canMount ? false : 'needs root with mount' }, async (t) => {
  const base = tmpDir(t, 'sdv-chaos-modelfull-');
  const dataDir = path.join(base, 'data');
  fs.mkdirSync(dataDir);
  t.teardown(() => { spawnSync('umount', ['-l', dataDir]); fs.rmSync(base, { recursive: true, force: true }); });
  if (spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=4m,mode=0700', 'tmpfs', dataDir]).status !== 0) { summary.skip('full dataDir', 'tmpfs mount refused'); return; }
  let agent = await startAgent(t, { env: SAFE_ENV, dataDir });
  let c = await ApiClient.connect(agent.apiUrl);
  // 3 000 branches of one leaf with a 200-character description: the model fits, its package (a file and a folder per
  // branch) does not.
  const tree = wide(3000, 1, { description: 'd'.repeat(200) });
  await attack(t, summary, 'generate_vehicle_model on a 4 MiB dataDir', agent, async () => {
    const stamp = stampOf(dataDir);
    const r = await req(c, { type: 'generate_vehicle_model', data: tree }, 120_000);
    t.not(r.result, 'Successful', `not answered Successful (${JSON.stringify(r).slice(0, 300)})`);
    t.match(r, { type: 'error', code: 'STORAGE', error: /the disk is full/ }, 'a STORAGE error saying the disk is full and nothing changed');
    t.same(stampOf(dataDir), stamp, 'the package on disk is the one before');
    const v = await req(c, { type: 'get_signals_value', apis: ['Vehicle.B0.S', 'Vehicle.Speed'] });
    t.match(v, { result: { 'Vehicle.Speed': null }, errors: { 'Vehicle.B0.S': /no such signal/ } }, 'the model served is the one before');
    const health = await fetch(agent.healthUrl).then((x) => x.json()) as Tree;
    t.equal(health.status, 'healthy', 'served model and package agree: healthy');
    summary.data.figures['full disk: generate_vehicle_model answered'] = `${String(r.code ?? r.result)}: ${String(r.error ?? '').slice(0, 80)}`;
    return r.code === 'STORAGE';
  }, { probe: c });
  summary.data.crashes += caughtCrashes(agent).length;

  // The served model changes behind the agent's back (a model file whose package does not fit), then a start.
  c.close();
  await agent.stop();
  fs.writeFileSync(path.join(dataDir, 'vehicle-model.json'), JSON.stringify(tree));
  agent = await startAgent(t, { env: SAFE_ENV, dataDir });
  c = await ApiClient.connect(agent.apiUrl);
  t.teardown(() => c.close());
  await attack(t, summary, 'a start on a full dataDir that cannot write the package', agent, async () => {
    const health = await fetch(agent.healthUrl).then((x) => x.json()) as Tree;
    t.equal(health.status, 'degraded', '/health is degraded while the package does not match the model');
    t.match(health.pythonModelError, /disk is full|ENOSPC/, `and says why (${String(health.pythonModelError).slice(0, 200)})`);
    const info = await c.request({ type: 'get_runtime_info' });
    t.match((info.python as Tree).vehicleModelError, /ENOSPC|disk is full/, 'get_runtime_info too');
    const rev = await req(c, { type: 'revert_vehicle_model' });
    t.match(rev, { result: 'Successful', pythonModel: { signals: 910 } }, 'a revert to the built-in model puts a matching package in place');
    const ok = await until(async () => ((await fetch(agent.healthUrl).then((x) => x.json())) as Tree).status === 'healthy', 10_000);
    t.ok(ok, '/health is healthy again');
    summary.data.figures['full disk at start: /health'] = `${String(health.status)}, then ${ok ? 'healthy' : 'still degraded'} after a revert`;
    return health.status === 'degraded' && ok;
  }, { probe: c });
  summary.data.crashes += caughtCrashes(agent).length;
});
