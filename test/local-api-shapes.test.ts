// The local API shapes other clients of the seed's origin project use, beside the seed's own (which keep working):
// the flat deploy form, report_runtime_state, `applications`, runtime info under `result`, interim frames that never
// carry the request's id, executionId in the deploy reply, exact status counters, and a console subscription made
// before the app is deployed.
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
    // The flat form: code and name at the top level, the app's id as appId.
    const dep = await c.request({ type: 'deploy_request', appId: 'early', name: 'Early', code: 'for i in range(3):\n    print(f"line {i}")\n' });
    t.match(dep, { type: 'deploy_request-response', appId: 'VEA-early', executionId: 'VEA-early', status: 'installed', name: 'Early' },
      'the first frame with the request id is the reply, with executionId');
    await c.request({ type: 'run_app', appId: 'VEA-early' });
    await c.waitFor((f) => f.type === 'console_output' && f.appId === 'VEA-early' && f.output === 'line 2');
    const lines = c.frames.filter((f) => f.type === 'console_output' && f.appId === 'VEA-early').map((f) => f.output);
    t.same(lines, ['line 0', 'line 1', 'line 2'], 'every line from the first, once');
    const un = await c.request({ type: 'console_unsubscribe', appId: 'VEA-later' });
    t.match(un, { type: 'console_unsubscribe-response', unsubscribed: false }, 'unsubscribing from an app not deployed is not an error');
  });

  t.test('deploy: the flat form, progress with requestId, executionId; the prototype form unchanged', async (t) => {
    const flat = await c.request({ type: 'deploy_request', name: 'Flat App', code: 'print(1)\n' });
    t.match(flat, { type: 'deploy_request-response', appId: 'VEA-Flat-App', executionId: 'VEA-Flat-App', appType: 'python' }, 'id from the name when none is given');
    const progress = c.frames.filter((f) => f.type === 'deploy_request-progress' && f.requestId === flat.id);
    t.equal(progress.length, 1, 'progress came, under requestId');
    t.equal(progress[0]!.id, undefined, 'never under id');
    const seed = await c.request({ type: 'deploy_request', prototype: { id: 'my-app', name: 'My App', type: 'python', code: 'print(2)\n', config: {} }, vehicle_id: 'default-vehicle' });
    t.match(seed, { type: 'deploy_request-response', appId: 'VEA-my-app', status: 'installed', name: 'My App', appType: 'python' }, 'the seed\'s form as before');
    const none = await c.request({ type: 'deploy_request', code: 'print(3)\n' });
    t.match(none, { type: 'error', code: 'BAD_REQUEST' });
    t.match(String(none.error), /flat form/);
  });

  t.test('list_deployed_apps: applications beside apps; each status counted exactly', async (t) => {
    const r = await c.request({ type: 'list_deployed_apps' });
    t.same(r.applications, r.apps, 'the same list under both names');
    const apps = r.apps as Rec[];
    const by = (s: string) => apps.filter((a) => a.status === s).length;
    t.equal(r.total, apps.length);
    for (const s of ['installed', 'running', 'stopped', 'error', 'paused', 'starting', 'installing', 'uninstalling']) t.equal(r[s], by(s), `${s}: ${r[s]}`);
    t.ok((r.installed as number) >= 2, 'installed apps are counted as installed');
    t.equal(r.stopped, by('stopped'), 'and not as stopped');
  });

  t.test('get_runtime_info at the top level and under result; report_runtime_state', async (t) => {
    const info = await c.request({ type: 'get_runtime_info' });
    t.equal(info.kitId, 'RunTime-TestBox');
    t.match(info.result, { kitId: 'RunTime-TestBox', runtimeId: info.runtimeId, version: info.version });
    const state = await c.request({ type: 'report_runtime_state' });
    t.equal(state.type, 'report_runtime_state-response');
    t.match(state, { noOfRunner: 0, noOfApiSubscriber: 0, lsOfRunner: [], kitId: 'RunTime-TestBox' });
    t.match(state.result, { noOfRunner: 0, lsOfRunner: [] });
  });
});

t.test('through the Kit-Manager by type: interim frames carry requestId too', async (t) => {
  const { fe } = await agentBehindKitManager(t, 'TypeBox');
  const r = await fe.command('RunTime-TypeBox', { type: 'deploy_request', id: 'd1', name: 'Via', code: 'print(1)\n' }, (x) => x.id === 'd1');
  t.match(r, { type: 'deploy_request-response', appId: 'VEA-Via', executionId: 'VEA-Via' }, 'the first frame with the id is the reply');
  t.ok(fe.replies.some((x) => x.type === 'deploy_request-progress' && x.requestId === 'd1' && x.id === undefined), 'the progress frame under requestId');
});
