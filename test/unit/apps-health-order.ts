// src/apps/health-check.ts (what a deploy may ask, the watcher's counting on a clock the test moves; the probes run
// against real sockets and a real command) and src/apps/start-order.ts (dependencies, cycles, conditions, order).
import t, { type Test } from 'tap';
import * as http from 'node:http';
import * as net from 'node:net';
import { allowedHosts, HealthWatcher, isLoopback, parseHealthCheck, probe, type ProbeResult } from '../../src/apps/health-check';
import { checkDependencies, findCycle, parseDependsOn, startOrder, unmet, type Dependencies, type OrderView } from '../../src/apps/start-order';
import { ManualClock } from '../helpers/manual-clock';
import { CommandError } from '../../src/core/errors';

const refused = (t: Test, fn: () => unknown, msg: RegExp) => {
  try { fn(); t.fail(`expected a refusal matching ${String(msg)}`); } catch (e) {
    t.ok(e instanceof CommandError && e.code === 'BAD_REQUEST' && msg.test(e.message), `${String(msg)} (got: ${(e as Error).message})`);
  }
};

t.test('config.healthCheck: one kind, loopback unless allowed, bounds named', async (t) => {
  t.match(parseHealthCheck({ http: 'http://127.0.0.1:8080/health' }, []), { http: 'http://127.0.0.1:8080/health', intervalMs: 5000, timeoutMs: 2000, failures: 3, startPeriodMs: 10_000 });
  t.match(parseHealthCheck({ tcp: 'localhost:1883', intervalMs: 500, failures: 1 }, []), { tcp: 'localhost:1883', intervalMs: 500, failures: 1 });
  t.match(parseHealthCheck({ command: ['python3', 'check.py'] }, []), { command: ['python3', 'check.py'] });
  t.match(parseHealthCheck({ http: 'http://[::1]:80/' }, []), { http: 'http://[::1]/' });
  t.equal(parseHealthCheck(undefined, []), undefined);
  refused(t, () => parseHealthCheck({ http: 'http://192.168.1.10/health' }, []), /^config\.healthCheck\.http: 192\.168\.1\.10 is not the loopback; .*apps\.healthCheckHosts/);
  t.match(parseHealthCheck({ http: 'http://ECU2.local/health' }, allowedHosts(' ecu2.local, 10.0.0.2 ')), { http: 'http://ecu2.local/health' }, 'a host the operator allowed');
  refused(t, () => parseHealthCheck({ tcp: '10.0.0.3:80' }, allowedHosts('10.0.0.2')), /^config\.healthCheck\.tcp: 10\.0\.0\.3 is not the loopback/);
  refused(t, () => parseHealthCheck({ http: 'http://127.0.0.1/', tcp: '127.0.0.1:1' }, []), /exactly one of http, tcp or command, got http and tcp/);
  refused(t, () => parseHealthCheck({}, []), /exactly one of http, tcp or command, got none/);
  refused(t, () => parseHealthCheck({ http: 'ftp://127.0.0.1/' }, []), /^config\.healthCheck\.http: expected an http/);
  refused(t, () => parseHealthCheck({ http: 'http://u:p@127.0.0.1/' }, []), /no user or password/);
  refused(t, () => parseHealthCheck({ tcp: '127.0.0.1:0' }, []), /^config\.healthCheck\.tcp: expected host:port/);
  refused(t, () => parseHealthCheck({ command: 'curl localhost' }, []), /^config\.healthCheck\.command: expected an argument vector/);
  refused(t, () => parseHealthCheck({ command: ['ok', 'a\0b'] }, []), /^config\.healthCheck\.command\[1\]/);
  refused(t, () => parseHealthCheck({ http: 'http://127.0.0.1/', intervalMs: 10 }, []), /^config\.healthCheck\.intervalMs: expected an integer from 100/);
  refused(t, () => parseHealthCheck({ http: 'http://127.0.0.1/', intervalMs: 1000, timeoutMs: 5000 }, []), /^config\.healthCheck\.timeoutMs: at most intervalMs \(1000\)/);
  refused(t, () => parseHealthCheck({ http: 'http://127.0.0.1/', retries: 3 }, []), /^config\.healthCheck\.retries: unknown key/);
  t.ok(isLoopback('127.1.2.3') && isLoopback('[::1]') && isLoopback('LOCALHOST'));
  t.notOk(isLoopback('127.0.0.1.nip.io') || isLoopback('0.0.0.0') || isLoopback('::'));
});

t.test('probes against real sockets and a real command', async (t) => {
  let code = 200;
  const server = http.createServer((_req, res) => { if (code > 0) res.writeHead(code).end('x'); /* 0: never answers */ });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => { server.closeAllConnections(); server.close(); });
  const port = (server.address() as net.AddressInfo).port;
  const cfg = parseHealthCheck({ http: `http://127.0.0.1:${port}/h`, intervalMs: 200, timeoutMs: 200 }, [])!;
  const ctx = { cwd: '/', env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } };
  t.same(await probe(cfg, ctx), { ok: true });
  code = 503;
  t.same(await probe(cfg, ctx), { ok: false, why: `GET http://127.0.0.1:${port}/h answered 503` });
  code = 0;
  t.same(await probe(cfg, ctx), { ok: false, why: `GET http://127.0.0.1:${port}/h: no answer within 200 ms` }, 'a server that accepts and never answers');
  t.same(await probe(parseHealthCheck({ tcp: `127.0.0.1:${port}` }, [])!, ctx), { ok: true });
  const closed = net.createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const gone = (closed.address() as net.AddressInfo).port;
  await new Promise<void>((r) => closed.close(() => r()));
  t.match(await probe(parseHealthCheck({ tcp: `127.0.0.1:${gone}` }, [])!, ctx), { ok: false, why: /ECONNREFUSED/ });
  t.same(await probe(parseHealthCheck({ command: ['sh', '-c', 'exit 0'] }, [])!, ctx), { ok: true });
  t.same(await probe(parseHealthCheck({ command: ['sh', '-c', 'echo database down; exit 3'] }, [])!, ctx), { ok: false, why: 'sh exited with code 3: database down' });
  const slow = await probe(parseHealthCheck({ command: ['sh', '-c', 'sleep 30 & sleep 30'], intervalMs: 300, timeoutMs: 300 }, [])!, ctx);
  t.same(slow, { ok: false, why: 'sh: no exit within 300 ms' }, 'a command past its timeout is killed with its group');
});

