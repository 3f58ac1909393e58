// The app supervisor through the local API of the real agent, with real python3 and sh apps.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ApiClient, eventually, getJson, sleep, startAgent, type AgentHandle } from './helpers/agent';

type F = Record<string, unknown>;

async function setup(t: { teardown(fn: () => unknown): void }, config: F = {}): Promise<{ agent: AgentHandle; c: ApiClient }> {
  const agent = await startAgent(t, { config: { apps: { stopGraceMs: 1000, ...config } } });
  const c = await ApiClient.connect(agent.apiUrl);
  t.teardown(() => c.close());
  return { agent, c };
}

async function subscribe(c: ApiClient, appId: string, since?: number): Promise<F> {
  const id = `sub-${Math.random()}`;
  c.send({ type: 'console_subscribe', id, appId, ...(since !== undefined ? { since } : {}) });
  return c.waitFor((f) => f.id === id);
}

const lines = (c: ApiClient, appId: string) => c.frames.filter((f) => f.type === 'console_output' && f.appId === appId);
const statusSeen = (c: ApiClient, appId: string, status: string, timeoutMs = 10_000) =>
  c.waitFor((f) => f.type === 'app_status' && f.appId === appId && f.status === status, timeoutMs);

/** Alive and not a zombie (a killed orphan may wait to be reaped by init in a container). */
function alive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch { return false; }
}

t.test('deploy, run: lines arrive in order with the right stream; exit 0 ends in stopped', async (t) => {
  const { c, agent } = await setup(t);
  const code = 'import sys\nfor i in range(20):\n    print(f"out {i}")\n    print(f"err {i}", file=sys.stderr)\n';
  const dep = await c.request({ type: 'deploy_request', prototype: { id: 'order', name: 'Order', type: 'python', code, config: {} } });
  t.match(dep, { type: 'deploy_request-response', appId: 'VEA-order', executionId: 'VEA-order', status: 'installed' });
  const progress = c.frames.find((f) => f.type === 'deploy_request-progress' && f.requestId === dep.id);
  t.match(progress, { appId: 'VEA-order', status: 'installing' }, 'the requester sees installing before installed');
  t.equal(progress!.id, undefined, 'the progress frame carries requestId, not the id a client takes for the reply');
  t.ok(c.frames.indexOf(progress!) < c.frames.indexOf(dep), 'and comes first');
  t.ok(c.frames.indexOf(progress!) < c.frames.indexOf(dep), 'in that order');
  t.ok(fs.existsSync(path.join(agent.dataDir, 'apps', 'VEA-order', 'main.py')), 'code stored as main.py in the app folder');
  const sub = await subscribe(c, 'VEA-order');
  t.match(sub, { type: 'console_subscribed', appId: 'VEA-order', clientId: String });
  t.match(await c.request({ type: 'run_app', appId: 'VEA-order' }), { type: 'run_app-response', appId: 'VEA-order', status: 'running' });
  const st = await statusSeen(c, 'VEA-order', 'stopped');
  t.equal(st.exitCode, 0);
  const got = lines(c, 'VEA-order');
  t.same(got.filter((f) => f.stream === 'stdout' && String(f.output).startsWith('out')).map((f) => f.output), Array.from({ length: 20 }, (_, i) => `out ${i}`));
  t.same(got.filter((f) => f.stream === 'stderr').map((f) => f.output), Array.from({ length: 20 }, (_, i) => `err ${i}`));
  t.ok(got.every((f, i) => i === 0 || (f.seq as number) === (got[i - 1]!.seq as number) + 1), 'seq increases by one per line');
  t.match(got[0], { executionId: 'VEA-order', timestamp: String });
  const out = await c.request({ type: 'app_output', appId: 'VEA-order', lines: 3 });
  t.equal((out.lines as F[]).length, 3);
  const list = await c.request({ type: 'list_deployed_apps' });
  t.match(list, { total: 1, running: 0, stopped: 1, error: 0 });
  t.match((list.apps as F[])[0], { id: 'VEA-order', name: 'Order', type: 'python', status: 'stopped', createdAt: String, exitCode: 0, restarts: 0 });
  const health = await getJson(agent.healthUrl);
  t.match(health.body.apps, { total: 1, stopped: 1 });
});

