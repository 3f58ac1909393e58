// sd_notify against a real AF_UNIX datagram socket standing in for systemd's NOTIFY_SOCKET (bound by python3, which
// has AF_UNIX SOCK_DGRAM), with the real agent: READY=1 after /health answers, WATCHDOG=1 pings, STOPPING=1 on SIGTERM.
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import * as fs from 'node:fs';
import { ApiClient, getJson, sleep, startAgent, tmpDir, type Scope } from './helpers/agent';
import { stopChild, trackChild } from './helpers/scope';
import { findNotifyHelper, NOTIFY_HELPER_PATHS, watchdogIntervalMs } from '../src/systemd';

const RECEIVER = `
import socket, sys, json
addr = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(('\\0' + addr[1:]) if addr.startswith('@') else addr)
print(json.dumps({"bound": True}), flush=True)
while True:
    data = s.recv(4096)  # no room for ancillary data: passed fds (systemd-notify's barrier pipe) are closed by the kernel
    print(json.dumps({"msg": data.decode()}), flush=True)
`;

interface Receiver { proc: ChildProcess; messages: string[]; waitFor(pred: (m: string) => boolean, timeoutMs?: number): Promise<string> }

async function receiver(t: Scope, addr: string): Promise<Receiver> {
  const proc = trackChild(spawn('python3', ['-c', RECEIVER, addr], { stdio: ['ignore', 'pipe', 'inherit'] }));
  t.teardown(() => stopChild(proc, 'SIGKILL'));
  const messages: string[] = [];
  const waiters: Array<() => void> = [];
  let buf = '';
  let bound: () => void;
  const isBound = new Promise<void>((r) => { bound = r; });
  proc.stdout!.setEncoding('utf8');
  proc.stdout!.on('data', (c: string) => {
    buf += c;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const rec = JSON.parse(buf.slice(0, nl)) as { bound?: boolean; msg?: string };
      buf = buf.slice(nl + 1);
      if (rec.bound) bound();
      if (rec.msg !== undefined) { messages.push(rec.msg); for (const w of [...waiters]) w(); }
    }
  });
  await isBound;
  const waitFor = (pred: (m: string) => boolean, timeoutMs = 20_000) => new Promise<string>((resolve, reject) => {
    const check = () => {
      const m = messages.find(pred);
      if (m === undefined) return false;
      clearTimeout(timer); waiters.splice(waiters.indexOf(check), 1); resolve(m); return true;
    };
    const timer = setTimeout(() => reject(new Error(`no matching notification in ${timeoutMs} ms; got ${JSON.stringify(messages)}`)), timeoutMs);
    waiters.push(check);
    check();
  });
  return { proc, messages, waitFor };
}

const lines = (m: string) => m.split('\n');

t.test('watchdogIntervalMs: half of WATCHDOG_USEC, only for our pid', async (t) => {
  t.equal(watchdogIntervalMs({ WATCHDOG_USEC: '30000000' }, 42), 15_000);
  t.equal(watchdogIntervalMs({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '42' }, 42), 15_000);
  t.equal(watchdogIntervalMs({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '43' }, 42), null);
  t.equal(watchdogIntervalMs({}, 42), null);
  t.equal(watchdogIntervalMs({ WATCHDOG_USEC: 'x' }, 42), null);
});

t.test('systemd-notify: fixed paths first, then PATH; only a root-owned executable nobody else can write', async (t) => {
  t.same(NOTIFY_HELPER_PATHS, ['/usr/bin/systemd-notify', '/bin/systemd-notify']);
  const dir = tmpDir(t, 'sdv-notify-helper-');
  const make = (name: string, mode: number) => { const f = path.join(dir, name, 'systemd-notify'); fs.mkdirSync(path.dirname(f)); fs.writeFileSync(f, '#!/bin/sh\n', { mode }); fs.chmodSync(f, mode); return f; };
  const good = make('good', 0o755);
  const groupWritable = make('gw', 0o775);
  const notExec = make('noexec', 0o644);
  const missing = path.join(dir, 'missing', 'systemd-notify');
  t.same(findNotifyHelper([good], ''), { file: good }, 'a fixed path');
  t.same(findNotifyHelper([missing], `relative:${path.dirname(good)}`), { file: good }, 'else the first usable one on PATH (relative entries ignored)');
  t.same(findNotifyHelper([groupWritable, notExec, good], ''), { file: good }, 'writable-by-others and non-executable files are passed over');
  const none = findNotifyHelper([missing, groupWritable, notExec], '');
  t.ok('error' in none);
  if ('error' in none) {
    t.match(none.error, missing, 'the error lists where it looked');
    t.match(none.error, 'writable by others');
    t.match(none.error, 'not an executable file');
  }
  if (process.getuid?.() === 0) {
    fs.chownSync(good, 1, 1);
    t.ok('error' in findNotifyHelper([good], ''), 'not owned by root: refused');
  }
});

