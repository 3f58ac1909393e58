// The real agent against a stand-in Socket.IO 4 Kit-Manager and a socket.io-client frontend: registration, the
// runtime list, round trips, seed-000 requests through the link, bad payloads answered and survived, token auth.
import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { eventually, getJson, startAgent, tmpDir, type AgentHandle } from './helpers/agent';
import { agentBehindKitManager, Frontend, StandInKitManager } from './helpers/kit-manager';

const KIT = 'RunTime-KitBox';
const CAPS = ['python_app_execution', 'binary_app_execution', 'console_output', 'app_status_monitoring', 'vehicle_signals', 'vss_management', 'signal_subscription'];

async function setup(t: Test, config: Record<string, unknown> = {}): Promise<{ km: StandInKitManager; agent: AgentHandle; fe: Frontend }> {
  return agentBehindKitManager(t, 'KitBox', { kitManager: config, api: { maxPayloadBytes: 64 * 1024 } });
}

t.test('registers and answers through the Kit-Manager', async (t) => {
  const { km, agent, fe } = await setup(t, { desc: 'a test box' });

  t.test('register_kit payload and the runtime list', async (t) => {
    const reg = await km.waitRegistration();
    t.equal(reg.kit.kit_id, KIT);
    t.equal(reg.kit.name, KIT, 'name = the kit id, as the Python runtime sends it (the dashboard lists kits by name)');
    t.equal(reg.kit.desc, 'a test box');
    t.same(reg.kit.support_apis, CAPS);
    t.same(reg.auth, {}, 'no token configured: no auth data');
    t.equal(reg.authorization, undefined);
    t.ok(fe.runtimes().some((k) => k.kit_id === KIT), 'listed by the runtime- filter');
    const health = await getJson(agent.healthUrl);
    t.equal(health.body.kitManagerConnected, true);
  });

  t.test('get-runtime-info', async (t) => {
    const r = await fe.command(KIT, { cmd: 'get-runtime-info' });
    t.equal(r.kit_id, KIT);
    t.equal(r.request_from, fe.id);
    const data = r.data as Record<string, unknown>;
    t.ok(Array.isArray(data.lsOfRunner), 'lsOfRunner is a list');
    t.type(data.lsOfApiSubscriber, 'object');
    t.equal(data.kitId, KIT, 'plus the agent\'s own fields');
    t.equal(data.kitManagerConnected, true);
  });

  t.test('a seed-000 request (type) is answered as the local API would, with its id', async (t) => {
    const r = await fe.command(KIT, { type: 'ping', id: 'p-1' }, (x) => x.id === 'p-1');
    t.equal(r.type, 'pong');
    t.equal(r.request_from, fe.id);
    t.equal(r.kit_id, KIT);
    const info = await fe.command(KIT, { type: 'get_runtime_info', id: 7 }, (x) => x.id === 7);
    t.equal(info.type, 'get_runtime_info-response');
    t.equal(info.kitId, KIT);
    const unknown = await fe.command(KIT, { type: 'make_coffee', id: 'u' }, (x) => x.id === 'u');
    t.equal(unknown.type, 'error');
    t.match(unknown.error, /unknown type/);
  });

  t.test('a command refused by its part answers a well-formed error reply', async (t) => {
    const r = await fe.command(KIT, { cmd: 'install_python_packages', data: 'ok-pkg; rm -rf /' }, (x) => x.cmd === 'install_python_packages' && x.errorCode !== undefined);
    t.equal(r.request_from, fe.id);
    t.equal(r.kit_id, KIT);
    t.equal(r.isDone, true);
    t.type(r.error, 'string');
    t.equal(r.errorCode, 'BAD_REQUEST');
  });

  t.test('bad payloads are answered and the link survives', async (t) => {
    const unknown = await fe.command(KIT, { cmd: 'make_coffee' });
    t.equal(unknown.errorCode, 'UNKNOWN_TYPE');
    t.match(unknown.error, /unknown cmd "make_coffee"/);
    t.equal(unknown.request_from, fe.id);

    const noCmd = await fe.command(KIT, { data: 1 }, (x) => x.errorCode === 'BAD_REQUEST' && x.cmd === null);
    t.match(noCmd.error, /needs "cmd"/);

    const numCmd = await fe.command(KIT, { cmd: 42 }, (x) => x.errorCode === 'BAD_REQUEST' && x.cmd === 42);
    t.match(numCmd.error, /"cmd" must be a non-empty string/);

    const wrongField = await fe.command(KIT, { cmd: 'run_python_app', data: 'not an object' }, (x) => x.cmd === 'run_python_app' && x.isDone === true);
    t.ok(wrongField.errorCode === 'BAD_REQUEST' || wrongField.errorCode === 'UNAVAILABLE', `wrong field type refused (${wrongField.errorCode})`);

    const big = await fe.command(KIT, { cmd: 'run_python_app', data: { code: 'x'.repeat(100 * 1024), name: 'big' } }, (x) => x.errorCode === 'LIMIT');
    t.equal(big.cmd, 'run_python_app', 'the oversized payload\'s cmd is echoed');
    t.equal(big.request_from, fe.id);
    t.match(big.error, /exceeds the limit/);

    const after = await fe.command(KIT, { cmd: 'get-runtime-info' });
    t.equal(after.kit_id, KIT, 'still answering');
    t.equal(km.registrations.length, 1, 'the link never dropped');
  });

  t.test('report-runtime-state reaches the Kit-Manager', async (t) => {
    await eventually('a runtime state report', () => km.runtimeStates.length > 0);
    const s = km.runtimeStates[0] as { kit_id: string; data: Record<string, unknown> };
    t.equal(s.kit_id, KIT);
    t.type(s.data.noOfRunner, 'number');
    t.type(s.data.noOfApiSubscriber, 'number');
    t.ok(Array.isArray(s.data.lsOfRunner));
    t.type(s.data.lsOfApiSubscriber, 'object');
    const n = km.runtimeStates.length;
    await new Promise((r) => setTimeout(r, 1500));
    t.equal(km.runtimeStates.length, n, 'not repeated while nothing changes');
  });

  t.test('replies go to the requesting client only', async (t) => {
    const other = await Frontend.connect(km.url);
    t.teardown(() => other.close());
    await other.waitRuntime(KIT);
    await fe.command(KIT, { cmd: 'get-runtime-info', tag: 'mine' });
    await new Promise((r) => setTimeout(r, 200));
    t.equal(other.replies.length, 0, 'the other frontend saw nothing');
  });
});

