// sd_notify against a real AF_UNIX datagram socket standing in for systemd's NOTIFY_SOCKET (bound by python3, which
// has AF_UNIX SOCK_DGRAM, reading each sender's PID from the kernel's credentials as systemd does), with the real agent:
// READY=1 after /health answers, WATCHDOG=1 pings, STOPPING=1 on SIGTERM — written by the agent's own process when it
// is started the way the shipped unit starts it (the ExecStart's python3 lines hand it a connected socket), through
// systemd-notify children otherwise.
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import * as fs from 'node:fs';
import { AGENT_JS, ApiClient, getJson, ROOT, sleep, startAgent, tmpDir, type Scope } from './helpers/agent';
import { stopChild, trackChild } from './helpers/scope';
import { findNotifyHelper, NOTIFY_HELPER_PATHS, notifyFd, watchdogIntervalMs } from '../src/systemd';

const RECEIVER = `
import socket, struct, sys, json
addr = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
s.bind(('\\0' + addr[1:]) if addr.startswith('@') else addr)
print(json.dumps({"bound": True}), flush=True)
creds = struct.calcsize('3i')
while True:
    # room for the credentials only: passed fds (systemd-notify's barrier pipe) are closed by the kernel
    data, anc, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(creds))
    pid = next((struct.unpack('3i', d[:creds])[0] for (lvl, typ, d) in anc if lvl == socket.SOL_SOCKET and typ == socket.SCM_CREDENTIALS), None)
    print(json.dumps({"msg": data.decode(), "pid": pid}), flush=True)
`;

/** The shipped unit's ExecStart launcher (the python3 lines before the binary), as a file python3 runs. */
const UNIT = fs.readFileSync(path.join(ROOT, 'systemd', 'sdv-agent.service'), 'utf8');
const LAUNCHER = /^ExecStart=\/usr\/bin\/python3 -I -S -c "([^"]+)" \/usr\/local\/bin\/sdv-agent --config /m.exec(UNIT)?.[1];

/** An executable that starts the agent through the unit's launcher: sh execs python3, which execs node (one PID). */
function launched(dir: string): string {
  if (!LAUNCHER) throw new Error('no python3 launcher in the ExecStart of systemd/sdv-agent.service');
  const py = path.join(dir, 'launch.py');
  fs.writeFileSync(py, LAUNCHER);
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const exe = path.join(dir, 'sdv-agent-launched');
  fs.writeFileSync(exe, `#!/bin/sh\nexec /usr/bin/python3 -I -S ${q(py)} ${q(process.execPath)} ${q(AGENT_JS)} "$@"\n`, { mode: 0o755 });
  return exe;
}

interface Receiver { proc: ChildProcess; messages: string[]; senders: number[]; waitFor(pred: (m: string) => boolean, timeoutMs?: number): Promise<string> }