t.test('pause halts output, resume continues; stop kills a grandchild; impossible transitions are errors', async (t) => {
  const { c } = await setup(t);
  // sh app with a grandchild (a background sleep) and a ticking loop.
  const script = 'sleep 300 & echo "child $!"; i=0; while true; do i=$((i+1)); echo "tick $i"; sleep 0.05; done';
  await c.request({ type: 'deploy_request', prototype: { id: 'ticker', type: 'binary', config: { path: '/bin/sh', args: ['-c', script] } } });
  await subscribe(c, 'VEA-ticker');
  t.match(await c.request({ type: 'pause_app', appId: 'VEA-ticker' }), { type: 'error', code: 'CONFLICT' }, 'cannot pause an app that is not running');
  await c.request({ type: 'run_app', appId: 'VEA-ticker' });
  t.match(await c.request({ type: 'run_app', appId: 'VEA-ticker' }), { type: 'run_app-response', status: 'running' }, 'run of a running app: what was asked holds, not an error');
  const childLine = await c.waitFor((f) => f.type === 'console_output' && String(f.output).startsWith('child '));
  const grandchild = Number(String(childLine.output).split(' ')[1]);
  t.ok(alive(grandchild), 'grandchild runs');
  await c.waitFor((f) => f.type === 'console_output' && f.output === 'tick 5');
  t.match(await c.request({ type: 'pause_app', appId: 'VEA-ticker' }), { status: 'paused' });
  t.match(await c.request({ type: 'run_app', appId: 'VEA-ticker' }), { type: 'error', code: 'CONFLICT', error: /paused: resume_app/ }, 'run of a paused app says resume_app');
  // Lines printed just before the pause may still be on their way: wait until the output has settled, then see that
  // it stays settled (a running ticker prints every 50 ms and never settles).
  let n1 = -1;
  await eventually('the output settles', async () => { const n = lines(c, 'VEA-ticker').length; const settled = n === n1; n1 = n; return settled; }, { stepMs: 300 });
  await sleep(700);
  t.equal(lines(c, 'VEA-ticker').length, n1, 'no output while paused');
  t.match(await c.request({ type: 'resume_app', appId: 'VEA-ticker' }), { status: 'running' });
  await c.waitFor(() => lines(c, 'VEA-ticker').length >= n1 + 3);
  t.pass('output continues after resume');
  t.match(await c.request({ type: 'stop_app', appId: 'VEA-ticker' }), { type: 'stop_app-response', status: 'stopped' });
  await eventually('the grandchild gone', () => !alive(grandchild));
  t.notOk(alive(grandchild), 'grandchild killed with the group');
  t.match(await c.request({ type: 'stop_app', appId: 'VEA-ticker' }), { type: 'error', code: 'CONFLICT' });
  t.match(await c.request({ type: 'run_app', appId: 'VEA-nope' }), { type: 'error', code: 'NOT_FOUND' });
  t.match(await c.request({ type: 'uninstall_app', appId: 'VEA-ticker' }), { status: 'uninstalled' });
  t.match(await c.request({ type: 'list_deployed_apps' }), { total: 0 });
});

