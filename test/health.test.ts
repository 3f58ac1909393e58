// GET /health on the running agent.
import t from 'tap';
import { getJson, startAgent } from './helpers/agent';

t.test('health fields (seed 000 plus the agent\'s own)', async (t) => {
  const agent = await startAgent(t);
  const { status, body } = await getJson(agent.healthUrl);
  t.equal(status, 200);
  for (const k of ['status', 'runtimeId', 'kitManagerConnected', 'timestamp', 'version', 'uptimeS', 'kuksaConnected', 'apps']) t.ok(k in body, k);
  t.equal(body.status, 'healthy');
  t.equal(body.kitManagerConnected, false);
  t.match(body.runtimeId, /^[0-9a-f-]{36}$/);
  t.match(body.apps, { total: Number, running: Number });
  const res = await fetch(agent.healthUrl.replace('/health', '/nope'));
  t.equal(res.status, 404);
  const post = await fetch(agent.healthUrl, { method: 'POST' });
  t.equal(post.status, 405);
});

t.test('degraded (still 200) when a configured Kit-Manager is unreachable', async (t) => {
  const agent = await startAgent(t, { config: { kitManager: { url: 'http://127.0.0.1:9', reconnect: { minMs: 100, maxMs: 500 } } } });
  const { status, body } = await getJson(agent.healthUrl);
  t.equal(status, 200);
  t.equal(body.status, 'degraded');
  t.equal(body.kitManagerConnected, false);
  t.equal(body.kitManagerConfigured, true);
});

t.test('/health answers as soon as the agent says it is ready', async (t) => {
  const t0 = Date.now();
  const agent = await startAgent(t);
  const { status } = await getJson(agent.healthUrl);
  t.equal(status, 200);
  t.comment(`spawn → /health 200: ${Date.now() - t0} ms`);
});