for (const kind of ['path', 'abstract'] as const) {
  t.test(`READY, WATCHDOG and STOPPING reach a ${kind} NOTIFY_SOCKET`, async (t) => {
    const addr = kind === 'path' ? path.join(tmpDir(t, 'sdv-notify-'), 'notify.sock') : `@sdv-agent-test-${process.pid}-${Date.now()}`;
    const rx = await receiver(t, addr);
    const agent = await startAgent(t, { env: { NOTIFY_SOCKET: addr, WATCHDOG_USEC: '400000' } });

    const ready = await rx.waitFor((m) => lines(m).includes('READY=1'));
    t.match(ready, /STATUS=serving: local API port \d+, health port \d+/, 'status says what serves');
    t.equal((await getJson(agent.healthUrl)).status, 200, '/health answers once READY=1 was sent');
    // pings every 200 ms; wait for two so this is the interval, not a one-off
    await rx.waitFor((m) => lines(m).includes('WATCHDOG=1'));
    await rx.waitFor(() => rx.messages.filter((m) => lines(m).includes('WATCHDOG=1')).length >= 2);
    t.pass('watchdog pings arrive repeatedly');

    t.equal(await agent.stop('SIGTERM'), 0, 'clean exit');
    const stopping = await rx.waitFor((m) => lines(m).includes('STOPPING=1'));
    t.match(stopping, /STATUS=stopping/);
    t.notOk(rx.messages.slice(0, rx.messages.indexOf(ready)).some((m) => lines(m).includes('WATCHDOG=1')), 'no watchdog ping before READY');
  });
}

t.test('without NOTIFY_SOCKET nothing is sent and the agent starts as usual', async (t) => {
  const env: Record<string, string> = { NOTIFY_SOCKET: '' };
  const agent = await startAgent(t, { env });
  t.equal((await getJson(agent.healthUrl)).status, 200);
  t.notOk(agent.logs.some((l) => String(l.msg).includes('systemd')), 'no systemd log lines');
});

t.test('supervised apps do not inherit NOTIFY_SOCKET or the watchdog settings', async (t) => {
  const addr = path.join(tmpDir(t, 'sdv-notify-'), 'notify.sock');
  const rx = await receiver(t, addr);
  const agent = await startAgent(t, { env: { NOTIFY_SOCKET: addr, WATCHDOG_USEC: '60000000' } });
  await rx.waitFor((m) => lines(m).includes('READY=1'));
  const api = await ApiClient.connect(agent.apiUrl);
  t.teardown(() => api.close());
  const script = '#!/bin/sh\necho "env-check notify=[${NOTIFY_SOCKET:-}] usec=[${WATCHDOG_USEC:-}] pid=[${WATCHDOG_PID:-}]"\n';
  api.send({ type: 'deploy_request', id: 'd1', prototype: { id: 'envcheck', type: 'binary', code: Buffer.from(script).toString('base64'), config: {} } });
  const deployed = await api.waitFor((f) => f.id === 'd1');
  t.notOk(deployed.error, `deployed: ${JSON.stringify(deployed)}`);
  const appId = String(deployed.appId ?? 'VEA-envcheck');
  api.send({ type: 'run_app', id: 'r1', appId });
  await api.waitFor((f) => f.id === 'r1');
  let output = '';
  for (let i = 0; i < 100 && !output.includes('env-check'); i++) {
    await sleep(200);
    api.send({ type: 'app_output', id: `o${i}`, appId, lines: 50 });
    output = JSON.stringify(await api.waitFor((f) => f.id === `o${i}`));
  }
  t.match(output, /env-check notify=\[\] usec=\[\] pid=\[\]/, 'the app sees none of them');
});
