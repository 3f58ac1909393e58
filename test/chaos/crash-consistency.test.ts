// Section 3 — crash consistency: the agent is kill -9'ed at random points of a loop of deploys, redeploys, starts,
// stops and uninstalls driven through the local API (6 kills short, 100 full). After every kill the registry parses,
// every operation acknowledged before the kill is present after the restart, the apps meant to run are running, and
// no app runs twice. Then a dataDir that turns read-only mid-run: the failing write is reported to the requester and
// the previous state stays intact, and the agent also starts on it; and an app that fills dataDir: stop, run and
// uninstall are still acknowledged and kept (the registry needs no new space to be rewritten), a deploy is refused.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ApiClient, startAgent, tmpDir, type AgentHandle } from '../helpers/agent';
import { Summary, attack, budgetEnd, req, caughtCrashes, count, roundsDone, served, makeRng, seedFor, sleep, until } from './lib';
import { SAFE_ENV } from './safe-env';

const SECTION = 'crash-consistency';
const seed = seedFor(SECTION);
const rng = makeRng(seed);
const summary = new Summary(SECTION, seed);
t.teardown(() => summary.write(t));

/** A long-running app: it must still be running after the agent comes back. */
const APP_CODE = (v: number) => `import time\nprint("version ${v}", flush=True)\nwhile True:\n    time.sleep(0.5)\n`;
const RUNNING = new Set(['running', 'starting']);

interface Expect {
  /** Present after an acknowledged deploy, absent after an acknowledged uninstall, unknown while an op was cut. */
  present: boolean | null;
  /** running / stopped after an acknowledged run or stop; null when the last ack does not fix it. */
  desired: 'running' | 'stopped' | null;
}

function appIdOf(reply: Record<string, unknown>, protoId: string): string {
  const app = reply.app as Record<string, unknown> | undefined;
  return (reply.appId as string | undefined) ?? (app?.id as string | undefined) ?? `VEA-${protoId}`;
}

async function listApps(c: ApiClient): Promise<Map<string, string>> {
  const r = await c.request({ type: 'list_deployed_apps' });
  const m = new Map<string, string>();
  for (const a of (r.apps as Array<Record<string, unknown>> | undefined) ?? []) m.set(String(a.id), String(a.status));
  return m;
}

/** pids of processes whose command line or cwd lies in dataDir: the app processes this test's agent started. */
function appPids(dataDir: string): number[] {
  const out: number[] = [];
  for (const p of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const cwd = fs.readlinkSync(`/proc/${p}/cwd`);
      const cmd = fs.readFileSync(`/proc/${p}/cmdline`, 'utf8');
      if ((cwd.startsWith(dataDir) || cmd.includes(dataDir)) && !cmd.includes('sdv-agent')) out.push(Number(p));
    } catch { /* gone */ }
  }
  return out;
}

/** One per app: the processes in dataDir whose parent is not one of them (an app may be a shell plus python). */
function appRoots(dataDir: string): number[] {
  const pids = appPids(dataDir);
  const set = new Set(pids);
  return pids.filter((p) => {
    try { return !set.has(Number(fs.readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1]!.split(' ')[1])); } catch { return false; }
  });
}

function killLeftovers(dataDir: string): void {
  for (const pid of appPids(dataDir)) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
}