async function receiver(t: Scope, addr: string): Promise<Receiver> {
  const proc = trackChild(spawn('python3', ['-c', RECEIVER, addr], { stdio: ['ignore', 'pipe', 'inherit'] }));
  t.teardown(() => stopChild(proc, 'SIGKILL'));
  const messages: string[] = [];
  const senders: number[] = [];
  const waiters: Array<() => void> = [];
  let buf = '';
  let bound: () => void;
  const isBound = new Promise<void>((r) => { bound = r; });
  proc.stdout!.setEncoding('utf8');
  proc.stdout!.on('data', (c: string) => {
    buf += c;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const rec = JSON.parse(buf.slice(0, nl)) as { bound?: boolean; msg?: string; pid?: number };
      buf = buf.slice(nl + 1);
      if (rec.bound) bound();
      if (rec.msg !== undefined) { messages.push(rec.msg); senders.push(rec.pid ?? 0); for (const w of [...waiters]) w(); }
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
  return { proc, messages, senders, waitFor };
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

const CASES = [
  { kind: 'path', via: 'the unit\'s launcher' }, { kind: 'abstract', via: 'the unit\'s launcher' }, { kind: 'path', via: 'systemd-notify' },
] as const;
for (const { kind, via } of CASES) {
  t.test(`READY, WATCHDOG and STOPPING reach a ${kind} NOTIFY_SOCKET through ${via}`, async (t) => {
    const dir = tmpDir(t, 'sdv-notify-');
    const addr = kind === 'path' ? path.join(dir, 'notify.sock') : `@sdv-agent-test-${process.pid}-${Date.now()}`;
    const rx = await receiver(t, addr);
    const direct = via !== 'systemd-notify';
    const agent = await startAgent(t, { env: { NOTIFY_SOCKET: addr, WATCHDOG_USEC: '400000' }, ...(direct ? { executable: launched(dir) } : {}) });

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
    const pid = agent.proc.pid!;
    if (direct) {
      t.same([...new Set(rx.senders)], [pid], `every message was written by the agent's own process (${pid}), which NotifyAccess=main accepts`);
      t.ok(agent.logs.some((l) => /sent from the agent's own process/.test(String(l.msg))), 'the log says so');
    } else {
      // systemd-notify claims its parent's PID when it may (CAP_SYS_ADMIN: as root here, never in the shipped unit).
      // Its BARRIER=1 (the wait until systemd has read the message) it sends as itself.
      const senders = new Set(rx.senders.filter((_, i) => !lines(rx.messages[i]!).includes('BARRIER=1')));
      if (process.getuid?.() === 0) t.same([...senders], [pid], 'as root, systemd-notify children send in the agent\'s name');
      else t.notOk(senders.has(pid), 'sent by systemd-notify children, not the agent\'s process');
      t.ok(agent.logs.some((l) => l.level === 40 && /NotifyAccess=all/.test(String(l.msg))), 'a warning says that this needs NotifyAccess=all, and what that lets apps do');
    }
  });
}

t.test('$SDV_NOTIFY_FD: only an open socket above stderr is used', async (t) => {
  t.equal(notifyFd(undefined), null);
  t.equal(notifyFd(''), null);
  for (const bad of ['2', '-1', 'x', '3x', '99999999999']) t.ok(notifyFd(bad) && 'error' in notifyFd(bad)!, `${JSON.stringify(bad)} refused`);
  const file = path.join(tmpDir(t, 'sdv-notify-fd-'), 'f');
  t.teardown(() => fs.rmSync(path.dirname(file), { recursive: true, force: true }));
  const fd = fs.openSync(file, 'w');
  t.teardown(() => fs.closeSync(fd));
  t.match(notifyFd(String(fd)), { error: /is not a socket/ }, 'a file is not a socket');
  t.match(notifyFd('999999'), { error: /EBADF/ }, 'a closed descriptor');
});

t.test('without NOTIFY_SOCKET nothing is sent and the agent starts as usual', async (t) => {
  const env: Record<string, string> = { NOTIFY_SOCKET: '' };
  const agent = await startAgent(t, { env });
  t.equal((await getJson(agent.healthUrl)).status, 200);
  t.notOk(agent.logs.some((l) => String(l.msg).includes('systemd')), 'no systemd log lines');
});

t.test('supervised apps do not inherit NOTIFY_SOCKET, the socket\'s descriptor number or the watchdog settings', async (t) => {
  const dir = tmpDir(t, 'sdv-notify-');
  const addr = path.join(dir, 'notify.sock');
  const rx = await receiver(t, addr);
  const agent = await startAgent(t, { env: { NOTIFY_SOCKET: addr, WATCHDOG_USEC: '60000000' }, executable: launched(dir) });
  await rx.waitFor((m) => lines(m).includes('READY=1'));
  const api = await ApiClient.connect(agent.apiUrl);
  t.teardown(() => api.close());
  const script = '#!/bin/sh\necho "env-check notify=[${NOTIFY_SOCKET:-}] fd=[${SDV_NOTIFY_FD:-}] usec=[${WATCHDOG_USEC:-}] pid=[${WATCHDOG_PID:-}]"\n';
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
  t.match(output, /env-check notify=\[\] fd=\[\] usec=\[\] pid=\[\]/, 'the app sees none of them');
});