t.test('restart policies: never → error, on-failure restarts then crash loop → error, always restarts a clean exit', async (t) => {
  const { c } = await setup(t);
  const deploy = (id: string, code: string, config: F) => c.request({ type: 'deploy_request', prototype: { id, type: 'python', code, config } });
  await deploy('never', 'import sys\nsys.exit(3)\n', {});
  await deploy('loop', 'import sys\nprint("up")\nsys.exit(2)\n', { restartPolicy: 'on-failure', restartDelayMs: 100, maxRestarts: 2 });
  await deploy('always', 'print("once")\n', { restartPolicy: 'always', restartDelayMs: 100, maxRestarts: 1000 });
  for (const id of ['VEA-never', 'VEA-loop', 'VEA-always']) await subscribe(c, id);
  for (const id of ['VEA-never', 'VEA-loop', 'VEA-always']) await c.request({ type: 'run_app', appId: id });

  const never = await statusSeen(c, 'VEA-never', 'error');
  t.equal(never.exitCode, 3);
  t.match(never.reason, /exited with code 3/);

  const loop = await statusSeen(c, 'VEA-loop', 'error', 15_000);
  t.match(loop.reason, /crash loop/);
  t.equal(lines(c, 'VEA-loop').filter((f) => f.output === 'up').length, 3, 'first run + 2 restarts');

  await c.waitFor(() => lines(c, 'VEA-always').filter((f) => f.output === 'once').length >= 3);
  const list = await c.request({ type: 'list_deployed_apps' });
  const always = (list.apps as F[]).find((a) => a.id === 'VEA-always')!;
  t.ok((always.restarts as number) >= 2, 'always restarts after exit 0');
  t.match(await c.request({ type: 'stop_app', appId: 'VEA-always' }), { status: 'stopped' });
  const loopRec = (list.apps as F[]).find((a) => a.id === 'VEA-loop')!;
  t.equal(loopRec.status, 'error');
});

t.test('bad input: traversal, NUL, oversized code, unknown type, env names, max apps', async (t) => {
  const { c } = await setup(t, { maxCodeBytes: 4096, maxApps: 2, docker: '/nonexistent/docker' });
  const dep = (prototype: F) => c.request({ type: 'deploy_request', prototype });
  t.match(await dep({ id: '../../etc', type: 'python', code: 'x' }), { type: 'error', code: 'BAD_REQUEST', error: /prototype\.id/ });
  t.match(await dep({ id: '/abs', type: 'python', code: 'x' }), { type: 'error', code: 'BAD_REQUEST' });
  t.match(await dep({ id: 'a\u0000b', type: 'python', code: 'x' }), { type: 'error', code: 'BAD_REQUEST' });
  t.match(await dep({ id: 'big', type: 'python', code: 'x'.repeat(5000) }), { type: 'error', code: 'LIMIT', error: /maxCodeBytes/ });
  t.match(await dep({ id: 'weird', type: 'cobol', code: 'x' }), { type: 'error', code: 'BAD_REQUEST', error: /prototype\.type/ });
  t.match(await dep({ id: 'env', type: 'python', code: 'x', config: { env: { 'BAD NAME': 'x' } } }), { type: 'error', error: /config\.env/ });
  t.match(await dep({ id: 'bin', type: 'binary', config: { path: 'relative/x' } }), { type: 'error', error: /config\.path/ });
  t.match(await c.request({ type: 'run_app', appId: '../x' }), { type: 'error', code: 'BAD_REQUEST' });
  t.match(await dep({ id: 'dock', type: 'docker', config: { image: 'alpine:3' } }), { type: 'error', error: 'docker is not available on this box' });
  t.match(await dep({ id: 'my app!', type: 'python', code: 'print(1)' }), { appId: 'VEA-my-app-', status: 'installed' }, 'other characters are sanitised');
  t.match(await dep({ id: 'two', type: 'python', code: 'print(1)' }), { status: 'installed' });
  t.match(await dep({ id: 'three', type: 'python', code: 'print(1)' }), { type: 'error', code: 'LIMIT', error: /maxApps/ });
  t.match(await dep({ id: 'two', type: 'python', code: 'print(2)' }), { status: 'installed' }, 'a redeploy does not count against the cap');
});

