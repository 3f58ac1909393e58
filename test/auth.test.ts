// api.token: header or first-frame auth, 4001 when no auth in time, 4002 for a wrong token, no data before auth.
import t from 'tap';
import { ApiClient, startAgent } from './helpers/agent';

t.test('token auth', async (t) => {
  const agent = await startAgent(t, { config: { api: { token: 'let-me-in' } } });

  t.test('Authorization: Bearer on the upgrade', async (t) => {
    const c = await ApiClient.connect(agent.apiUrl, { authorization: 'Bearer let-me-in' });
    t.equal((await c.request({ type: 'ping' })).type, 'pong');
    c.close();
  });

  t.test('wrong header → 4002', async (t) => {
    const c = await ApiClient.connect(agent.apiUrl, { authorization: 'Bearer nope' });
    t.equal(await c.closed(), 4002);
    t.equal(c.frames.length, 0, 'no data');
  });

  t.test('first frame auth', async (t) => {
    const c = await ApiClient.connect(agent.apiUrl);
    c.send({ type: 'auth', id: 'a1', token: 'let-me-in' });
    const ok = await c.waitFor((f) => f.type === 'auth-response');
    t.equal(ok.authenticated, true);
    t.equal(ok.id, 'a1');
    t.equal((await c.request({ type: 'get_runtime_info' })).type, 'get_runtime_info-response');
    c.close();
  });

  t.test('wrong first-frame token → 4002, no data', async (t) => {
    const c = await ApiClient.connect(agent.apiUrl);
    c.send({ type: 'auth', token: 'let-me-inX' });
    t.equal(await c.closed(), 4002);
    t.equal(c.frames.length, 0);
  });

  t.test('a request before auth → 4001, no data', async (t) => {
    const c = await ApiClient.connect(agent.apiUrl);
    c.send({ type: 'get_runtime_info', id: 'sneaky' });
    t.equal(await c.closed(), 4001);
    t.equal(c.frames.length, 0);
  });

  t.test('no auth within 5 s → 4001', async (t) => {
    const t0 = Date.now();
    const c = await ApiClient.connect(agent.apiUrl);
    t.equal(await c.closed(), 4001);
    t.ok(Date.now() - t0 >= 4000, 'after the deadline, not before');
  });
});