t.test('kill -9 at random points of a deploy/run/stop/uninstall loop', async (t) => {
  const dataDir = path.join(tmpDir(t, 'sdv-chaos-crash-'), 'data');
  t.teardown(() => killLeftovers(dataDir));
  let agent: AgentHandle = await startAgent(t, { dataDir, env: SAFE_ENV, config: { apps: { maxApps: 12 } } });
  let c = await ApiClient.connect(agent.apiUrl);
  if (!(await served(t, c, 'list_deployed_apps'))) {
    c.close();
    await agent.stop();
    return;
  }
  const kills = count(6, 100);
  const deadline = budgetEnd(330_000);
  const model = new Map<string, Expect>();
  const protoIds = ['a1', 'a2', 'a3', 'a4', 'a5', 'a6'];
  let version = 0;
  let acked = 0;
  let done = 0;
  t.teardown(async () => { c.close(); await agent.stop(); });

  for (let k = 0; k < kills && Date.now() < deadline; k++) {
    // --- a burst of operations, with the kill scheduled at a random moment inside it ---
    let killed = false;
    const killAt = 50 + rng.int(count(1500, 1200));
    const killer = setTimeout(() => { killed = true; agent.proc.kill('SIGKILL'); }, killAt);
    while (!killed) {
      const protoId = rng.pick(protoIds);
      const appId = `VEA-${protoId}`;
      const op = rng.pick(['deploy', 'deploy', 'run', 'run', 'stop', 'uninstall'] as const);
      const before = model.get(appId) ?? { present: false, desired: null };
      // An op is uncertain until acknowledged: if the kill lands first, its effect may or may not be there.
      model.set(appId, { present: null, desired: null });
      let r: Record<string, unknown>;
      try {
        if (op === 'deploy') r = await c.request({ type: 'deploy_request', prototype: { id: protoId, name: protoId, type: 'python', code: APP_CODE(++version), config: {} } });
        else r = await c.request({ type: `${op === 'run' ? 'run' : op === 'stop' ? 'stop' : 'uninstall'}_app`, appId });
      } catch {
        break; // the socket went away with the agent: this op stays uncertain
      }
      if (r.type === 'error') { model.set(appId, before); continue; } // refused (conflict, not found): nothing changed
      acked++;
      const id = op === 'deploy' ? appIdOf(r, protoId) : appId;
      if (op === 'deploy') model.set(id, { present: true, desired: null });
      else if (op === 'run') model.set(id, { present: true, desired: 'running' });
      else if (op === 'stop') model.set(id, { present: true, desired: 'stopped' });
      else model.set(id, { present: false, desired: null });
    }
    clearTimeout(killer);
    if (!killed) agent.proc.kill('SIGKILL');
    await until(() => agent.proc.exitCode !== null || agent.proc.signalCode !== null, 10_000);
    c.close();
    summary.data.faultsInjected++;

    // --- the registry on disk must parse, whatever moment the kill hit ---
    const regFile = path.join(dataDir, 'apps', 'registry.json');
    let parses = true;
    if (fs.existsSync(regFile)) { try { JSON.parse(fs.readFileSync(regFile, 'utf8')); } catch { parses = false; } }
    if (!parses) { summary.data.stateLost++; summary.finding(`kill ${k}: registry.json does not parse`); }
    const corrupt = fs.readdirSync(path.join(dataDir, 'apps')).filter((n) => n.includes('.corrupt-'));

    // --- restart and compare with what was acknowledged ---
    agent = await startAgent(t, { dataDir, env: SAFE_ENV, config: { apps: { maxApps: 12 } } });
    c = await ApiClient.connect(agent.apiUrl);
    let lost = 0;
    let listed = await listApps(c);
    const mustRun = [...model].filter(([, e]) => e.present === true && e.desired === 'running').map(([id]) => id);
    if (mustRun.length) {
      await until(async () => { listed = await listApps(c); return mustRun.every((id) => RUNNING.has(listed.get(id) ?? '')); }, 20_000, 250);
    }
    for (const [id, e] of model) {
      const status = listed.get(id);
      if (e.present === true && status === undefined) { lost++; summary.finding(`kill ${k}: acknowledged app ${id} missing after restart`); }
      if (e.present === false && status !== undefined) { lost++; summary.finding(`kill ${k}: acknowledged uninstall of ${id} undone after restart`); }
      if (e.present === true && e.desired === 'running' && !RUNNING.has(status ?? '')) { lost++; summary.finding(`kill ${k}: ${id} meant to run is ${status}`); }
      if (e.present === true && e.desired === 'stopped' && RUNNING.has(status ?? '')) { lost++; summary.finding(`kill ${k}: ${id} acknowledged stopped is ${status}`); }
    }
    // no app runs twice: every app process of the old agent was reaped or adopted
    await sleep(200);
    const pids = appRoots(dataDir);
    const running = [...listed.values()].filter((s) => RUNNING.has(s)).length;
    if (pids.length > running) summary.finding(`kill ${k}: ${pids.length} app processes for ${running} running apps (leftovers of the killed agent)`);
    summary.data.stateLost += lost;
    if (lost === 0 && parses && corrupt.length === 0) summary.data.faultsSurvived++;
    // from here the agent's own view is the truth (uncertain ops resolved one way or the other)
    for (const id of [...model.keys()]) {
      const s = listed.get(id);
      model.set(id, s === undefined ? { present: false, desired: null } : { present: true, desired: RUNNING.has(s) ? 'running' : (s === 'stopped' || s === 'installed' ? 'stopped' : null) });
    }
    done++;
  }
  summary.data.figures.kills = done;
  summary.data.figures.acknowledgedOps = acked;
  summary.data.crashes += caughtCrashes(agent).length;
  roundsDone(t, done, kills, 'kills');
  t.equal(summary.data.stateLost, 0, 'no acknowledged state lost');
  t.equal(summary.data.faultsSurvived, done, 'every restart consistent');
});

