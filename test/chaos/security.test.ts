// Section 5 — security checks: loopback by default; with api.token, unauthenticated and wrong-token clients are
// refused and get no data; no client path reaches outside dataDir; with root and apps.runAs an app runs as that
// user; tokens never appear in logs or --print-config; dataDir files are not world-readable.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { stringify } from 'yaml';
import WebSocket from 'ws';
import { AGENT_JS, ApiClient, startAgent, tmpDir, type AgentHandle } from '../helpers/agent';
import { Summary, attack, req, caughtCrashes, exited, served, seedFor, until } from './lib';
import { SAFE_ENV } from './safe-env';
import { StandInKitManager } from '../helpers/kit-manager';

const SECTION = 'security';
const summary = new Summary(SECTION, seedFor(SECTION));
t.teardown(() => summary.write(t));

/** Every non-loopback address of this machine: the agent must not answer on any of them by default. */
function outsideAddresses(): string[] {
  return Object.values(os.networkInterfaces()).flat().filter((a) => a && !a.internal && (a.family === 'IPv4' || !a.address.startsWith('fe80'))).map((a) => a!.address);
}

function connectRefused(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const done = (refused: boolean) => { s.destroy(); resolve(refused); };
    s.once('connect', () => done(false));
    s.once('error', () => done(true));
    setTimeout(() => done(true), 3000);
  });
}

/** A raw client that records every frame it gets before the server closes it. */
function rawClient(url: string, headers: Record<string, string>, frames: string[]): Promise<{ code: number; got: string[] }> {
  return new Promise((resolve) => {
    const got: string[] = [];
    const ws = new WebSocket(url, { headers });
    ws.on('open', () => { for (const f of frames) ws.send(f); });
    ws.on('message', (d) => got.push(d.toString()));
    ws.on('close', (code) => resolve({ code, got }));
    ws.on('error', () => {});
    setTimeout(() => ws.terminate(), 10_000);
  });
}

function worldBits(root: string): string[] {
  const bad: string[] = [];
  const walk = (p: string) => {
    const st = fs.lstatSync(p);
    if (st.mode & 0o007) bad.push(`${path.relative(root, p) || '.'} (${(st.mode & 0o777).toString(8)})`);
    if (st.isDirectory()) for (const n of fs.readdirSync(p)) walk(path.join(p, n));
  };
  walk(root);
  return bad;
}

function countCrashes(agent: AgentHandle): number { return (exited(agent) ? 1 : 0) + caughtCrashes(agent).length; }

t.test('doors bound to loopback by default', async (t) => {
  const agent = await startAgent(t);
  const listening = agent.logs.filter((l) => l.msg === 'local API listening' || l.msg === 'health listening');
  t.same(listening.map((l) => l.host), ['127.0.0.1', '127.0.0.1'], 'API and health listen on 127.0.0.1');
  for (const addr of outsideAddresses()) {
    summary.data.faultsInjected += 2;
    const a = await connectRefused(addr, agent.apiPort);
    const h = await connectRefused(addr, agent.healthPort);
    t.ok(a && h, `nothing answers on ${addr}`);
    if (a && h) summary.data.faultsSurvived += 2;
  }
  summary.data.crashes += countCrashes(agent);
});

