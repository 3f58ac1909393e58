// The local WebSocket API of the running agent: the seed's error shape, ping, get_runtime_info, limits, shutdown.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import WebSocket from 'ws';
import { ApiClient, getJson, startAgent } from './helpers/agent';

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const CAPS = ['python_app_execution', 'binary_app_execution', 'console_output', 'app_status_monitoring', 'vehicle_signals', 'vss_management', 'signal_subscription'];

t.test('local API', async (t) => {
  const agent = await startAgent(t, { config: { api: { maxPayloadBytes: 64 * 1024 } } });
  const c = await ApiClient.connect(agent.apiUrl);
  t.teardown(() => c.close());

  t.test('ping', async (t) => {
    const r = await c.request({ type: 'ping', id: 'p1' });
    t.same(Object.keys(r).sort(), ['id', 'timestamp', 'type']);
    t.equal(r.type, 'pong');
    t.equal(r.id, 'p1');
    t.match(r.timestamp, ISO);
    const n = await c.request({ type: 'ping', id: 42 });
    t.equal(n.id, 42, 'numeric ids are echoed');
  });

  t.test('get_runtime_info', async (t) => {
    const r = await c.request({ type: 'get_runtime_info', id: 'i1' });
    t.equal(r.type, 'get_runtime_info-response');
    t.equal(r.id, 'i1');
    t.match(r.runtimeId, /^[0-9a-f-]{36}$/);
    t.equal(r.kitId, 'RunTime-TestBox');
    t.match(r.version, /^\d+\.\d+\.\d+/);
    t.same(r.capabilities, CAPS);
    t.type(r.uptimeS, 'number');
  });

  t.test('unknown type → the seed error shape with the id', async (t) => {
    const r = await c.request({ type: 'make_coffee', id: 'u1' });
    t.same(Object.keys(r).sort(), ['code', 'error', 'id', 'timestamp', 'type']);
    t.equal(r.type, 'error');
    t.equal(r.id, 'u1');
    t.match(r.error, /unknown type "make_coffee"/);
    t.match(r.timestamp, ISO);
  });

  t.test('frames that are not a request → error with id null', async (t) => {
    for (const bad of ['{not json', '[1,2,3]', '"str"', '42', 'null', '{"id":"x"}', '{"type":5,"id":"y"}']) {
      const before = c.frames.length;
      c.send(bad);
      const r = await c.waitFor((f) => c.frames.indexOf(f) >= before && f.type === 'error');
      t.equal(r.type, 'error', bad);
      if (bad.startsWith('{"id"') || bad.startsWith('{"type":5')) t.equal(r.id, bad.includes('"x"') ? 'x' : 'y', 'an object with an id keeps it');
      else t.equal(r.id, null, `${bad}: id null`);
    }
    const ok = await c.request({ type: 'ping' });
    t.equal(ok.type, 'pong', 'still answering');
  });

  t.test('an id of the wrong type is answered with id null', async (t) => {
    const before = c.frames.length;
    c.send({ type: 'ping', id: { x: 1 } });
    const r = await c.waitFor((f) => c.frames.indexOf(f) >= before && f.type === 'pong');
    t.equal(r.id, null);
  });

  t.test('an oversized frame closes with 1009; the agent keeps serving others', async (t) => {
    const big = await ApiClient.connect(agent.apiUrl);
    big.send({ type: 'ping', id: 'big', pad: 'x'.repeat(70 * 1024) });
    t.equal(await big.closed(), 1009);
    const r = await c.request({ type: 'ping' });
    t.equal(r.type, 'pong');
  });

  t.test('only the API path upgrades', async (t) => {
    const ws = new WebSocket(agent.apiUrl.replace('/runtime', '/other'));
    const err = await new Promise<Error>((resolve) => ws.once('error', resolve));
    t.match(err.message, /404/);
  });

  t.test('binary frames are refused with an error', async (t) => {
    const before = c.frames.length;
    c.ws.send(Buffer.from([1, 2, 3]));
    const r = await c.waitFor((f) => c.frames.indexOf(f) >= before && f.type === 'error');
    t.match(r.error, /binary frames/);
  });
});

t.test('runtimeId is kept across restarts; SIGTERM closes clients with 1001 and exits 0', async (t) => {
  const agent = await startAgent(t);
  const c = await ApiClient.connect(agent.apiUrl);
  const first = (await c.request({ type: 'get_runtime_info' })).runtimeId;
  const code = await agent.stop('SIGTERM');
  t.equal(code, 0, 'exit 0');
  t.equal(await c.closed(), 1001, 'clients closed with 1001');
  const again = await startAgent(t, { dataDir: agent.dataDir });
  const h = await getJson(again.healthUrl);
  t.equal(h.body.runtimeId, first, 'same runtimeId');
  const mode = fs.statSync(agent.dataDir).mode & 0o777;
  t.equal(mode & 0o007, 0, 'dataDir is not world-accessible');
  t.ok(fs.existsSync(path.join(agent.dataDir, 'runtime-id')));
});

t.test('maxClients: the next client is closed with 1013', async (t) => {
  const agent = await startAgent(t, { config: { api: { maxClients: 2 } } });
  const a = await ApiClient.connect(agent.apiUrl);
  const b = await ApiClient.connect(agent.apiUrl);
  const c = await ApiClient.connect(agent.apiUrl);
  t.equal(await c.closed(), 1013);
  t.equal((await a.request({ type: 'ping' })).type, 'pong');
  a.close(); b.close();
});