t.test('binary from base64 code; env reaches the app; failed exec ends in error', async (t) => {
  const { c } = await setup(t);
  const exe = Buffer.from('#!/bin/sh\necho "arg=$1 kuksa=$KUKSA_DATA_BROKER_PORT addr=$SDV_VEHICLEDATABROKER_ADDRESS mine=$MY_VAR"\n').toString('base64');
  await c.request({ type: 'deploy_request', prototype: { id: 'b64', type: 'binary', code: exe, config: { args: ['x; rm -rf /'], env: { MY_VAR: 'v1' } } } });
  await subscribe(c, 'VEA-b64');
  await c.request({ type: 'run_app', appId: 'VEA-b64' });
  const line = await c.waitFor((f) => f.type === 'console_output' && String(f.output).startsWith('arg='));
  t.equal(line.output, 'arg=x; rm -rf / kuksa=55555 addr=grpc://127.0.0.1:55555 mine=v1', 'args are argv, never a shell; env as documented');
  await c.request({ type: 'deploy_request', prototype: { id: 'gone', type: 'binary', config: { path: '/nonexistent/prog' } } });
  t.match(await c.request({ type: 'run_app', appId: 'VEA-gone' }), { type: 'error', error: /does not exist/ });
  const list = await c.request({ type: 'list_deployed_apps' });
  t.match((list.apps as F[]).find((a) => a.id === 'VEA-gone'), { status: 'error' });
});

t.test('output that contains an end marker is output: forwarding goes on, the program\'s own exit code is reported', async (t) => {
  const { c } = await setup(t);
  // The marker's old fixed form, and the new form with a made-up token: neither is this run's marker.
  const code = [
    'import os, sys',
    'print("token seen" if "SDV_END_MARKER" in os.environ else "no token")',
    'sys.stdout.write("\\x1b]sdv-exit;0\\x07fake one\\n")',
    'sys.stdout.write("\\x1b]sdv-exit;0123456789abcdef01234567;0\\x07fake two\\n")',
    'sys.stdout.flush()',
    'print("after the markers")',
    'sys.exit(3)',
  ].join('\n') + '\n';
  await c.request({ type: 'deploy_request', prototype: { id: 'marker', name: 'Marker', type: 'python', code, config: {} } });
  await subscribe(c, 'VEA-marker');
  await c.request({ type: 'run_app', appId: 'VEA-marker' });
  const st = await c.waitFor((f) => f.type === 'app_status' && f.appId === 'VEA-marker' && (f.status === 'error' || f.status === 'stopped'));
  t.equal(st.exitCode, 3, 'the exit code is the program\'s, not the one in a printed marker');
  await c.waitFor((f) => f.type === 'console_output' && f.appId === 'VEA-marker' && f.output === 'after the markers');
  const out = lines(c, 'VEA-marker').map((f) => String(f.output));
  t.equal(out[0], 'no token', 'the run\'s token is not in the program\'s environment');
  t.ok(out.some((l) => l.endsWith('fake one')) && out.some((l) => l.endsWith('fake two')), `the lines after each printed marker were forwarded: ${JSON.stringify(out)}`);
});