t.test('token reaches the Kit-Manager as auth data and header', async (t) => {
  const { km } = await setup(t, { token: 's3cret-token' });
  const reg = await km.waitRegistration();
  t.same(reg.auth, { token: 's3cret-token' });
  t.equal(reg.authorization, 'Bearer s3cret-token');
});

t.test('https Kit-Manager: certificate verified against kitManager.caFile', async (t) => {
  const dir = tmpDir(t, 'sdv-kit-tls-');
  const key = path.join(dir, 'key.pem');
  const cert = path.join(dir, 'cert.pem');
  const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { stdio: 'ignore' });
  t.equal(made.status, 0, 'openssl made a self-signed test certificate (scripts/test-peers.sh installs openssl)');
  const km = await StandInKitManager.start(0, { tls: { key: fs.readFileSync(key, 'utf8'), cert: fs.readFileSync(cert, 'utf8') } });
  t.teardown(() => km.close());

  const untrusting = await startAgent(t, { config: { runtime: { name: 'Untrusting' }, kitManager: { url: km.url, reconnect: { minMs: 50, maxMs: 200 } } } });
  await startAgent(t, { config: { runtime: { name: 'KitBox' }, kitManager: { url: km.url, caFile: cert, reconnect: { minMs: 50, maxMs: 200 } } } });
  const reg = await km.waitRegistration((r) => r.kit.kit_id === KIT);
  t.equal(reg.kit.kit_id, KIT, 'with the CA file: registered over wss');
  // Refused for its certificate, said in the log (not merely not registered yet).
  const said = await untrusting.waitLog((l) => l.msg === 'kit-manager connect attempt failed; retrying');
  t.match(said, { level: 40, why: /self[- ]signed certificate/ }, 'the log says why, at warn');
  t.notOk(km.registrations.some((r) => r.kit.kit_id === 'RunTime-Untrusting'), 'without it: the self-signed certificate is refused');
  t.equal((await getJson(untrusting.healthUrl)).body.kitManagerConnected, false);
});
