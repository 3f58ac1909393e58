// Section "app-limits" — user code that tries to take the box's memory or process table, under apps.limits
// {memoryMB: 128, pids: 64} (src/apps/limits/): against the real kernel, through whatever the box has (cgroup v2
// controllers, cgroup v1 hierarchies, else rlimits; the mechanism used is a figure):
//   - an ad-hoc run allocating 1 GB ends, its output naming the memory limit;
//   - an ad-hoc run forking 2 000 children never has 64 processes alive at once, and is told so;
//   - a deployed app with config.limits.memoryMB 64 killed by it: its status and console name the limit and value;
// the agent's ping and /health answered throughout (attack()); the ping's slowest round trip is a figure.
import t, { type Test } from 'tap';
import { ApiClient, startAgent, type AgentHandle } from '../helpers/agent';
import { Summary, attack, seedFor } from './lib';
import { SAFE_ENV } from './safe-env';

const SECTION = 'app-limits';
const summary = new Summary(SECTION, seedFor(SECTION));
t.teardown(() => summary.write(t));

type F = Record<string, unknown>;

/** 1 GiB in 16 MiB blocks, each written (a zero-filled block may not be backed by memory at all). */
const ALLOCATE = [
  'blocks = []',
  'for i in range(64):',
  '    blocks.append(b"\\x01" * (16 << 20))',
  '    print("allocated", (i + 1) * 16, "MiB", flush=True)',
  'print("ALLOCATED 1 GiB", flush=True)',
].join('\n');

/** 2 000 forks, each child waiting to be told to go; the most alive at once is printed, then they all go. */
const FORKS = [
  'import os, sys, time',
  'r, w = os.pipe()',
  'kids, refused = [], 0',
  'for i in range(2000):',
  '    try:',
  '        pid = os.fork()',
  '    except OSError:',
  '        refused += 1',
  '        continue',
  '    if pid == 0:',
  '        os.close(w)',
  '        os.read(r, 1)',
  '        os._exit(0)',
  '    kids.append(pid)',
  'print("ALIVE", len(kids), "REFUSED", refused, flush=True)',
  'os.close(w)',
  'for k in kids: os.waitpid(k, 0)',
].join('\n');

async function limitedAgent(t: Test): Promise<{ agent: AgentHandle; c: ApiClient }> {
  const agent = await startAgent(t, { env: SAFE_ENV, config: { apps: { limits: { memoryMB: 128, pids: 64, cpuPercent: 0 }, stopGraceMs: 1000 } } });
  const c = await ApiClient.connect(agent.apiUrl);
  t.teardown(() => c.close());
  const how = agent.logs.find((l) => l.msg === 'app limits')?.enforcement as Record<string, string> | undefined;
  summary.data.figures['enforced through (memory, pids)'] = `${how?.memoryMB}, ${how?.pids}`;
  t.comment(`limits enforced through ${JSON.stringify(how)}`);
  return { agent, c };
}

const output = (c: ApiClient, id: string): string => c.frames.filter((f) => f.requestId === id && f.isDone === false).map((f) => String(f.result ?? '')).join('');

t.test('an ad-hoc run allocating 1 GB ends on the memory limit; one forking 2 000 children stays under 64', async (t) => {
  const { agent, c } = await limitedAgent(t);
  await attack(t, summary, 'run allocating 1 GB under memoryMB 128', agent, async () => {
    c.send({ type: 'run_python_app', id: 'mem', data: { code: ALLOCATE, name: 'Hog' } });
    const done: F = await c.waitFor((f) => f.id === 'mem' && f.isDone === true);
    const out = output(c, 'mem');
    t.notMatch(out, /ALLOCATED 1 GiB/, 'the run never got 1 GiB');
    t.not(done.code, 0, `it ended with a failure (code ${String(done.code)})`);
    t.match(out, /the memory limit \(128 MiB\)/, 'its output names the memory limit and its value');
    return !/ALLOCATED 1 GiB/.test(out) && /the memory limit \(128 MiB\)/.test(out);
  });
  await attack(t, summary, 'run forking 2 000 children under pids 64', agent, async () => {
    c.send({ type: 'run_python_app', id: 'fork', data: { code: FORKS, name: 'Forks' } });
    const done: F = await c.waitFor((f) => f.id === 'fork' && f.isDone === true);
    const out = output(c, 'fork');
    const m = /ALIVE (\d+) REFUSED (\d+)/.exec(out);
    t.ok(m, 'the run said how many children it had');
    const alive = Number(m?.[1] ?? 9999);
    summary.data.figures['forks: children alive at once (of 2 000 asked)'] = alive;
    t.ok(alive + 1 < 64, `${alive} children + the run itself: under 64 processes`);
    t.ok(Number(m?.[2]) > 0, 'the other forks were refused');
    t.match(out, /the process limit \(64 processes and threads\) was reached/, 'its output names the process limit and its value');
    t.equal(done.code, 0, 'the run itself carried on and ended by itself');
    return alive + 1 < 64;
  });
});

t.test('a deployed app killed by its own memory limit: status and console name the limit and its value', async (t) => {
  const { agent, c } = await limitedAgent(t);
  await attack(t, summary, 'app allocating 1 GB under config.limits.memoryMB 64', agent, async () => {
    const dep = await c.request({ type: 'deploy_request', prototype: { id: 'hog', name: 'Hog', type: 'python', code: ALLOCATE, config: { limits: { memoryMB: 64 } } } });
    t.match(dep, { status: 'installed' });
    const refused = await c.request({ type: 'deploy_request', prototype: { id: 'big', name: 'Big', type: 'python', code: 'pass', config: { limits: { memoryMB: 1024 } } } });
    t.match(refused, { type: 'error', code: 'BAD_REQUEST', error: /^config\.limits\.memoryMB: at most 128 MiB/ }, 'above the box\'s limit: refused, the field named');
    c.send({ type: 'console_subscribe', id: 'sub', appId: 'VEA-hog' });
    await c.waitFor((f) => f.id === 'sub' && f.type === 'console_subscribed');
    await c.request({ type: 'run_app', appId: 'VEA-hog' });
    const st: F = await c.waitFor((f) => f.type === 'app_status' && f.appId === 'VEA-hog' && f.status === 'error');
    t.match(st.reason, /killed by the memory limit \(64 MiB\)/, 'its status says which limit and its value');
    const line = await c.waitFor((f) => f.type === 'console_output' && f.appId === 'VEA-hog' && /\[sdv-agent\].*memory limit \(64 MiB\)/.test(String(f.output)));
    t.ok(line, 'and so does its console');
    const list = await c.request({ type: 'list_deployed_apps' });
    const app = (list.apps as F[]).find((a) => a.id === 'VEA-hog');
    t.match(app, { limits: { memoryMB: 64, pids: 64 } });
    t.ok(Number(app?.limitKills) >= 1, 'the kill is counted');
    return /memory limit \(64 MiB\)/.test(String(st.reason));
  });
});