t.test('api.token: refused without it, refused with a wrong one, no data either way', async (t) => {
  const token = `tok-${crypto.randomBytes(12).toString('hex')}`;
  const wrong = `tok-${crypto.randomBytes(12).toString('hex')}`;
  const agent = await startAgent(t, { config: { api: { token }, log: { level: 'trace' } } });
  const requests = ['{"type":"get_runtime_info","id":"1"}', '{"type":"list_deployed_apps","id":"2"}', '{"type":"ping","id":"3"}', 'garbage'];
  const cases: Array<{ name: string; headers: Record<string, string>; frames: string[]; code: number; url?: string }> = [
    { name: 'no auth, requests', headers: {}, frames: requests, code: 4001 },
    { name: 'wrong bearer', headers: { authorization: `Bearer ${wrong}` }, frames: requests, code: 4002 },
    { name: 'wrong first frame', headers: {}, frames: [JSON.stringify({ type: 'auth', token: wrong }), ...requests], code: 4002 },
    { name: 'token as number', headers: {}, frames: ['{"type":"auth","token":12345}', ...requests], code: 4001 },
    { name: 'token as object', headers: {}, frames: [JSON.stringify({ type: 'auth', token: { $ne: '' } }), ...requests], code: 4001 },
    { name: 'token prefix', headers: {}, frames: [JSON.stringify({ type: 'auth', token: token.slice(0, -1) })], code: 4002 },
    { name: 'token with NUL suffix', headers: {}, frames: [JSON.stringify({ type: 'auth', token: `${token}\u0000` })], code: 4002 },
    { name: 'token in the query string', headers: {}, frames: requests, code: 4001, url: `${agent.apiUrl}?token=${token}` },
    { name: 'basic auth', headers: { authorization: `Basic ${Buffer.from(`x:${token}`).toString('base64')}` }, frames: requests, code: 4001 },
    { name: 'binary auth frame', headers: {}, frames: [], code: 4001 },
  ];
  for (const c of cases) {
    summary.data.faultsInjected++;
    const r = await rawClient(c.url ?? agent.apiUrl, c.headers, c.frames);
    t.equal(r.code, c.code, `${c.name}: closed with ${c.code}`);
    t.same(r.got, [], `${c.name}: no data`);
    if (r.code === c.code && r.got.length === 0) summary.data.faultsSurvived++;
  }
  // the right token still works after all that
  const ok = await ApiClient.connect(agent.apiUrl, { authorization: `Bearer ${token}` });
  t.equal((await ok.request({ type: 'ping' })).type, 'pong', 'the right token is accepted');
  ok.close();
  // the wrong and the right token never reach the log, even at trace
  await until(() => agent.logs.length > 0, 1000);
  const all = JSON.stringify(agent.logs) + agent.stderr.join('');
  t.notOk(all.includes(token), 'api.token not in the logs');
  t.notOk(all.includes(wrong), 'a wrong token a client sent is not in the logs');
  summary.data.crashes += countCrashes(agent);
});

t.test('tokens never in --print-config, --check-config or a config error', async (t) => {
  const dir = tmpDir(t);
  const secrets = { api: `a-${crypto.randomBytes(8).toString('hex')}`, km: `k-${crypto.randomBytes(8).toString('hex')}`, kuksa: `q-${crypto.randomBytes(8).toString('hex')}` };
  const file = path.join(dir, 'c.yaml');
  fs.writeFileSync(file, stringify({ runtime: { dataDir: path.join(dir, 'data') }, api: { token: secrets.api }, kitManager: { url: 'http://127.0.0.1:9', token: secrets.km }, kuksa: { token: secrets.kuksa } }));
  const run = (args: string[], env: Record<string, string> = {}) => spawnSync(process.execPath, [AGENT_JS, ...args], { env: { ...process.env, SDV_AGENT_CONFIG: '', ...env }, encoding: 'utf8', timeout: 20_000 });
  const outputs = [
    run(['--print-config', '--config', file]),
    run(['--check-config', '--config', file]),
    run(['--print-config'], { SDV_AGENT_API_TOKEN: secrets.api, SDV_AGENT_KUKSA_TOKEN: secrets.kuksa, SDV_AGENT_KIT_MANAGER_TOKEN: secrets.km }),
    run(['--check-config'], { SDV_AGENT_API_TOKEN: `${secrets.api}\u0001`, SDV_AGENT_API_PORT: 'nope' }),
  ];
  for (const [i, o] of outputs.entries()) {
    const text = `${o.stdout}${o.stderr}`;
    for (const [k, s] of Object.entries(secrets)) t.notOk(text.includes(s), `run ${i}: ${k} token not printed`);
  }
  t.match(outputs[0]!.stdout, /token/, '--print-config shows the key (masked)');
});

t.test('dataDir files are not world-readable', async (t) => {
  const agent = await startAgent(t);
  const c = await ApiClient.connect(agent.apiUrl);
  t.teardown(() => c.close());
  const dep = await c.request({ type: 'deploy_request', prototype: { id: 'perm-check', name: 'Perm', type: 'python', code: 'print(1)\n', config: {} } });
  t.not(dep.type, 'error', 'a deploy to populate dataDir');
  const bad = worldBits(agent.dataDir);
  t.same(bad, [], 'no file or folder in dataDir has world permission bits');
  if (bad.length) summary.finding(`world-accessible in dataDir: ${bad.join(', ')}`);
});

