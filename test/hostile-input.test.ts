// Hostile input on the local API: garbage, wrong shapes, a burst; afterwards ping works and memory has not run away.
import t from 'tap';
import * as crypto from 'node:crypto';
import { ApiClient, eventually, startAgent } from './helpers/agent';

t.test('hostile input', async (t) => {
  const agent = await startAgent(t);
  const c = await ApiClient.connect(agent.apiUrl);
  t.teardown(() => c.close());
  const rss0 = (await c.request({ type: 'get_runtime_info' })).rssBytes as number;

  const garbage: unknown[] = [];
  for (let i = 0; i < 200; i++) garbage.push(crypto.randomBytes(1 + (i % 50)).toString('latin1'));
  garbage.push('[]', '[{"type":"ping"}]', '{"type":null}', '{"type":{}}', '{"type":["ping"]}', '{"__proto__":{"type":"ping"}}',
    '{"type":"ping","id":"' + 'x'.repeat(1000) + '"}', '{"type":"get_runtime_info","id":1e400}', '{"type":"' + 'p'.repeat(100) + '"}',
    '{"constructor":{"prototype":{"x":1}},"type":"toString"}', '{"type":"__proto__","id":"pp"}', '{"type":"hasOwnProperty","id":"ho"}');
  const start = c.frames.length;
  for (const g of garbage) c.send(g as string);
  // every one is answered (an error or a pong); none crashes the agent
  const answered = () => c.frames.length - start;
  await eventually('every garbage frame answered', () => answered() >= garbage.length);
  t.equal(answered(), garbage.length, 'every frame answered');
  t.ok(c.frames.slice(start).filter((f) => f.type === 'error').length >= garbage.length - 2, 'errors for garbage');
  const proto = c.frames.find((f) => f.id === 'pp');
  t.match(proto, { type: 'error', code: 'UNKNOWN_TYPE' }, '__proto__ is not a command');
  t.match(c.frames.find((f) => f.id === 'ho'), { type: 'error', code: 'UNKNOWN_TYPE' }, 'inherited names are not commands');

  // 1000 frames in a burst
  const before = c.frames.length;
  for (let i = 0; i < 1000; i++) c.send({ type: i % 2 ? 'ping' : 'nope', id: `b${i}` });
  await eventually('the burst answered', () => c.frames.length - before >= 1000);
  const burst = c.frames.slice(before);
  const ids = new Set(burst.map((f) => f.id));
  let all = true;
  for (let i = 0; i < 1000; i++) if (!ids.has(`b${i}`)) all = false;
  t.ok(all, 'every request of the burst answered with its id');
  t.equal(burst.filter((f) => f.type === 'pong').length, 500, 'every ping of the burst served, none refused');
  t.equal(burst.filter((f) => f.code === 'UNKNOWN_TYPE').length, 500);

  const info = await c.request({ type: 'get_runtime_info' });
  t.equal(info.type, 'get_runtime_info-response', 'still serving');
  const growth = (info.rssBytes as number) - rss0;
  t.comment(`RSS ${(rss0 / 1048576).toFixed(1)} MB → ${((info.rssBytes as number) / 1048576).toFixed(1)} MB`);
  t.ok(growth < 64 * 1024 * 1024, 'memory has not run away');
  t.equal(agent.proc.exitCode, null, 'agent alive');
});
