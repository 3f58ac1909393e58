// The local API shapes other clients of the seed's origin project (tri2510/vehicle-edge-runtime, its tests/integration,
// tests/e2e and tests/docker/integration suites) use, beside the seed's own (which keep working): the one-step deploy
// (code at the top level: installed and started, `started`/`failed`, code that does not compile refused), apps named
// by their prototype id, get_app_status, run_app of a running app, lifecycle replies under `result`,
// report_runtime_state's reply, `applications`, runtime info under `result`, interim frames that never carry the
// request's id, executionId in the deploy reply, exact status counters, and a console subscription made before the
// app is deployed.
import t from 'tap';
import { ApiClient, startAgent } from './helpers/agent';
import { agentBehindKitManager } from './helpers/kit-manager';

type Rec = Record<string, unknown>;

t.test('local API: the shapes other clients use', async (t) => {
  const agent = await startAgent(t);
  const c = await ApiClient.connect(agent.apiUrl);
  t.teardown(() => c.close());

  t.test('a console subscription before the deploy delivers from the first line', async (t) => {
    c.send({ type: 'console_subscribe', id: 'early-sub', appId: 'VEA-early' });
    const sub = await c.waitFor((f) => f.id === 'early-sub');
    t.match(sub, { type: 'console_subscribed', appId: 'VEA-early', status: 'not_deployed' }, 'accepted, not NOT_FOUND');
    // The flat form: code and name at the top level, the app's id as appId: installed and started in one step.
    const dep = await c.request({ type: 'deploy_request', appId: 'early', name: 'Early', code: 'for i in range(3):\n    print(f"line {i}")\n' });
    t.match(dep, { type: 'deploy_request-response', appId: 'VEA-early', executionId: 'VEA-early', status: 'started', name: 'Early' },
      'the first frame with the request id is the reply, with executionId');
    await c.waitFor((f) => f.type === 'console_output' && f.appId === 'VEA-early' && f.output === 'line 2');
    const lines = c.frames.filter((f) => f.type === 'console_output' && f.appId === 'VEA-early').map((f) => f.output);
    t.same(lines, ['line 0', 'line 1', 'line 2'], 'every line from the first, once');
    const un = await c.request({ type: 'console_unsubscribe', appId: 'VEA-later' });
    t.match(un, { type: 'console_unsubscribe-response', unsubscribed: false }, 'unsubscribing from an app not deployed is not an error');
  });

  t.test('deploy: the flat form, progress with requestId, executionId; the prototype form unchanged', async (t) => {
    const flat = await c.request({ type: 'deploy_request', name: 'Flat App', code: 'print(1)\n' });
    t.match(flat, { type: 'deploy_request-response', appId: 'VEA-Flat-App', executionId: 'VEA-Flat-App', appType: 'python', status: 'started' }, 'id from the name when none is given');
    t.match(flat.appStatus, /^(starting|running|stopped)$/, 'and the app\'s own status beside it');
    const progress = c.frames.filter((f) => f.type === 'deploy_request-progress' && f.requestId === flat.id);
    t.equal(progress.length, 1, 'progress came, under requestId');
    t.equal(progress[0]!.id, undefined, 'never under id');
    const seed = await c.request({ type: 'deploy_request', prototype: { id: 'my-app', name: 'My App', type: 'python', code: 'print(2)\n', config: {} }, vehicle_id: 'default-vehicle' });
    t.match(seed, { type: 'deploy_request-response', appId: 'VEA-my-app', status: 'installed', name: 'My App', appType: 'python' }, 'the seed\'s form installs, as before');
    const unnamed = await c.request({ type: 'deploy_request', code: 'print(3)\n', language: 'python' });
    t.match(unnamed, { type: 'deploy_request-response', status: 'started', appId: /^VEA-app-[0-9a-f]{8}$/ }, 'named nowhere: named after its code');
    const again = await c.request({ type: 'deploy_request', code: 'print(3)\n' });
    t.equal(again.appId, unnamed.appId, 'the same code is the same app, replaced');
    t.match(await c.request({ type: 'deploy_request', code: 'print(3)\n', language: 'cpp' }), { type: 'error', code: 'BAD_REQUEST', error: /language/ });
  });

  t.test('one step: code beside a prototype {id, name} starts; code that does not compile is refused, nothing installed', async (t) => {
    const dep = await c.request({ type: 'deploy_request', language: 'python', prototype: { id: 'beside', name: 'Beside' }, code: 'import time\nprint("up", flush=True)\ntime.sleep(300)\n' });
    t.match(dep, { type: 'deploy_request-response', appId: 'VEA-beside', status: 'started', result: /deployed and started/ });
    // The app runs when the reply comes and may have printed already: the subscription replays from the first line.
    c.send({ type: 'console_subscribe', id: 'sub-beside', appId: 'VEA-beside', since: 0 });
    await c.waitFor((f) => f.type === 'console_output' && f.appId === 'VEA-beside' && f.output === 'up');
    const bad = await c.request({ type: 'deploy_request', name: 'Broken', code: 'print("Unclosed string' });
    t.match(bad, { type: 'error', code: 'BAD_REQUEST', error: /SyntaxError.*line 1.*nothing was installed/ }, 'the compiler\'s line');
    const list = await c.request({ type: 'list_deployed_apps' });
    t.notOk((list.apps as Rec[]).some((a) => a.id === 'VEA-Broken'), 'not installed');
  });

  t.test('apps named by their prototype id; get_app_status; run of a running app; replies under result', async (t) => {
    const st = await c.request({ type: 'get_app_status', appId: 'beside' });
    t.match(st, { type: 'get_app_status-response', appId: 'VEA-beside', status: 'running', appType: 'python', result: { id: 'VEA-beside', status: 'running' } });
    t.match(await c.request({ type: 'get_app_status', appId: 'nope' }), { type: 'error', code: 'NOT_FOUND' });
    t.match(await c.request({ type: 'run_app', appId: 'beside' }), { type: 'run_app-response', appId: 'VEA-beside', status: 'running' }, 'already running: not an error');
    const stop = await c.request({ type: 'stop_app', appId: 'beside' });
    t.match(stop, { type: 'stop_app-response', appId: 'VEA-beside', status: 'stopped', result: { appId: 'VEA-beside', status: 'stopped' } });
    t.match(await c.request({ type: 'uninstall_app', appId: 'beside' }), { type: 'uninstall_app-response', result: { status: 'uninstalled' } });
    t.match(await c.request({ type: 'stop_app', appId: 'beside' }), { type: 'error', code: 'NOT_FOUND' }, 'gone is gone');
  });

  t.test('list_deployed_apps: applications beside apps; each status counted exactly', async (t) => {
    const r = await c.request({ type: 'list_deployed_apps' });
    t.same(r.applications, r.apps, 'the same list under both names');
    const apps = r.apps as Rec[];
    const by = (s: string) => apps.filter((a) => a.status === s).length;
    t.equal(r.total, apps.length);
    for (const s of ['installed', 'running', 'stopped', 'error', 'paused', 'starting', 'installing', 'uninstalling']) t.equal(r[s], by(s), `${s}: ${r[s]}`);
    t.ok((r.installed as number) >= 1, 'installed apps (the seed form\'s my-app) are counted as installed');
    t.equal(r.stopped, by('stopped'), 'and not as stopped');
  });

  t.test('get_runtime_info at the top level and under result; report_runtime_state', async (t) => {
    const info = await c.request({ type: 'get_runtime_info' });
    t.equal(info.kitId, 'RunTime-TestBox');
    t.match(info.result, { kitId: 'RunTime-TestBox', runtimeId: info.runtimeId, version: info.version });
    c.send({ type: 'report_runtime_state', id: 'state-1' });
    const state = await c.waitFor((f) => f.id === 'state-1');
    t.equal(state.type, 'runtime_state_response', 'the reply type the origin project\'s clients wait for');
    t.match(state, { noOfRunner: 0, noOfApiSubscriber: 0, lsOfRunner: [], kitId: 'RunTime-TestBox' });
    t.match(state.result, { activeConnections: 1, activeDeployments: Number, timestamp: String }, 'this client is the one connected');
    t.match(state.result, { noOfRunner: 0, lsOfRunner: [] });
  });
});

t.test('through the Kit-Manager by type: interim frames carry requestId too', async (t) => {
  const { fe } = await agentBehindKitManager(t, 'TypeBox');
  const r = await fe.command('RunTime-TypeBox', { type: 'deploy_request', id: 'd1', name: 'Via', code: 'print(1)\n' }, (x) => x.id === 'd1');
  t.match(r, { type: 'deploy_request-response', appId: 'VEA-Via', executionId: 'VEA-Via', status: 'started' }, 'the first frame with the id is the reply');
  t.ok(fe.replies.some((x) => x.type === 'deploy_request-progress' && x.requestId === 'd1' && x.id === undefined), 'the progress frame under requestId');
});