t.test('a pre-existing world-readable dataDir is made private', async (t) => {
  const dir = tmpDir(t);
  const dataDir = path.join(dir, 'data');
  fs.mkdirSync(dataDir, { mode: 0o755 });
  fs.chmodSync(dataDir, 0o755);
  await startAgent(t, { dataDir });
  const mode = fs.statSync(dataDir).mode & 0o777;
  t.equal(mode & 0o077, 0, `dataDir mode is ${mode.toString(8)}`);
  if (mode & 0o077) summary.finding(`a pre-existing dataDir keeps mode ${mode.toString(8)}`);
});

t.test('no client path reaches outside dataDir', async (t) => {
  const agent = await startAgent(t, { env: SAFE_ENV });
  const c = await ApiClient.connect(agent.apiUrl);
  t.teardown(() => c.close());
  if (!(await served(t, c, 'list_deployed_apps'))) return;
  const scratch = path.dirname(agent.dataDir);
  const tag = crypto.randomBytes(4).toString('hex');
  const evil = [`../../esc-${tag}`, `../esc-${tag}`, `/tmp/esc-${tag}`, `..\\..\\esc-${tag}`, `a/../../../esc-${tag}`, `%2e%2e/esc-${tag}`, `esc-${tag}\u0000x`, '..', '.', ''];
  for (const id of evil) {
    summary.data.faultsInjected++;
    const r = await c.request({ type: 'deploy_request', prototype: { id, name: id, type: 'python', code: 'print(1)\n', config: {} } });
    for (const type of ['run_app', 'console_subscribe', 'app_output', 'stop_app', 'uninstall_app']) await req(c, { type, appId: id });
    if (r.type !== 'error') await c.request({ type: 'uninstall_app', appId: (r.appId as string | undefined) ?? `VEA-${id}` });
  }
  // run_bin_app runs only what the operator placed in dataDir/bin: no other program on the box, however it is named
  for (const data of ['/bin/sh', '/usr/bin/touch', `${agent.dataDir}/bin/../../esc-${tag}`, `../esc-${tag}`, `/tmp/esc-${tag}`]) {
    summary.data.faultsInjected++;
    const r = await c.request({ type: 'run_bin_app', data });
    t.equal(r.type, 'error', `run_bin_app ${data} refused (${String(r.code)})`);
    if (r.type === 'error') summary.data.faultsSurvived++;
    else summary.finding(`run_bin_app ran ${data}`);
  }
  const outside = fs.readdirSync(scratch).filter((n) => n !== 'data' && n !== 'config.yaml');
  const inTmp = fs.readdirSync('/tmp').filter((n) => n.includes(`esc-${tag}`));
  t.same([...outside, ...inTmp], [], 'nothing written outside dataDir');
  if (outside.length + inTmp.length === 0) summary.data.faultsSurvived += evil.length;
  else summary.finding(`written outside dataDir: ${[...outside, ...inTmp].join(', ')}`);
  summary.data.crashes += countCrashes(agent);
});

t.test('with root and apps.runAs, an app runs as that user', { skip: process.getuid?.() !== 0 ? 'needs root' : false }, async (t) => {
  // dataDir under a folder others may pass through, as /var/lib is on a box (mkdtemp's own folder is 0700).
  const base = tmpDir(t);
  fs.chmodSync(base, 0o711);
  const agent = await startAgent(t, { env: SAFE_ENV, dataDir: path.join(base, 'data'), config: { apps: { runAs: 'nobody' } } });
  const c = await ApiClient.connect(agent.apiUrl);
  t.teardown(() => c.close());
  if (!(await served(t, c, 'list_deployed_apps'))) return;
  const code = 'import os, time\nprint("uid=%d gid=%d" % (os.getuid(), os.getgid()), flush=True)\ntime.sleep(30)\n';
  const dep = await c.request({ type: 'deploy_request', prototype: { id: 'runas', name: 'RunAs', type: 'python', code, config: {} } });
  t.not(dep.type, 'error', `deployed (${String(dep.error ?? '')})`);
  const appId = (dep.appId as string | undefined) ?? 'VEA-runas';
  await req(c, { type: 'console_subscribe', appId });
  const run = await c.request({ type: 'run_app', appId });
  t.not(run.type, 'error', `started (${String(run.error ?? '')})`);
  const line = await c.waitFor((f) => /uid=|exited|Permission denied/.test(JSON.stringify(f))).catch(() => null);
  const text = JSON.stringify(line ?? await req(c, { type: 'app_output', appId, lines: 100 }));
  const asNobody = /uid=65534/.test(text);
  if (!asNobody) summary.finding(`apps.runAs nobody: the app did not run as nobody: ${text.slice(0, 240)}`);
  // A known weakness of the apps area (reported): the app user cannot reach its folder inside the 0700 dataDir.
  t.ok(asNobody, 'the app runs as nobody (uid 65534)');
  await c.request({ type: 'stop_app', appId });
});

