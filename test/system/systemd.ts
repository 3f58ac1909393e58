// The unit under a real systemd: a Debian 12 box (systemd 252) booted with systemd-nspawn, the single binary installed
// by scripts/install.sh exactly as on a vehicle box. Run by scripts/test-systemd.sh (root; it makes the rootfs and
// the binary first), never by `npm test`: `SDV_ROOTFS=<rootfs> npx tap test/system/systemd.ts`.
import t, { type Test as Tap } from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { syslogPriority } from '../../src/log';
import { type Frame, until } from './inside';
import { NspawnBox } from './nspawn';

const UNIT = 'sdv-agent.service';
const DATA = '/var/lib/sdv-agent';
const HEALTH = 'import urllib.request; print(urllib.request.urlopen("http://127.0.0.1:3003/health", timeout=2).status)';

// A python app that saves its state when asked to stop: 0.3 s of work in its SIGTERM handler, then exit 0.
const KEEPER = [
  'import os, signal, sys, time',
  'def term(*_):',
  '    time.sleep(0.3)',
  '    n = int(open("saved.txt").read()) + 1 if os.path.exists("saved.txt") else 1',
  '    open("saved.txt", "w").write(str(n))',
  '    print("saved", n, flush=True)',
  '    sys.exit(0)',
  'signal.signal(signal.SIGTERM, term)',
  'print("keeper up", os.getpid(), flush=True)',
  'while True:',
  '    time.sleep(1)',
].join('\n');

// Tries to create a file in every directory under /run and to open every regular file there for writing.
const RUN_PROBE = [
  'import json, os',
  'dirs = files = 0',
  'writable = []',
  'for top, ds, fs in os.walk("/run"):',
  '    dirs += 1',
  '    p = os.path.join(top, ".sdv-probe-%d" % os.getpid())',
  '    try:',
  '        os.close(os.open(p, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)); os.unlink(p); writable.append(top)',
  '    except OSError:',
  '        pass',
  '    for f in fs:',
  '        fp = os.path.join(top, f)',
  '        if os.path.islink(fp) or not os.path.isfile(fp):',
  '            continue',
  '        files += 1',
  '        try:',
  '            os.close(os.open(fp, os.O_WRONLY | os.O_APPEND)); writable.append(fp)',
  '        except OSError:',
  '            pass',
  'print("RUNPROBE " + json.dumps({"dirs": dirs, "files": files, "writable": writable}), flush=True)',
].join('\n');

// An app that tries every way it has to send sd_notify messages for the unit: systemd-notify with the socket's path,
// raw datagrams to it, datagrams whose credentials claim the PID of each of its ancestors (the agent's among them),
// and a write to every datagram socket it inherited. Then it stays alive: systemd maps a message to a unit by the
// sender's cgroup, which it can read only while the sender lives.
const PWN_APP = [
  'import json, os, socket, struct, subprocess, time',
  'NOTIFY = "/run/systemd/notify"',
  'res = {}',
  'r = subprocess.run(["systemd-notify", "--status=pwned-by-systemd-notify"], env=dict(os.environ, NOTIFY_SOCKET=NOTIFY), capture_output=True, timeout=20)',
  'res["systemd-notify"] = r.returncode',
  's = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)',
  'res["raw"] = 0',
  'for m in [b"STATUS=pwned-raw", b"WATCHDOG=1", b"WATCHDOG=trigger"]:',
  '    s.sendto(m, NOTIFY)',
  '    res["raw"] += 1',
  'ancestors, pid = [], os.getppid()',
  'while pid > 1:',
  '    ancestors.append(pid)',
  '    pid = int(open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()[1])',
  'res["forged"] = {}',
  'for pid in ancestors:',
  '    try:',
  '        s.sendmsg([b"STATUS=pwned-forged"], [(socket.SOL_SOCKET, socket.SCM_CREDENTIALS, struct.pack("3i", pid, os.getuid(), os.getgid()))], 0, NOTIFY)',
  '        res["forged"][pid] = "sent"',
  '    except OSError as e:',
  '        res["forged"][pid] = e.errno',
  'res["inherited"] = 0',
  'for fd in [int(x) for x in os.listdir("/proc/self/fd")]:',
  '    try:',
  '        x = socket.socket(fileno=os.dup(fd))',
  '    except OSError:',
  '        continue',
  '    try:',
  '        if x.family == socket.AF_UNIX and x.type == socket.SOCK_DGRAM:',
  '            x.send(b"STATUS=pwned-inherited")',
  '            res["inherited"] += 1',
  '    except OSError:',
  '        pass',
  '    x.close()',
  'print("PWN " + json.dumps(res), flush=True)',
  'while True:',
  '    time.sleep(60)',
].join('\n');
const REFUSED = /Got notification message from PID (\d+), but reception only permitted for main PID (\d+)/g;

