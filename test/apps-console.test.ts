// Console streaming of the real agent: bursts, replay with `since`, a stalled subscriber, restart after kill -9.
import t from 'tap';
import WebSocket from 'ws';
import { ApiClient, eventually, startAgent } from './helpers/agent';

type F = Record<string, unknown>;

async function subscribe(c: ApiClient, appId: string, since?: number): Promise<F> {
  const id = `sub-${Math.random()}`;
  c.send({ type: 'console_subscribe', id, appId, ...(since !== undefined ? { since } : {}) });
  return c.waitFor((f) => f.id === id);
}
const outputs = (c: ApiClient, appId: string) => c.frames.filter((f) => f.type === 'console_output' && f.appId === appId);

t.test('10 000 lines in a burst all arrive with consecutive seq', async (t) => {
  const agent = await startAgent(t, { config: { apps: { consoleBufferLines: 20_000, consoleBufferBytes: 16 * 1024 * 1024 } } });
  const c = await ApiClient.connect(agent.apiUrl);
  t.teardown(() => c.close());
  await c.request({ type: 'deploy_request', prototype: { id: 'burst', type: 'python', code: 'import sys\nsys.stdout.write("".join(f"line {i}\\n" for i in range(10000)))\n' } });
  await subscribe(c, 'VEA-burst');
  await c.request({ type: 'run_app', appId: 'VEA-burst' });
  await c.waitFor((f) => f.type === 'app_status' && f.appId === 'VEA-burst' && f.status === 'stopped');
  await c.waitFor(() => outputs(c, 'VEA-burst').some((f) => f.output === 'line 9999'));
  const got = outputs(c, 'VEA-burst').filter((f) => String(f.output).startsWith('line '));
  t.equal(got.length, 10_000);
  t.ok(got.every((f, i) => f.output === `line ${i}`), 'in order');
  const first = got[0]!.seq as number;
  t.ok(got.every((f, i) => f.seq === first + i), 'consecutive seq');
  t.notOk(c.frames.some((f) => f.type === 'console_dropped'), 'nothing dropped for a reading subscriber');
});

t.test('subscribe with since replays exactly the missed lines, then live without gap or duplicate', async (t) => {
  const agent = await startAgent(t);
  const a = await ApiClient.connect(agent.apiUrl);
  t.teardown(() => a.close());
  const code = 'import time\nfor i in range(40):\n    print(f"n {i}")\n    time.sleep(0.02)\n';
  await a.request({ type: 'deploy_request', prototype: { id: 'rep', type: 'python', code } });
  await subscribe(a, 'VEA-rep');
  await a.request({ type: 'run_app', appId: 'VEA-rep' });
  await a.waitFor((f) => f.type === 'console_output' && f.output === 'n 10');
  // A second client that "reconnects" knowing it saw up to n 4.
  const seen = outputs(a, 'VEA-rep').find((f) => f.output === 'n 4')!.seq as number;
  const b = await ApiClient.connect(agent.apiUrl);
  t.teardown(() => b.close());
  const sub = await subscribe(b, 'VEA-rep', seen);
  t.equal(sub.type, 'console_subscribed');
  const begin = await b.waitFor((f) => f.type === 'console_replay_begin');
  t.equal(begin.fromSeq, seen + 1);
  await b.waitFor((f) => f.type === 'console_replay_end');
  await a.waitFor((f) => f.type === 'app_status' && f.status === 'stopped');
  await b.waitFor((f) => f.type === 'app_status' && f.status === 'stopped');
  const gotB = outputs(b, 'VEA-rep');
  const gotA = outputs(a, 'VEA-rep').filter((f) => (f.seq as number) > seen);
  t.same(gotB.map((f) => f.seq), gotA.map((f) => f.seq), 'b got every line after since, once, in order');
  t.equal(gotB[0]!.output, 'n 5');
  const endIdx = b.frames.findIndex((f) => f.type === 'console_replay_end');
  const replayed = b.frames.slice(0, endIdx).filter((f) => f.type === 'console_output');
  t.equal(replayed.at(-1)!.seq, begin.toSeq, 'the replay ends at toSeq');
  t.match(await b.request({ type: 'console_unsubscribe', appId: 'VEA-rep' }), { type: 'console_unsubscribe-response', unsubscribed: true });
});

t.test('a stalled subscriber does not grow the agent memory; it is told what it lost', async (t) => {
  const agent = await startAgent(t, { config: { api: { sendBufferBytes: 256 * 1024 } } });
  const ctl = await ApiClient.connect(agent.apiUrl);
  t.teardown(() => ctl.close());
  const code = 'import sys\nline = "x" * 100\nfor i in range(100000):\n    print(i, line)\n';
  await ctl.request({ type: 'deploy_request', prototype: { id: 'flood', type: 'python', code } });

  const raw = new WebSocket(agent.apiUrl);
  await new Promise((r) => raw.once('open', r));
  const rawFrames: F[] = [];
  raw.on('message', (d) => rawFrames.push(JSON.parse(d.toString())));
  raw.send(JSON.stringify({ type: 'console_subscribe', id: 's', appId: 'VEA-flood' }));
  await eventually('console_subscribed', () => rawFrames.some((f) => f.type === 'console_subscribed'), { stepMs: 10 });
  (raw as unknown as { _socket: { pause(): void; resume(): void } })._socket.pause();

  const before = (await ctl.request({ type: 'get_runtime_info' })).rssBytes as number;
  await ctl.request({ type: 'run_app', appId: 'VEA-flood' });
  await eventually('the flood app ended', async () => ((await ctl.request({ type: 'list_deployed_apps' })).apps as F[])[0]!.status === 'stopped', { stepMs: 100 });
  const after = (await ctl.request({ type: 'get_runtime_info' })).rssBytes as number;
  t.comment(`agent RSS before ${(before / 1e6).toFixed(1)} MB, after 100 000 lines to a stalled subscriber ${(after / 1e6).toFixed(1)} MB`);
  t.ok(after - before < 80 * 1024 * 1024, `RSS grew by less than 80 MB (grew ${((after - before) / 1e6).toFixed(1)} MB for ~11 MB of output)`);
  (raw as unknown as { _socket: { resume(): void } })._socket.resume();
  await eventually('console_dropped', () => rawFrames.some((f) => f.type === 'console_dropped'));
  const dropped = rawFrames.find((f) => f.type === 'console_dropped');
  t.ok(dropped, 'the stalled subscriber is told it lost lines');
  t.ok((dropped?.count as number) > 0);
  raw.close();
});