t.test('the watcher: the start period, failures in a row, one unhealthy call, then silence', async (t) => {
  const clock = new ManualClock();
  const results: ProbeResult[] = [];
  let next: ProbeResult = { ok: false, why: 'refused' };
  const failures: string[] = [];
  const unhealthy: string[] = [];
  const w = new HealthWatcher(parseHealthCheck({ tcp: '127.0.0.1:1', intervalMs: 1000, timeoutMs: 500, failures: 3, startPeriodMs: 2500 }, [])!, async () => { results.push(next); return next; }, { failure: (x) => failures.push(x), unhealthy: (x) => unhealthy.push(x) }, clock);
  await clock.step(1000);
  await clock.step(1000);
  t.same(failures, [], 'failures in the start period do not count');
  t.equal(w.state.status, 'starting');
  next = { ok: true };
  await clock.step(1000);
  t.equal(w.state.status, 'healthy');
  next = { ok: false, why: 'no answer' };
  await clock.step(1000);
  await clock.step(1000);
  next = { ok: true };
  await clock.step(1000);
  t.same([w.state.status, w.state.failuresInRow, w.state.failuresTotal], ['healthy', 0, 2], 'a success ends a run of failures');
  next = { ok: false, why: 'no answer' };
  for (let i = 0; i < 3; i++) await clock.step(1000);
  t.same(unhealthy, ['no answer'], 'unhealthy once, after 3 in a row');
  t.equal(w.state.status, 'unhealthy');
  t.equal(clock.pending, 0, 'and no more checks');
  const before = results.length;
  await clock.step(10_000);
  t.equal(results.length, before);
  t.equal(failures.length, 5);
});

const view = (status: string, extra: Partial<OrderView> = {}): OrderView => ({ status, exitCode: null, succeeded: false, ...extra });
const toAppId = (id: string) => (id.startsWith('VEA-') ? id : `VEA-${id}`);

t.test('config.dependsOn: ids or conditions, existing apps, no cycle', async (t) => {
  t.same(parseDependsOn(['A', 'VEA-B'], toAppId), { 'VEA-A': 'running', 'VEA-B': 'running' });
  t.same(parseDependsOn({ A: 'succeeded' }, toAppId), { 'VEA-A': 'succeeded' });
  refused(t, () => parseDependsOn({ A: 'healthy' }, toAppId), /^config\.dependsOn\.A: expected the condition running or succeeded/);
  refused(t, () => parseDependsOn([7], toAppId), /^config\.dependsOn\[0\]: expected an app id/);
  refused(t, () => parseDependsOn('A', toAppId), /^config\.dependsOn: expected a list/);
  const apps = new Map<string, Dependencies | undefined>([['VEA-A', undefined], ['VEA-B', { 'VEA-A': 'running' }], ['VEA-C', { 'VEA-B': 'running' }]]);
  checkDependencies('VEA-D', { 'VEA-C': 'running' }, apps);
  refused(t, () => checkDependencies('VEA-D', { 'VEA-X': 'running' }, apps), /^config\.dependsOn: no app VEA-X is deployed/);
  refused(t, () => checkDependencies('VEA-D', { 'VEA-D': 'running' }, apps), /cannot depend on itself/);
  // A redeployed with a dependency on C: A → C → B → A
  refused(t, () => checkDependencies('VEA-A', { 'VEA-C': 'running' }, new Map<string, Dependencies | undefined>([['VEA-B', { 'VEA-A': 'running' }], ['VEA-C', { 'VEA-B': 'running' }]])), /^config\.dependsOn: a dependency cycle VEA-A → VEA-C → VEA-B → VEA-A$/);
  t.equal(findCycle(apps, 'VEA-C'), null);
});

t.test('conditions and the order of a restore', async (t) => {
  const deps: Dependencies = { 'VEA-A': 'running', 'VEA-J': 'succeeded' };
  const look = (m: Record<string, OrderView>) => (id: string) => m[id];
  t.same(unmet(deps, look({ 'VEA-A': view('running'), 'VEA-J': view('stopped', { exitCode: 0, succeeded: true }) })), []);
  t.same(unmet(deps, look({ 'VEA-A': view('stopped'), 'VEA-J': view('stopped', { exitCode: 0 }) })), [
    'VEA-A to be running (it is stopped)', 'VEA-J to be run to a clean exit (code 0) (it is stopped)',
  ], 'a stop that ended in code 0 is not a success');
  t.same(unmet({ 'VEA-Z': 'running' }, look({})), ['VEA-Z (not deployed) to be running']);
  const graph: Record<string, Dependencies> = { 'VEA-C': { 'VEA-B': 'running' }, 'VEA-B': { 'VEA-A': 'running' } };
  t.same(startOrder(['VEA-C', 'VEA-B', 'VEA-X', 'VEA-A'], (id) => graph[id]), ['VEA-A', 'VEA-B', 'VEA-C', 'VEA-X']);
});
