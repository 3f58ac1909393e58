// Start order (config.dependsOn, src/apps/start-order.ts, start-gate.ts) on real apps through the local API: B with
// dependsOn [A] waits, visibly, while A is stopped and runs once A runs; unknown ids and cycles are refused at deploy;
// an agent restarted on the same dataDir restores A before B.
import t from 'tap';
import { ApiClient, startAgent } from './helpers/agent';

type F = Record<string, unknown>;

/** app_status frames reach the app's console subscribers. */
async function subscribe(c: ApiClient, appId: string): Promise<void> {
  c.send({ type: 'console_subscribe', id: `sub-${appId}`, appId });
  await c.waitFor((f) => f.id === `sub-${appId}` && f.type === 'console_subscribed');
}
const FOREVER = 'import time\nprint("up", flush=True)\nwhile True: time.sleep(1)\n';

t.test('B with dependsOn [A] waits while A is stopped and runs once A runs; a restart restores A first', async (t) => {
  const agent = await startAgent(t, { config: { apps: { stopGraceMs: 500 } } });
  const c = await ApiClient.connect(agent.apiUrl);
  t.teardown(() => c.close());
  const deploy = (id: string, config: F) => c.request({ type: 'deploy_request', prototype: { id, name: id, type: 'python', code: FOREVER, config } });
  t.match(await deploy('A', {}), { status: 'installed' });
  t.match(await deploy('B', { dependsOn: ['A'] }), { status: 'installed' });
  t.match(await deploy('C', { dependsOn: ['nope'] }), { type: 'error', code: 'BAD_REQUEST', error: /^config\.dependsOn: no app VEA-nope is deployed/ }, 'an unknown id is refused, the field named');
  t.match(await deploy('A', { dependsOn: { B: 'running' } }), { type: 'error', code: 'BAD_REQUEST', error: /^config\.dependsOn: a dependency cycle VEA-A → VEA-B → VEA-A/ }, 'a cycle is refused');
  t.match(await deploy('D', { dependsOn: { A: 'healthy' } }), { type: 'error', code: 'BAD_REQUEST', error: /^config\.dependsOn\.A: expected the condition running or succeeded/ });

  await subscribe(c, 'VEA-A');
  await subscribe(c, 'VEA-B');
  const run = await c.request({ type: 'run_app', appId: 'VEA-B' });
  t.match(run, { type: 'run_app-response', status: 'waiting' }, 'B, asked to run, waits');
  const listed = (await c.request({ type: 'list_deployed_apps' })).apps as F[];
  t.match(listed.find((a) => a.id === 'VEA-B'), { status: 'waiting', reason: 'waiting for VEA-A to be running (it is installed)', dependsOn: { 'VEA-A': 'running' } }, 'visibly, saying what for');
  await c.request({ type: 'run_app', appId: 'VEA-A' });
  const aUp: F = await c.waitFor((f) => f.type === 'app_status' && f.appId === 'VEA-A' && f.status === 'running');
  const bUp: F = await c.waitFor((f) => f.type === 'app_status' && f.appId === 'VEA-B' && f.status === 'running');
  t.comment(`B ran ${Date.parse(String(bUp.timestamp)) - Date.parse(String(aUp.timestamp))} ms after A did`);

  // restore after a restart: A first, then B (both meant to run)
  await agent.stop();
  const again = await startAgent(t, { dataDir: agent.dataDir, config: { apps: { stopGraceMs: 500 } } });
  const restored = again.logs.filter((l) => l.msg === 'app started').map((l) => l.appId);
  await again.waitLog((l) => l.msg === 'app started' && l.appId === 'VEA-B');
  const order = again.logs.filter((l) => l.msg === 'app started').map((l) => l.appId);
  t.same(order.slice(0, 2), ['VEA-A', 'VEA-B'], `restored in order (${restored.length} started at ready)`);
});

t.test('condition succeeded: B starts once A ran to a clean exit', async (t) => {
  const agent = await startAgent(t, { config: { apps: { stopGraceMs: 500 } } });
  const c = await ApiClient.connect(agent.apiUrl);
  t.teardown(() => c.close());
  await c.request({ type: 'deploy_request', prototype: { id: 'init', name: 'init', type: 'python', code: 'import time\ntime.sleep(0.5)\n', config: {} } });
  await c.request({ type: 'deploy_request', prototype: { id: 'main', name: 'main', type: 'python', code: FOREVER, config: { dependsOn: { init: 'succeeded' } } } });
  await subscribe(c, 'VEA-init');
  await subscribe(c, 'VEA-main');
  t.match(await c.request({ type: 'run_app', appId: 'VEA-main' }), { status: 'waiting' });
  await c.request({ type: 'run_app', appId: 'VEA-init' });
  const st: F = await c.waitFor((f) => f.type === 'app_status' && f.appId === 'VEA-main' && f.status === 'running');
  const initDone = c.frames.find((f) => f.type === 'app_status' && f.appId === 'VEA-init' && f.status === 'stopped');
  t.ok(initDone && c.frames.indexOf(initDone) < c.frames.indexOf(st), 'main ran after init stopped with code 0');
  await c.request({ type: 'stop_app', appId: 'VEA-main' });
});