const rootfs = process.env.SDV_ROOTFS;
if (!rootfs || !fs.existsSync(path.join(rootfs, 'usr/lib/systemd/systemd'))) {
  t.fail('SDV_ROOTFS must name a Debian rootfs with systemd: run scripts/test-systemd.sh');
} else {
  t.test('sdv-agent under systemd 252 (systemd-nspawn)', { bail: false }, async (t) => {
    const t0 = Date.now();
    const box = await NspawnBox.boot(rootfs, 'sdv-ci');
    t.teardown(async () => { const d0 = Date.now(); await box.destroy(); process.stderr.write(`powered off in ${Date.now() - d0} ms\n`); });
    t.comment(`booted in ${Date.now() - t0} ms: ${box.exec(['systemctl', '--version']).stdout.split('\n')[0]}`);
    const ok = (t: Tap, r: { status: number | null; stdout: string; stderr: string }, what: string) => t.equal(r.status, 0, `${what}${r.status === 0 ? '' : `: ${r.stdout}${r.stderr}`.slice(0, 2000)}`);
    const state = () => box.show(UNIT, 'ActiveState', 'SubState', 'MainPID', 'NRestarts', 'Result', 'StatusText', 'InvocationID', 'ExecMainStatus', 'ExecMainCode');
    const apps = () => (box.call({ type: 'list_deployed_apps' }).apps as Frame[]);
    const app = (id: string) => box.app(id);
    /** The unit active again after a restart that `before` (its state then) did not have yet. */
    const restarted = (before: Record<string, string>, timeoutMs: number) => until('a restart', () => {
      const s = state();
      return Number(s.NRestarts) > Number(before.NRestarts) && s.ActiveState === 'active' ? s : undefined;
    }, timeoutMs);
    const runningAgain = (id: string, oldPid: unknown) => until(`${id} running again`, () => { const a = app(id); return a?.status === 'running' && a.pid !== oldPid ? a : undefined; });
    const saved = () => Number(fs.readFileSync(path.join(box.root, DATA, 'apps', 'VEA-keeper', 'saved.txt'), 'utf8'));
    const runtimeId = () => fs.readFileSync(path.join(box.root, DATA, 'runtime-id'), 'utf8').trim();

    t.test('scripts/install.sh installs, enables and starts the unit', async (t) => {
      ok(t, box.exec(['/src/scripts/install.sh']), 'install.sh');
      t.equal(box.exec(['systemctl', 'is-enabled', UNIT]).stdout.trim(), 'enabled', 'enabled');
      t.equal(state().ActiveState, 'active', 'active');
    });

    t.test('active only after READY=1; journal lines are JSON with priorities by level', async (t) => {
      ok(t, box.exec(['systemctl', 'stop', UNIT]), 'stop');
      // An unreadable registry: the agent logs an error (and starts with no apps).
      fs.writeFileSync(path.join(box.root, DATA, 'apps', 'registry.json'), '{not json');
      // Type=notify: `systemctl start` returns once READY=1 arrived, so /health answers at once, no retry.
      const started = box.sh(`systemctl start ${UNIT} && python3 -c '${HEALTH}'`);
      t.equal(started.stdout.trim(), '200', `/health answers the moment systemctl start returns ${started.stderr}`);
      const s = state();
      t.equal(s.StatusText, 'serving: local API port 3002, health port 3003', 'STATUS= from the agent');
      t.equal(box.exec(['cat', `/proc/${s.MainPID}/comm`]).stdout.trim(), 'sdv-agent', 'the main process is named sdv-agent');
      const entries = box.exec(['journalctl', `_SYSTEMD_INVOCATION_ID=${s.InvocationID}`, '-o', 'json', '--no-pager']).stdout
        .split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, string>).filter((e) => e.SYSLOG_IDENTIFIER === 'sdv-agent');
      t.ok(entries.length > 5, `${entries.length} agent entries in this start`);
      let bad = 0;
      for (const e of entries) {
        let rec: { level?: number } = {};
        try { rec = JSON.parse(e.MESSAGE!); } catch { bad++; t.fail(`not JSON: ${e.MESSAGE}`); continue; }
        if (Number(e.PRIORITY) !== syslogPriority(rec.level ?? -1)) { bad++; t.fail(`priority ${e.PRIORITY} for level ${rec.level}: ${e.MESSAGE}`); }
      }
      t.equal(bad, 0, 'every entry is one JSON object at the priority of its level');
      const errors = box.exec(['journalctl', `_SYSTEMD_INVOCATION_ID=${s.InvocationID}`, '-p', 'err', '-o', 'cat', '--no-pager']).stdout.split('\n').filter(Boolean);
      t.ok(errors.some((l) => l.includes('registry could not be read') && JSON.parse(l).level === 50), 'journalctl -p err finds the error, and -o cat is its JSON');
    });

    t.test('what makes the unit active is READY=1 from the main process: without it the unit never gets there', async (t) => {
      // Started without the launcher (the binary straight, as an older unit did), the agent has no socket of its own
      // and sends through systemd-notify children, which NotifyAccess=main refuses. (A NotifyAccess=none drop-in does
      // not show this: systemd 252 takes none as main for Type=notify.)
      const dropIn = path.join(box.root, 'etc', 'systemd', 'system', `${UNIT}.d`);
      fs.mkdirSync(dropIn, { recursive: true });
      fs.writeFileSync(path.join(dropIn, 'ci-no-launcher.conf'), '[Service]\nExecStart=\nExecStart=/usr/local/bin/sdv-agent --config /etc/sdv-agent/config.yaml\nTimeoutStartSec=4s\nRestart=no\n');
      const refused = () => [...box.exec(['journalctl', '-u', UNIT, '--no-pager', '-o', 'cat']).stdout.matchAll(REFUSED)].length;
      const seen = refused();
      ok(t, box.sh(`systemctl daemon-reload && systemctl stop ${UNIT} && systemctl start --no-block ${UNIT}`), 'drop-in without the launcher, start');
      await until('/health', () => (box.exec(['python3', '-c', HEALTH]).stdout.trim() === '200' ? true : undefined), 20_000);
      t.equal(state().ActiveState, 'activating', 'the agent serves, and the unit is still activating');
      const s = await until('the start to end', () => { const x = state(); return x.ActiveState.endsWith('activating') ? undefined : x; }, 30_000);
      t.match(s, { ActiveState: 'failed', Result: 'timeout' }, 'without READY=1 systemd gives up after TimeoutStartSec');
      t.ok(refused() > seen, 'systemd refused the systemd-notify children\'s messages');
      const logs = box.exec(['journalctl', `_SYSTEMD_INVOCATION_ID=${s.InvocationID}`, '-o', 'cat', '--no-pager']).stdout;
      t.match(logs, /go through systemd-notify, which systemd accepts only with NotifyAccess=all/, 'the agent\'s warning says why');
      fs.rmSync(dropIn, { recursive: true, force: true });
      ok(t, box.sh(`systemctl daemon-reload && systemctl reset-failed ${UNIT} && systemctl start ${UNIT}`), 'drop-in removed, started again');
      t.equal(state().StatusText, 'serving: local API port 3002, health port 3003', 'with the launcher, READY=1 and STATUS= are accepted');
    });

    t.test('systemd-analyze: verify passes, security exposure at most 2.0', async (t) => {
      ok(t, box.exec(['systemd-analyze', 'verify', `/etc/systemd/system/${UNIT}`]), 'verify');
      const sec = box.exec(['systemd-analyze', 'security', '--no-pager', UNIT]);
      const m = /Overall exposure level for sdv-agent\.service: ([\d.]+)/.exec(sec.stdout);
      t.ok(m && Number(m[1]) <= 2.0, `exposure ${m?.[1]} (${sec.stdout.trim().split('\n').at(-1)})`);
    });

    t.test('the agent runs with the V8 heap limit the unit sets (scripts/heap-flags.json), not the box\'s', async (t) => {
      const heap = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'scripts', 'heap-flags.json'), 'utf8')) as { maxOldSpaceSizeMB: number; maxSemiSpaceSizeMB: number | null };
      const info = box.call({ type: 'get_runtime_info' }) as { memory?: { heapSizeLimitBytes?: number } };
      const limitMB = (info.memory?.heapSizeLimitBytes ?? NaN) / 1048576;
      // old generation + young (3 semi-spaces); without a semi-space flag V8 sizes the young generation itself
      const semi = heap.maxSemiSpaceSizeMB;
      if (semi) t.equal(limitMB, heap.maxOldSpaceSizeMB + 3 * semi, `heap limit ${limitMB} MB`);
      else t.ok(limitMB >= heap.maxOldSpaceSizeMB && limitMB <= heap.maxOldSpaceSizeMB + 256, `heap limit ${limitMB} MB`);
    });

    t.test('apps deployed through the local API run inside the unit', async (t) => {
      t.match(box.call({ type: 'deploy_request', prototype: { id: 'keeper', type: 'python', code: KEEPER, config: { autoStart: true } } }), { appId: 'VEA-keeper', status: 'running' }, 'deployed and started');
      await box.output('VEA-keeper', 'keeper up');
      t.pass('the keeper app runs');
    });

    t.test('apps.limits under the unit: an app allocating 1 GB under config.limits.memoryMB 64 never gets it', async (t) => {
      // What the unit gives here decides the mechanism (docs/apps.md, "Limits"): cgroup v2 where the box has controllers
      // to delegate (Delegate=), else the wrapper's rlimits (setrlimit is allowed back in the syscall filter for them).
      const line = box.exec(['journalctl', '-u', UNIT, '-o', 'cat', '--no-pager']).stdout.split('\n').filter((l) => l.includes('"msg":"app limits"')).at(-1) ?? '{}';
      const how = (JSON.parse(line) as { enforcement?: Record<string, string> }).enforcement ?? {};
      t.comment(`limits enforced through ${JSON.stringify(how)} (${line.slice(0, 400)})`);
      t.ok(how.memoryMB && how.memoryMB !== 'none', `memory is bounded (${how.memoryMB})`);
      t.ok(how.pids && how.pids !== 'none', `processes are bounded (${how.pids})`);
      const hog = 'blocks = []\nfor i in range(64):\n    blocks.append(b"\\x01" * (16 << 20))\nprint("ALLOCATED", flush=True)\n';
      box.call({ type: 'deploy_request', prototype: { id: 'hog', type: 'python', code: hog, config: { autoStart: true, limits: { memoryMB: 64, pids: 64 } } } });
      const a = await until('the hog ended', () => { const x = app('VEA-hog'); return x && (x.status === 'error' || x.status === 'stopped') ? x : undefined; });
      t.equal(a.status, 'error', `it ended in error: ${String(a.reason)}`);
      const out = JSON.stringify(box.call({ type: 'app_output', appId: 'VEA-hog', lines: 50 }).lines ?? []);
      t.notMatch(out, /ALLOCATED/, 'it never had 1 GB');
      if (String(how.memoryMB).startsWith('cgroup')) t.match(a.reason, /killed by the memory limit \(64 MiB\)/, 'its status names the limit');
      else t.match(out, /MemoryError/, 'RLIMIT_AS: its allocation failed (MemoryError)');
      box.call({ type: 'uninstall_app', appId: 'VEA-hog' });
    });

    t.test('an app cannot write anywhere under /run', async (t) => {
      box.call({ type: 'deploy_request', prototype: { id: 'runprobe', type: 'python', code: RUN_PROBE, config: { autoStart: true } } });
      const res = JSON.parse((await box.output('VEA-runprobe', 'RUNPROBE ')).slice('RUNPROBE '.length)) as { dirs: number; files: number; writable: string[] };
      t.ok(res.dirs > 10 && res.files > 0, `walked ${res.dirs} folders and ${res.files} files under /run`);
      t.same(res.writable, [], 'no folder or file under /run (/run/lock included) is writable');
    });

    t.test('an app cannot send sd_notify messages for the unit: not its status, not a watchdog ping or trigger', async (t) => {
      const refusals = () => [...box.exec(['journalctl', '-u', UNIT, '--no-pager', '-o', 'cat']).stdout.matchAll(REFUSED)].map((m) => ({ from: Number(m[1]), main: Number(m[2]) }));
      const before = state();
      const seen = refusals().length;
      t.same(refusals().filter((r) => r.from === Number(before.MainPID)), [], 'nothing the agent itself sent was refused');
      box.call({ type: 'deploy_request', prototype: { id: 'pwn', type: 'python', code: PWN_APP, config: { autoStart: true } } });
      const res = JSON.parse((await box.output('VEA-pwn', 'PWN ')).slice('PWN '.length)) as { 'systemd-notify': number; raw: number; forged: Record<string, number | string>; inherited: number };
      t.equal(res.raw, 3, 'the app sent STATUS=, WATCHDOG=1 and WATCHDOG=trigger to /run/systemd/notify');
      t.ok(Object.keys(res.forged).includes(before.MainPID!), `the agent (${before.MainPID}) is among the ancestors whose PID it claimed (${Object.keys(res.forged).join(', ')})`);
      t.ok(Object.values(res.forged).every((v) => v === 1), `the kernel refused every claim of another PID (EPERM): ${JSON.stringify(res.forged)}`);
      t.comment(`systemd-notify exited ${res['systemd-notify']}; datagram sockets the app inherited and wrote to: ${res.inherited}`);
      // systemd logs each message it refuses: one from systemd-notify, three raw ones, one per inherited socket.
      const want = 1 + res.raw + res.inherited;
      const got = await until(`${want} refusals in the journal`, () => { const r = refusals().slice(seen); return r.length >= want ? r : undefined; }, 30_000);
      t.ok(got.every((r) => r.main === Number(before.MainPID) && r.from !== r.main), `systemd refused ${got.length} messages from the app's processes (${[...new Set(got.map((r) => r.from))].join(', ')}), only the main PID ${before.MainPID} may send`);
      const after = state();
      t.equal(after.StatusText, 'serving: local API port 3002, health port 3003', 'the unit\'s status text is still the agent\'s');
      t.match(after, { ActiveState: 'active', MainPID: before.MainPID, NRestarts: before.NRestarts }, 'WATCHDOG=trigger did not get the unit killed');
    });

    t.test('systemctl restart: the app stops gracefully, apps and identity come back', async (t) => {
      const id = runtimeId();
      const keeperPid = app('VEA-keeper')?.pid;
      const savedBefore = fs.existsSync(path.join(box.root, DATA, 'apps', 'VEA-keeper', 'saved.txt')) ? saved() : 0;
      ok(t, box.exec(['systemctl', 'restart', UNIT]), 'restart');
      t.equal(saved(), savedBefore + 1, 'the app\'s SIGTERM handler ran to the end (saved its state)');
      await runningAgain('VEA-keeper', keeperPid);
      t.same(apps().map((a) => a.id).sort(), ['VEA-keeper', 'VEA-pwn', 'VEA-runprobe'], 'every app is still deployed');
      t.equal(runtimeId(), id, 'same runtimeId');
    });

    t.test('watchdog: a frozen agent (kill -STOP) is restarted', async (t) => {
      const dropIn = `/etc/systemd/system/${UNIT}.d`;
      ok(t, box.sh(`mkdir -p ${dropIn} && printf '[Service]\\nWatchdogSec=3s\\n' > ${dropIn}/ci-watchdog.conf && systemctl daemon-reload && systemctl restart ${UNIT}`), 'WatchdogSec=3s drop-in');
      const before = state();
      const keeperPid = (await runningAgain('VEA-keeper', null)).pid;
      const t1 = Date.now();
      ok(t, box.exec(['kill', '-STOP', before.MainPID!]), 'kill -STOP');
      const after = await restarted(before, 60_000);
      t.not(after.MainPID, before.MainPID, `restarted after ${Date.now() - t1} ms`);
      t.match(box.exec(['journalctl', '-u', UNIT, '--no-pager', '-o', 'cat']).stdout, /Watchdog timeout/, 'systemd logged a watchdog timeout');
      await runningAgain('VEA-keeper', keeperPid);
      ok(t, box.sh(`rm -r ${dropIn} && systemctl daemon-reload && systemctl restart ${UNIT}`), 'drop-in removed');
    });

    t.test('systemctl stop: exit 0, the app saved its state and reported its own exit, nothing left running', async (t) => {
      const savedBefore = saved();
      ok(t, box.exec(['systemctl', 'stop', UNIT]), 'systemctl stop');
      const s = state();
      t.match(s, { ActiveState: 'inactive', Result: 'success', ExecMainStatus: '0' }, 'the agent exited 0');
      t.equal(saved(), savedBefore + 1, 'the app saved its state');
      const reg = JSON.parse(fs.readFileSync(path.join(box.root, DATA, 'apps', 'registry.json'), 'utf8')) as { apps: Frame[] };
      t.match(reg.apps.find((a) => a.id === 'VEA-keeper'), { exitCode: 0, desired: 'running' }, 'its own exit code 0 (not 143), and it is meant to run at the next start');
      const left = box.exec(['pgrep', '-u', 'sdv-agent', '-a']);
      t.equal(left.status, 1, `no process of user sdv-agent is left ${left.stdout}`);
    });

    t.test('reboot of the box: the agent starts at boot, apps and state are back', async (t) => {
      const id = runtimeId();
      const code = await box.reboot();
      t.equal(code, 133, 'systemd-nspawn reports a reboot');
      t.equal(state().ActiveState, 'active', 'started at boot (enabled)');
      t.equal(box.exec(['python3', '-c', HEALTH]).stdout.trim(), '200', '/health');
      await runningAgain('VEA-keeper', null);
      t.equal(runtimeId(), id, 'same runtimeId');
      t.same(apps().map((a) => a.id).sort(), ['VEA-keeper', 'VEA-pwn', 'VEA-runprobe'], 'every app is still deployed');
      t.comment(`all checks in ${Date.now() - t0} ms`);
    });
  });
}