t.test('kill -9 of the agent, then a restart on the same dataDir brings the running app back', async (t) => {
  const first = await startAgent(t);
  const c1 = await ApiClient.connect(first.apiUrl);
  await c1.request({ type: 'deploy_request', prototype: { id: 'keep', type: 'python', code: 'import time\nwhile True:\n    print("alive", flush=True)\n    time.sleep(0.1)\n' } });
  await c1.request({ type: 'deploy_request', prototype: { id: 'idle', type: 'python', code: 'print(1)\n' } });
  await c1.request({ type: 'run_app', appId: 'VEA-keep' });
  c1.close();
  await first.stop('SIGKILL');
  const second = await startAgent(t, { dataDir: first.dataDir });
  const c2 = await ApiClient.connect(second.apiUrl);
  t.teardown(() => c2.close());
  await subscribe(c2, 'VEA-keep');
  await c2.waitFor((f) => f.type === 'console_output' && f.output === 'alive');
  const list = await c2.request({ type: 'list_deployed_apps' });
  t.match((list.apps as F[]).find((a) => a.id === 'VEA-keep'), { status: 'running' });
  t.match((list.apps as F[]).find((a) => a.id === 'VEA-idle'), { status: 'installed' });
  // Usage sampling (every 2 s) shows the running app's memory.
  let keep: F | undefined;
  await eventually('the app\'s memory sampled', async () => {
    keep = ((await c2.request({ type: 'list_deployed_apps' })).apps as F[]).find((a) => a.id === 'VEA-keep');
    return (keep?.memory as number) > 0;
  }, { stepMs: 200 });
  t.ok((keep?.memory as number) > 0, 'memory sampled');
  t.type(keep?.cpu, 'number');
  const info = await c2.request({ type: 'get_runtime_info' });
  t.match(info.apps, { total: 2, running: 1, usage: [{ id: String }, { id: String }] });
});

t.test('console seq never repeats across a kill -9 of the agent (since= replay stays correct)', async (t) => {
  const first = await startAgent(t);
  const c1 = await ApiClient.connect(first.apiUrl);
  await c1.request({ type: 'deploy_request', prototype: { id: 'tick', type: 'python', code: 'import time\ni = 0\nwhile True:\n    print("tick", i, flush=True)\n    i += 1\n    time.sleep(0.02)\n' } });
  await subscribe(c1, 'VEA-tick');
  await c1.request({ type: 'run_app', appId: 'VEA-tick' });
  // Lines after the last status change: before the fix their seq was only in memory.
  await c1.waitFor(() => outputs(c1, 'VEA-tick').length >= 30);
  const before = Math.max(...outputs(c1, 'VEA-tick').map((f) => f.seq as number));
  await first.stop('SIGKILL');
  c1.close();
  const second = await startAgent(t, { dataDir: first.dataDir });
  const c2 = await ApiClient.connect(second.apiUrl);
  t.teardown(() => c2.close());
  await subscribe(c2, 'VEA-tick');
  await c2.waitFor(() => outputs(c2, 'VEA-tick').length >= 5);
  const after = outputs(c2, 'VEA-tick').map((f) => f.seq as number);
  t.ok(after.every((s) => s > before), `every new seq (${after[0]}…) is above the highest seen before the kill (${before})`);
  // A client reconnecting with since=<last seen> gets only lines from after the kill, none mistaken for old ones.
  const c3 = await ApiClient.connect(second.apiUrl);
  t.teardown(() => c3.close());
  await subscribe(c3, 'VEA-tick', before);
  await c3.waitFor((f) => f.type === 'console_replay_end');
  t.ok(outputs(c3, 'VEA-tick').every((f) => (f.seq as number) > before), 'replay since the old seq holds only new lines');
});

t.test('a registry that does not parse is moved aside and reported', async (t) => {
  const first = await startAgent(t);
  await first.stop();
  const fs = await import('node:fs');
  const path = await import('node:path');
  fs.mkdirSync(path.join(first.dataDir, 'apps'), { recursive: true });
  fs.writeFileSync(path.join(first.dataDir, 'apps', 'registry.json'), '{not json');
  const second = await startAgent(t, { dataDir: first.dataDir });
  const c = await ApiClient.connect(second.apiUrl);
  t.teardown(() => c.close());
  const info = await c.request({ type: 'get_runtime_info' });
  t.match(info.notices, [/app registry could not be read/]);
  t.ok(fs.readdirSync(path.join(first.dataDir, 'apps')).some((n) => n.startsWith('registry.json.corrupt-')));
});
