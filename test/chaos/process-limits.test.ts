// Section "process-limits" — processes that try to outlive or outnumber what the agent allows:
//   - an app's child that calls setsid() (leaves the app's process group and session), and a daemon that double-forks
//     and whose parent exits: stop_app, uninstall_app and the app's own exit end them, with each way of tracking the
//     tree (apps.processTree cgroup where the agent may make one, and proc everywhere);
//   - parallel ad-hoc runs from many clients at once: never more than MAX_RUNS (16) alive.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ApiClient, startAgent, type AgentHandle } from '../helpers/agent';
import { Summary, attack, caughtCrashes, count, req, seedFor, sleep, until } from './lib';
import { SAFE_ENV } from './safe-env';

const SECTION = 'process-limits';
const summary = new Summary(SECTION, seedFor(SECTION));
t.teardown(() => summary.write(t));

const alive = (pid: number): boolean => {
  try { process.kill(pid, 0); } catch { return false; }
  // A zombie is gone for every purpose here.
  try { return !/^State:\s+Z/m.test(fs.readFileSync(`/proc/${pid}/status`, 'utf8')); } catch { return false; }
};

/** The app prints the pid of a child that left its session, then waits (or exits at once with `exitNow`). */
const DETACHING = (exitNow: boolean) => [
  'import os, sys, time',
  'r, w = os.pipe()',
  'if os.fork() == 0:',
  '    os.setsid()',
  // a daemon's second fork: the grandchild is reparented away from the app
  '    if os.fork() != 0: os._exit(0)',
  '    os.write(w, str(os.getpid()).encode()); os.close(w)',
  '    while True: time.sleep(1)',
  'os.close(w)',
  'pid = os.read(r, 32).decode()',
  'print("DETACHED", pid, flush=True)',
  exitNow ? 'sys.exit(0)' : 'time.sleep(300)',
].join('\n');

async function detachedPid(c: ApiClient, appId: string, seen: Set<number>): Promise<number> {
  const f = await c.waitFor((x) => x.type === 'console_output' && x.appId === appId && /^DETACHED \d+$/.test(String(x.output)) && !seen.has(Number(String(x.output).split(' ')[1])));
  const pid = Number(String(f.output).split(' ')[1]);
  seen.add(pid);
  return pid;
}

function trackedTests(mode: 'auto' | 'proc'): void {
  t.test(`a child that leaves the app's session ends with the app (apps.processTree ${mode})`, async (t) => {
    const agent: AgentHandle = await startAgent(t, { env: SAFE_ENV, config: { apps: { processTree: mode, stopGraceMs: 1000 } } });
    const stray: number[] = [];
    t.teardown(async () => { for (const p of stray) { try { process.kill(p, 'SIGKILL'); } catch { /* gone */ } } await agent.stop(); });
    const c = await ApiClient.connect(agent.apiUrl);
    t.teardown(() => c.close());
    const used = agent.logs.find((l) => l.msg === 'app process trees are tracked')?.mode;
    t.comment(`tracking through ${String(used)}`);
    summary.data.figures[`processTree ${mode}: mode used`] = String(used);
    const seen = new Set<number>();
    await attack(t, summary, `setsid children (processTree ${mode})`, agent, async () => {
      let held = 0;
      // 1. stop_app
      await c.request({ type: 'deploy_request', prototype: { id: 'detach', name: 'Detach', type: 'python', code: DETACHING(false), config: {} } });
      await req(c, { type: 'console_subscribe', appId: 'VEA-detach' });
      await c.request({ type: 'run_app', appId: 'VEA-detach' });
      let pid = await detachedPid(c, 'VEA-detach', seen);
      stray.push(pid);
      t.ok(alive(pid), `the detached child ${pid} runs`);
      await c.request({ type: 'stop_app', appId: 'VEA-detach' });
      if (await until(() => !alive(pid), 5000)) held++;
      t.notOk(alive(pid), 'stop_app ended the child that left the session');
      // 2. uninstall_app
      await c.request({ type: 'run_app', appId: 'VEA-detach' });
      pid = await detachedPid(c, 'VEA-detach', seen);
      stray.push(pid);
      await c.request({ type: 'uninstall_app', appId: 'VEA-detach' });
      if (await until(() => !alive(pid), 5000)) held++;
      t.notOk(alive(pid), 'uninstall_app ended it');
      // 3. the app exits by itself, its detached daemon must not stay behind
      await c.request({ type: 'deploy_request', prototype: { id: 'detach2', name: 'Detach2', type: 'python', code: DETACHING(true), config: {} } });
      await req(c, { type: 'console_subscribe', appId: 'VEA-detach2' });
      await c.request({ type: 'run_app', appId: 'VEA-detach2' });
      pid = await detachedPid(c, 'VEA-detach2', seen);
      stray.push(pid);
      await c.waitFor((f) => f.type === 'app_status' && f.appId === 'VEA-detach2' && f.status === 'stopped');
      if (await until(() => !alive(pid), 5000)) held++;
      t.notOk(alive(pid), 'the app\'s own exit ended its daemon');
      return held === 3;
    }, { probe: c });
    summary.data.crashes += caughtCrashes(agent).length;
  });
}
trackedTests('auto');
trackedTests('proc');

t.test('parallel ad-hoc runs never exceed 16 alive', async (t) => {
  const clients = count(60, 300);
  const agent = await startAgent(t, { env: SAFE_ENV, config: { api: { maxClients: clients + 10 }, apps: { adhocMaxS: 120 } } });
  const probe = await ApiClient.connect(agent.apiUrl);
  t.teardown(() => probe.close());
  const runsDir = path.join(agent.dataDir, 'runs');
  /** Runs with a live process: distinct run folders that a live process works in. */
  const aliveRuns = (): number => {
    const folders = new Set<string>();
    for (const p of fs.readdirSync('/proc')) {
      if (!/^\d+$/.test(p)) continue;
      try {
        const cwd = fs.readlinkSync(`/proc/${p}/cwd`);
        if (cwd.startsWith(runsDir + path.sep) && !/^State:\s+Z/m.test(fs.readFileSync(`/proc/${p}/status`, 'utf8'))) folders.add(cwd);
      } catch { /* gone */ }
    }
    return folders.size;
  };
  await attack(t, summary, `${clients} parallel run_python_app from ${clients} clients`, agent, async () => {
    const cs = await Promise.all(Array.from({ length: clients }, () => ApiClient.connect(agent.apiUrl)));
    t.teardown(() => { for (const c of cs) c.close(); });
    const code = 'import time\nprint("up", flush=True)\ntime.sleep(100)\n';
    for (const c of cs) c.send({ type: 'run_python_app', id: 'r', data: { code, name: 'flood' } });
    // every start answered: its first output, or an error (replaced before it began)
    // (the run's output frames carry its id as requestId; the final reply, or a refusal, as id)
    await Promise.all(cs.map((c) => c.waitFor((f) => (f.id === 'r' || f.requestId === 'r') && (f.type === 'error' || f.isDone === true || (typeof f.result === 'string' && f.result.includes('up'))), 120_000).catch(() => null)));
    // Replaced runs get SIGTERM and go within moments; what is left must be within the bound for good.
    const settled = await until(() => aliveRuns() <= 16, 15_000, 200);
    await sleep(1000);
    const n = aliveRuns();
    summary.data.figures['ad-hoc runs alive after the flood'] = n;
    t.ok(settled && n <= 16, `at most 16 runs alive after ${clients} parallel starts: ${n}`);
    return settled && n <= 16;
  }, { probe });
  summary.data.crashes += caughtCrashes(agent).length;
});
