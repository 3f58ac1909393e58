// Health checks (config.healthCheck, src/apps/health-check.ts) on real apps through the local API: an app whose HTTP
// endpoint stops answering while its process stays alive is ended and restarted through its restart policy, and that
// is visible in its status, its console (one line) and list_deployed_apps. Refusals at deploy are named by field. An
// https check is made over TLS with a self-signed certificate (https is loaded by the first such check, not at start).
import t from 'tap';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as net from 'node:net';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { ApiClient, startAgent, tmpDir } from './helpers/agent';
import { eventually } from './helpers/scope';

type F = Record<string, unknown>;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const p = (s.address() as net.AddressInfo).port; s.close(() => resolve(p)); });
  });
}

/** Serves GET / with 200 for its first 3 requests, then stops answering (listening, alive, never replying). */
const HANGS = [
  'import http.server, os, time',
  'served = 0',
  'class H(http.server.BaseHTTPRequestHandler):',
  '    def do_GET(self):',
  '        global served',
  '        served += 1',
  '        self.send_response(200); self.end_headers(); self.wfile.write(b"ok")',
  '    def log_message(self, *a): pass',
  'srv = http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), H)',
  'print("SERVING", flush=True)',
  'while served < 3: srv.handle_request()',
  'print("HANGING", flush=True)',
  'while True: time.sleep(1)',
].join('\n');

t.test('an app whose health check stops answering is restarted through its restart policy', async (t) => {
  const agent = await startAgent(t, { config: { apps: { stopGraceMs: 500 } } });
  const c = await ApiClient.connect(agent.apiUrl);
  t.teardown(() => c.close());
  const port = await freePort();
  const healthCheck = { http: `http://127.0.0.1:${port}/`, intervalMs: 500, timeoutMs: 300, failures: 2, startPeriodMs: 5000 };
  const dep = await c.request({ type: 'deploy_request', prototype: { id: 'hc', name: 'Hc', type: 'python', code: HANGS, config: { env: { PORT: String(port) }, restartPolicy: 'on-failure', restartDelayMs: 100, healthCheck } } });
  t.match(dep, { status: 'installed' });
  c.send({ type: 'console_subscribe', id: 'sub', appId: 'VEA-hc' });
  await c.waitFor((f) => f.id === 'sub' && f.type === 'console_subscribed');
  await c.request({ type: 'run_app', appId: 'VEA-hc' });
  const hanging = await c.waitFor((f) => f.type === 'console_output' && f.appId === 'VEA-hc' && f.output === 'HANGING');
  const t0 = Date.parse(String(hanging.timestamp));
  const ended: F = await c.waitFor((f) => f.type === 'app_status' && f.appId === 'VEA-hc' && /unhealthy/.test(String(f.reason)));
  t.match(ended.reason, /unhealthy: 2 health checks in a row failed \(GET http:\/\/127\.0\.0\.1:\d+\/: no answer within 300 ms\)/, 'its status says why');
  const line = c.frames.filter((f) => f.type === 'console_output' && f.appId === 'VEA-hc' && /^\[sdv-agent\].*unhealthy/.test(String(f.output)));
  t.equal(line.length, 1, 'one console line says so');
  const again: F = await c.waitFor((f) => f.type === 'app_status' && f.appId === 'VEA-hc' && f.status === 'running' && Date.parse(String(f.timestamp)) > Date.parse(String(ended.timestamp)));
  t.comment(`restarted ${Date.parse(String(again.timestamp)) - t0} ms after it stopped answering (interval 500, timeout 300, failures 2)`);
  const list = await c.request({ type: 'list_deployed_apps' });
  const app = (list.apps as F[]).find((a) => a.id === 'VEA-hc')!;
  t.ok(Number(app.restarts) >= 1, `its restart count rose (${String(app.restarts)})`);
  t.ok(Number(app.healthFailures) >= 2, `its failed checks are counted (${String(app.healthFailures)})`);
  t.match(app.health, { status: String });
  await c.request({ type: 'stop_app', appId: 'VEA-hc' });
});

t.test('health checks refused at deploy: the field named', async (t) => {
  const agent = await startAgent(t);
  const c = await ApiClient.connect(agent.apiUrl);
  t.teardown(() => c.close());
  const deploy = (healthCheck: unknown) => c.request({ type: 'deploy_request', prototype: { id: 'x', name: 'X', type: 'python', code: 'pass', config: { healthCheck } } });
  t.match(await deploy({ http: 'http://10.1.2.3/health' }), { type: 'error', code: 'BAD_REQUEST', error: /^config\.healthCheck\.http: 10\.1\.2\.3 is not the loopback/ });
  t.match(await deploy({ tcp: '127.0.0.1:80', command: ['true'] }), { type: 'error', code: 'BAD_REQUEST', error: /^config\.healthCheck: expected exactly one/ });
  t.match(await deploy({ tcp: '127.0.0.1:80', failures: 0 }), { type: 'error', code: 'BAD_REQUEST', error: /^config\.healthCheck\.failures/ });
});

t.test('an https health check (self-signed certificate) is probed over TLS', async (t) => {
  const dir = tmpDir(t, 'sdv-hc-tls-');
  const key = path.join(dir, 'key.pem');
  const cert = path.join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1'], { stdio: 'ignore' });
  let answer = 200;
  const seen: string[] = [];
  const server = https.createServer({ key: fs.readFileSync(key), cert: fs.readFileSync(cert) }, (req, res) => { seen.push(String(req.headers['user-agent'])); res.writeHead(answer).end(); });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }));
  const port = (server.address() as net.AddressInfo).port;
  const agent = await startAgent(t, { config: { apps: { stopGraceMs: 500 } } });
  const c = await ApiClient.connect(agent.apiUrl);
  t.teardown(() => c.close());
  // A busy box decides nothing here: a slow probe before the first answer falls in the start period (ended by a
  // success), and each probe has the whole interval to answer.
  const healthCheck = { http: `https://127.0.0.1:${port}/`, intervalMs: 10_000, timeoutMs: 10_000, failures: 1, startPeriodMs: 600_000 };
  const dep = await c.request({ type: 'deploy_request', prototype: { id: 'hcs', name: 'Hcs', type: 'python', code: 'import time\nwhile True: time.sleep(1)', config: { restartPolicy: 'never', healthCheck } } });
  t.match(dep, { status: 'installed' });
  c.send({ type: 'console_subscribe', id: 'sub', appId: 'VEA-hcs' });
  await c.waitFor((f) => f.id === 'sub' && f.type === 'console_subscribed');
  await c.request({ type: 'run_app', appId: 'VEA-hcs' });
  await eventually('the first https probe', () => seen.length > 0);
  t.equal(seen[0], 'sdv-agent-health-check', 'the check reached the https server');
  answer = 503;
  const ended: F = await c.waitFor((f) => f.type === 'app_status' && f.appId === 'VEA-hcs' && /unhealthy/.test(String(f.reason)));
  t.match(ended.reason, /GET https:\/\/127\.0\.0\.1:\d+\/ answered 503/, 'its status names the https answer');
});