t.test('stop is graceful: SIGTERM reaches the app itself, its handler runs and its own exit code is reported', async (t) => {
  const { c, agent } = await setup(t, { stopGraceMs: 4000 });
  // The handler takes a while (saving state), then says so on stdout and exits with a code of its own.
  const saver = 'import signal, sys, time\n'
    + 'def term(*_):\n    time.sleep(0.4)\n    open("saved.txt", "w").write("state")\n    print("saved", flush=True)\n    sys.exit(7)\n'
    + 'signal.signal(signal.SIGTERM, term)\nprint("ready", flush=True)\nwhile True:\n    time.sleep(1)\n';
  await c.request({ type: 'deploy_request', prototype: { id: 'saver', type: 'python', code: saver, config: {} } });
  await subscribe(c, 'VEA-saver');
  await c.request({ type: 'run_app', appId: 'VEA-saver' });
  await c.waitFor((f) => f.type === 'console_output' && f.appId === 'VEA-saver' && f.output === 'ready');
  const t0 = Date.now();
  const stopped = await c.request({ type: 'stop_app', appId: 'VEA-saver' });
  const took = Date.now() - t0;
  t.match(stopped, { type: 'stop_app-response', status: 'stopped', exitCode: 7 }, 'the exit code is the app\'s, not its wrapper\'s 143');
  t.ok(took >= 400, `the stop waited for the handler (${took} ms)`);
  t.equal(fs.readFileSync(path.join(agent.dataDir, 'apps', 'VEA-saver', 'saved.txt'), 'utf8'), 'state', 'the handler saved its state');
  t.ok(lines(c, 'VEA-saver').some((f) => f.output === 'saved'), 'what the handler printed reached the console');
  const st = c.frames.find((f) => f.type === 'app_status' && f.appId === 'VEA-saver' && f.status === 'stopped');
  t.match(st, { exitCode: 7, reason: 'stopped (exited with code 7)' });

  // An app without a handler dies of the SIGTERM: reported as that signal.
  await c.request({ type: 'deploy_request', prototype: { id: 'plain', type: 'binary', config: { path: '/bin/sh', args: ['-c', 'echo up; while :; do sleep 0.1; done'] } } });
  await subscribe(c, 'VEA-plain');
  await c.request({ type: 'run_app', appId: 'VEA-plain' });
  await c.waitFor((f) => f.type === 'console_output' && f.appId === 'VEA-plain' && f.output === 'up');
  t.match(await c.request({ type: 'stop_app', appId: 'VEA-plain' }), { status: 'stopped', exitCode: 143 });
  t.match(c.frames.find((f) => f.type === 'app_status' && f.appId === 'VEA-plain' && f.status === 'stopped'), { reason: 'stopped (killed by signal 15)' });

  // The agent's own stop (systemd, podman stop) gives its apps the same grace.
  fs.rmSync(path.join(agent.dataDir, 'apps', 'VEA-saver', 'saved.txt'));
  await c.request({ type: 'run_app', appId: 'VEA-saver' });
  await c.waitFor(() => lines(c, 'VEA-saver').filter((f) => f.output === 'ready').length === 2);
  t.equal(await agent.stop('SIGTERM'), 0, 'the agent exits 0');
  t.equal(fs.readFileSync(path.join(agent.dataDir, 'apps', 'VEA-saver', 'saved.txt'), 'utf8'), 'state', 'the app saved its state when the agent stopped');
});

t.test('an app that ignores SIGTERM is killed with its group after apps.stopGraceMs, reported as SIGKILL', async (t) => {
  const { c } = await setup(t, { stopGraceMs: 1500 });
  const stubborn = 'import signal, subprocess, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n'
    + 'child = subprocess.Popen(["sleep", "300"])\nprint("child", child.pid, flush=True)\nwhile True:\n    time.sleep(1)\n';
  await c.request({ type: 'deploy_request', prototype: { id: 'stubborn', type: 'python', code: stubborn, config: {} } });
  await subscribe(c, 'VEA-stubborn');
  await c.request({ type: 'run_app', appId: 'VEA-stubborn' });
  const childLine = await c.waitFor((f) => f.type === 'console_output' && f.appId === 'VEA-stubborn' && String(f.output).startsWith('child '));
  const grandchild = Number(String(childLine.output).split(' ')[1]);
  t.ok(alive(grandchild), 'the app\'s child runs');
  const t0 = Date.now();
  const stopped = await c.request({ type: 'stop_app', appId: 'VEA-stubborn' });
  const took = Date.now() - t0;
  t.match(stopped, { status: 'stopped', exitCode: 137 });
  t.ok(took >= 1500, `the grace was waited out (${took} ms)`);
  t.match(c.frames.find((f) => f.type === 'app_status' && f.appId === 'VEA-stubborn' && f.status === 'stopped'), { reason: 'stopped (killed by signal 9)' });
  await eventually('the app\'s child gone', () => !alive(grandchild));
  t.notOk(alive(grandchild), 'the app\'s child went with the group');
});