/** Makes a folder read-only for root too: a small tmpfs remounted ro, else the immutable attribute. */
function readOnlyTools(): { mount: boolean; chattr: boolean } {
  const isRoot = process.getuid?.() === 0;
  const has = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
  return { mount: isRoot && has('mount'), chattr: isRoot && has('chattr') };
}

t.test('dataDir turns read-only mid-run', async (t) => {
  const tools = readOnlyTools();
  if (!tools.mount && !tools.chattr) { summary.skip('read-only dataDir', 'needs root with mount or chattr'); return; }
  const base = tmpDir(t, 'sdv-chaos-ro-');
  const dataDir = path.join(base, 'data');
  fs.mkdirSync(dataDir, { mode: 0o700 });
  let method = 'none';
  if (tools.mount && spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=16m,mode=0700', 'tmpfs', dataDir]).status === 0) method = 'tmpfs';
  t.teardown(() => {
    killLeftovers(dataDir);
    // Both when the remount fell back to chattr on the tmpfs ('tmpfs+chattr'): a mount left behind fails the removal
    // of the test's temp folder (EBUSY) and with it the whole run.
    if (method.includes('chattr')) spawnSync('chattr', ['-R', '-i', dataDir]);
    if (method.startsWith('tmpfs')) spawnSync('umount', ['-l', dataDir]);
  });
  let agent = await startAgent(t, { dataDir, env: SAFE_ENV });
  let c = await ApiClient.connect(agent.apiUrl);
  t.teardown(() => c.close());
  if (!(await served(t, c, 'list_deployed_apps'))) return;

  const a = await c.request({ type: 'deploy_request', prototype: { id: 'ro-a', name: 'A', type: 'python', code: APP_CODE(1), config: {} } });
  t.not(a.type, 'error', 'deploy before the switch');
  const aId = appIdOf(a, 'ro-a');
  t.not((await c.request({ type: 'run_app', appId: aId })).type, 'error', 'run before the switch');
  const regFile = path.join(dataDir, 'apps', 'registry.json');
  const regBefore = fs.readFileSync(regFile, 'utf8');

  // the switch: remount read-only (a busy tmpfs refuses: then the immutable attribute on every folder)
  let ro = false;
  if (method === 'tmpfs') ro = spawnSync('mount', ['-o', 'remount,ro', dataDir]).status === 0;
  if (!ro && tools.chattr) {
    const dirs = spawnSync('find', [dataDir, '-type', 'd'], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
    ro = dirs.length > 0 && dirs.every((d) => spawnSync('chattr', ['+i', d]).status === 0);
    if (ro) { if (method === 'tmpfs') summary.finding('tmpfs remount read-only refused while the agent had files open; used chattr +i on the folders'); method = method === 'tmpfs' ? 'tmpfs+chattr' : 'chattr'; }
  }
  if (!ro) { summary.skip('read-only dataDir', 'could not make dataDir read-only here'); return; }
  summary.data.figures.readOnlyMethod = method;
  summary.data.faultsInjected++;

  // Every request that needs a write is refused with STORAGE, says why and what it means, and changes nothing.
  const refused = (r: Record<string, unknown> | null, what: string) => {
    if (!r) { summary.finding(`${what} got no answer while dataDir was read-only`); t.fail(`${what} answered`); return; }
    t.equal(r.type, 'error', `${what} is refused`);
    t.equal(r.code, 'STORAGE', `${what}: code STORAGE`);
    t.match(String(r.error), /read-only|EROFS|ENOENT/, `${what}: the error says why: ${String(r.error)}`);
    t.match(String(r.error), /dataDir/, `${what}: and what to do`);
    if (r.type !== 'error') summary.finding(`${what} acknowledged while the registry could not be written: ${JSON.stringify(r).slice(0, 160)}`);
  };
  const timeout = count(10_000, 30_000);
  const b = await req(c, { type: 'deploy_request', prototype: { id: 'ro-b', name: 'B', type: 'python', code: APP_CODE(2), config: {} } }, timeout).catch(() => null);
  refused(b, 'a new deploy');
  refused(await req(c, { type: 'deploy_request', prototype: { id: 'ro-a', name: 'A', type: 'python', code: APP_CODE(3), config: {} } }, timeout).catch(() => null), 'a redeploy');
  const stop = await req(c, { type: 'stop_app', appId: aId }, timeout).catch(() => null);
  refused(stop, 'stop_app');
  refused(await req(c, { type: 'uninstall_app', appId: aId }, timeout).catch(() => null), 'uninstall_app');
  t.equal((await listApps(c)).get(aId), 'running', 'the app keeps running, as the registry on disk says');
  t.equal(fs.readFileSync(regFile, 'utf8'), regBefore, 'the registry on disk is the previous state');
  t.equal((await c.request({ type: 'ping' })).type, 'pong', 'the agent keeps serving');
  const health = await (await fetch(agent.healthUrl)).json() as Record<string, unknown>;
  t.equal(health.status, 'degraded', '/health says degraded');
  t.match(String(health.storageError), /read-only|EROFS/, `and why: ${String(health.storageError)}`);
  summary.data.crashes += caughtCrashes(agent).length;
  const stopAcked = stop !== null && stop.type !== 'error';

  // kill -9 and start again while still read-only (a box whose storage came up read-only): the agent starts, the app
  // meant to run runs, /health says why it is degraded, and changes are still refused
  const restart = async () => {
    agent.proc.kill('SIGKILL');
    await until(() => agent.proc.exitCode !== null || agent.proc.signalCode !== null, 10_000);
    c.close();
    agent = await startAgent(t, { dataDir, env: SAFE_ENV });
    c = await ApiClient.connect(agent.apiUrl);
  };
  await restart();
  summary.data.faultsInjected++;
  const runsOnRo = await until(async () => (await listApps(c)).get(aId) === 'running', 20_000, 250);
  t.ok(runsOnRo, `started on the read-only dataDir, the app meant to run runs (${String((await listApps(c)).get(aId))})`);
  const roHealth = await (await fetch(agent.healthUrl)).json() as Record<string, unknown>;
  t.equal(roHealth.status, 'degraded', '/health says degraded after a read-only start');
  t.match(String(roHealth.storageError), /read-only|EROFS|EPERM|not permitted/, 'and why');
  refused(await req(c, { type: 'deploy_request', prototype: { id: 'ro-c', name: 'C', type: 'python', code: APP_CODE(4), config: {} } }, timeout).catch(() => null), 'a deploy after a read-only start');
  const crashedOnRo = caughtCrashes(agent).length;
  summary.data.crashes += crashedOnRo;
  if (runsOnRo && crashedOnRo === 0) summary.data.faultsSurvived++;

  // back to writable, kill -9, restart: the previous state is there
  if (method.startsWith('tmpfs') && method !== 'tmpfs+chattr') spawnSync('mount', ['-o', 'remount,rw', dataDir]);
  if (method.includes('chattr')) spawnSync('chattr', ['-R', '-i', dataDir]);
  await restart();
  const listed = await listApps(c);
  t.ok(listed.has(aId), 'the app deployed before the switch is still there');
  t.notOk(listed.has('VEA-ro-b'), 'the refused deploy left nothing');
  if (stop === null) {
    summary.data.figures.stopDuringReadOnly = 'unanswered';
  } else if (!stopAcked) {
    await until(async () => RUNNING.has((await listApps(c)).get(aId) ?? ''), 20_000, 250);
    t.ok(RUNNING.has((await listApps(c)).get(aId) ?? ''), 'the app meant to run runs again');
  } else {
    const s = (await listApps(c)).get(aId);
    if (RUNNING.has(s ?? '')) { summary.data.stateLost++; t.fail(`the acknowledged stop was lost (status ${s})`); }
  }
  summary.data.faultsSurvived++;
  summary.data.crashes += caughtCrashes(agent).length;
});

/** An app that fills its own folder until the disk is full, and keeps taking every byte that comes free. */
const FILLER_CODE = [
  'import time',
  'f = open("fill.bin", "wb", buffering=0)',
  'chunk = b"z" * 65536',
  'said = False',
  'while True:',
  '    try:',
  '        f.write(chunk)',
  '    except OSError:',
  '        if not said: print("FULL", flush=True); said = True',
  '        time.sleep(0.02)',
].join('\n');

t.test('dataDir full: an app fills it, and the controller is not locked out', async (t) => {
  if (!readOnlyTools().mount) { summary.skip('full dataDir', 'needs root with mount'); return; }
  const dataDir = path.join(tmpDir(t, 'sdv-chaos-full-'), 'data');
  fs.mkdirSync(dataDir, { mode: 0o700 });
  if (spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=8m,mode=0700', 'tmpfs', dataDir]).status !== 0) { summary.skip('full dataDir', 'tmpfs mount refused'); return; }
  t.teardown(() => { killLeftovers(dataDir); spawnSync('umount', ['-l', dataDir]); });
  let agent = await startAgent(t, { dataDir, env: SAFE_ENV });
  let c = await ApiClient.connect(agent.apiUrl);
  t.teardown(() => c.close());
  await c.request({ type: 'deploy_request', prototype: { id: 'full-a', name: 'A', type: 'python', code: APP_CODE(1), config: {} } });
  t.equal((await c.request({ type: 'run_app', appId: 'VEA-full-a' })).status, 'running', 'an app runs before the disk fills');
  const regFile = path.join(dataDir, 'apps', 'registry.json');
  const onDisk = (id: string) => (JSON.parse(fs.readFileSync(regFile, 'utf8')).apps as Array<Record<string, unknown>>).find((a) => a.id === id);

  // the attacker: an app that fills dataDir through its own folder and keeps grabbing freed bytes; then the last bytes
  await c.request({ type: 'deploy_request', prototype: { id: 'full-b', name: 'Filler', type: 'python', code: FILLER_CODE, config: {} } });
  await req(c, { type: 'console_subscribe', appId: 'VEA-full-b' });
  await c.request({ type: 'run_app', appId: 'VEA-full-b' });
  await c.waitFor((f) => f.type === 'console_output' && f.appId === 'VEA-full-b' && f.output === 'FULL');
  const filler = path.join(dataDir, 'filler');
  const topUp = () => {
    const fd = fs.openSync(filler, 'a');
    try { for (;;) fs.writeSync(fd, Buffer.alloc(4096, 0x5a)); } catch { /* full */ }
    try { for (;;) fs.writeSync(fd, Buffer.alloc(1, 0x5a)); } catch (e) { t.equal((e as NodeJS.ErrnoException).code, 'ENOSPC', 'the disk is full to the last byte'); }
    fs.closeSync(fd);
  };
  topUp();

  await attack(t, summary, 'an app fills dataDir: stop, run and uninstall still acknowledged', agent, async () => {
    const stop = await req(c, { type: 'stop_app', appId: 'VEA-full-a' }).catch(() => null);
    t.match(stop, { type: 'stop_app-response', status: 'stopped' }, `stop_app on a full disk is acknowledged (${String(stop?.error ?? stop?.type)})`);
    t.equal(onDisk('VEA-full-a')?.desired, 'stopped', 'and on disk');
    const run = await req(c, { type: 'run_app', appId: 'VEA-full-a' }).catch(() => null);
    t.match(run, { status: 'running' }, 'run_app on a full disk is acknowledged');
    t.equal(onDisk('VEA-full-a')?.desired, 'running', 'and on disk');
    const stopB = await req(c, { type: 'stop_app', appId: 'VEA-full-b' }).catch(() => null);
    t.match(stopB, { type: 'stop_app-response', status: 'stopped' }, 'the filling app itself can be stopped');
    const stopA = await req(c, { type: 'stop_app', appId: 'VEA-full-a' }).catch(() => null);
    t.match(stopA, { status: 'stopped' }, 'and the other one again');
    // a new deploy needs room for its code: refused, saying why and what to do
    const dep = await req(c, { type: 'deploy_request', prototype: { id: 'full-c', name: 'C', type: 'python', code: 'x = 1\n'.repeat(1000), config: {} } }).catch(() => null);
    t.match(dep, { type: 'error', code: 'STORAGE' }, 'a deploy whose code does not fit is refused with STORAGE');
    t.match(String(dep?.error), /disk is full.*Free space in runtime\.dataDir/, `and says so: ${String(dep?.error)}`);
    return stop?.status === 'stopped' && run?.status === 'running' && stopB?.status === 'stopped' && stopA?.status === 'stopped' && dep?.code === 'STORAGE';
  }, { probe: c });

  // kill -9 while the disk is still full: what was acknowledged is what comes back, and the filler can be uninstalled
  agent.proc.kill('SIGKILL');
  await until(() => agent.proc.exitCode !== null || agent.proc.signalCode !== null, 10_000);
  c.close();
  killLeftovers(dataDir);
  topUp();
  agent = await startAgent(t, { dataDir, env: SAFE_ENV });
  c = await ApiClient.connect(agent.apiUrl);
  await attack(t, summary, 'restarted on the full dataDir: acknowledged stops held, uninstall acknowledged', agent, async () => {
    const listed = await listApps(c);
    t.equal(listed.get('VEA-full-a'), 'stopped', 'after a kill -9 on the full disk the acknowledged stop holds');
    t.equal(listed.get('VEA-full-b'), 'stopped', 'and the filler stays stopped');
    const un = await req(c, { type: 'uninstall_app', appId: 'VEA-full-b' }).catch(() => null);
    t.match(un, { status: 'uninstalled' }, 'uninstall of the filler on a full disk is acknowledged (and frees its space)');
    t.equal(onDisk('VEA-full-b'), undefined, 'and it is gone from the registry on disk');
    const lost = (listed.get('VEA-full-a') === 'stopped' ? 0 : 1) + (listed.get('VEA-full-b') === 'stopped' ? 0 : 1);
    summary.data.stateLost += lost;
    return lost === 0 && un?.status === 'uninstalled';
  }, { probe: c });

  // space again: a deploy works, and /health has no storage error
  fs.rmSync(filler, { force: true });
  t.match(await c.request({ type: 'deploy_request', prototype: { id: 'full-c', name: 'C', type: 'python', code: APP_CODE(2), config: {} } }), { type: 'deploy_request-response' }, 'with space again a deploy is acknowledged');
  const after = await (await fetch(agent.healthUrl)).json() as Record<string, unknown>;
  t.equal(after.storageError, null, 'no storage error');
  summary.data.crashes += caughtCrashes(agent).length;
});