t.test('credentials in a Kit-Manager URL are masked in --print-config, config errors and the log', async (t) => {
  const pass = `pw-${crypto.randomBytes(8).toString('hex')}`;
  const user = `user-${crypto.randomBytes(4).toString('hex')}`;
  const km = await StandInKitManager.start();
  t.teardown(() => km.close());
  const url = `http://${user}:${pass}@127.0.0.1:${km.port}`;
  const run = (args: string[], env: Record<string, string> = {}) => spawnSync(process.execPath, [AGENT_JS, ...args], { env: { ...process.env, SDV_AGENT_CONFIG: '', ...env }, encoding: 'utf8', timeout: 20_000 });
  const printed = run(['--print-config'], { SDV_AGENT_KIT_MANAGER_URL: url });
  const refused = run(['--check-config'], { SDV_AGENT_KIT_MANAGER_URL: `ws://${user}:${pass}@127.0.0.1:99999/`, SDV_AGENT_KIT_MANAGER_PROTOCOL: 'ws' });
  const agent = await startAgent(t, { env: SAFE_ENV, config: { kitManager: { url }, log: { level: 'trace' } } });
  await agent.waitLog((l) => l.msg === 'kit-manager registered');
  const texts = { 'print-config': printed.stdout + printed.stderr, 'config error': refused.stdout + refused.stderr, log: JSON.stringify(agent.logs) + agent.stderr.join('') };
  for (const [where, text] of Object.entries(texts)) {
    summary.data.faultsInjected++;
    const clean = !text.includes(pass) && !text.includes(user);
    t.ok(clean, `${where}: neither the user nor the password of the URL`);
    if (clean) summary.data.faultsSurvived++;
    else summary.finding(`URL credentials shown in ${where}`);
  }
  t.match(printed.stdout, new RegExp(`url: http://\\*\\*\\*@127\\.0\\.0\\.1:${km.port}`), '--print-config shows the URL with its credentials masked');
  t.equal(refused.status, 2, `a Kit-Manager URL with an impossible port is refused (${refused.stderr.trim()})`);
});

t.test('impossible ports are refused by --check-config', async (t) => {
  const run = (env: Record<string, string>) => spawnSync(process.execPath, [AGENT_JS, '--check-config'], { env: { ...process.env, SDV_AGENT_CONFIG: '', ...env }, encoding: 'utf8', timeout: 20_000 });
  for (const [k, v] of [['SDV_AGENT_KUKSA_ADDRESS', '127.0.0.1:65555'], ['SDV_AGENT_KUKSA_ADDRESS', '[::1]:99999'], ['SDV_AGENT_API_PORT', '70000'], ['SDV_AGENT_MQTT_ADDRESS', '127.0.0.1:70000'], ['SDV_AGENT_KIT_MANAGER_URL', 'http://127.0.0.1:65536']] as const) {
    summary.data.faultsInjected++;
    const r = run({ [k]: v });
    t.equal(r.status, 2, `${k}=${v} refused: ${r.stderr.trim()}`);
    if (r.status === 2) summary.data.faultsSurvived++;
    else summary.finding(`--check-config accepted ${k}=${v}`);
  }
  t.equal(run({ SDV_AGENT_KUKSA_ADDRESS: '127.0.0.1:65535' }).status, 0, 'the highest real port is fine');
});

t.test('/health is degraded when a configured server could not bind', async (t) => {
  const taken = net.createServer();
  await new Promise<void>((r) => taken.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => taken.close());
  const port = (taken.address() as net.AddressInfo).port;
  const agent = await startAgent(t, { env: SAFE_ENV, config: { kuksa: { serve: true, address: `127.0.0.1:${port}` } } });
  await attack(t, summary, 'kuksa.address on a port already in use', agent, async () => {
    const h = await (await fetch(agent.healthUrl)).json() as Record<string, unknown>;
    t.equal(h.status, 'degraded', '/health says degraded');
    t.match(String(h.kuksaServeError), new RegExp(`not started on 127\\.0\\.0\\.1:${port}`), `and why: ${String(h.kuksaServeError)}`);
    return h.status === 'degraded';
  });
});
