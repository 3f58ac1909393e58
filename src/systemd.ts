// systemd service notifications (sd_notify protocol): READY=1, WATCHDOG=1, STOPPING=1, STATUS=… to $NOTIFY_SOCKET.
//
// Why systemd-notify(1) and not a socket of our own: the protocol is one AF_UNIX *datagram* per message, and Node has
// no AF_UNIX SOCK_DGRAM sockets in core (dgram is udp4/udp6 only; net is SOCK_STREAM, which connect(2) to a datagram
// socket rejects with EPROTOTYPE; removed in Node 0.5, see nodejs/node#29339 and #61933). The only other ways are a
// native addon (ruled out: node-pty is the one addon the single binary carries) or a helper process. systemd-notify is
// that helper, and it is present wherever $NOTIFY_SOCKET is (i.e. wherever systemd runs us). It handles filesystem
// and abstract ('@…') sockets, and unless --no-block it waits for a barrier (systemd 252 here), so systemd has
// processed the message before the helper exits and can still map its PID to our unit. Its cost: the sender is a
// child, not the main PID (systemd-notify claims its parent's PID only when it runs as root), so the unit needs
// NotifyAccess=all (systemd/sdv-agent.service) — which is why the agent removes NOTIFY_SOCKET from the environment
// its apps inherit; an app that opens /run/systemd/notify by name can still send messages for the unit, as the
// docs/operations.md, "systemd", says — and each message is one short spawn: a few per minute for the watchdog. What would
// allow NotifyAccess=main: a socket connected by someone else and written with fs.write (systemd 253's OpenFile=
// can hand one over; Debian 12 has 252).
//
// Bounded: at most one systemd-notify runs at a time (plus the single STOPPING=1 at shutdown, which must not wait);
// messages arriving meanwhile are merged (one pending set of assignments, later values win) and sent next. A helper
// that hangs is killed after HELPER_TIMEOUT_MS. Without $NOTIFY_SOCKET (a shell, a container, the tests) every call
// is a no-op.
//
// The helper is looked up once, at the fixed paths Debian and Ubuntu install it to and then on PATH, and used by its
// absolute path: a PATH changed later (or a directory on it that someone else can write) cannot swap it. It must be
// a regular executable file owned by root and not writable by group or others; otherwise the agent says so once and
// sends nothing (under Type=notify systemd then fails the start after TimeoutStartSec, which the log line explains).
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Logger } from './log';

const HELPER_TIMEOUT_MS = 5_000;
/** STATUS= text is shown by `systemctl status`; keep it one short line. */
const MAX_STATUS_CHARS = 200;

export interface SystemdNotifier {
  /** The service is up: local API, health and the app registry are ready. Starts the watchdog pings. */
  ready(status?: string): void;
  status(text: string): void;
  /** Shutdown began; stops the watchdog pings. */
  stopping(): void;
  /** Stops timers; pending messages are dropped. */
  close(): void;
}

/** Half of $WATCHDOG_USEC in ms, or null when the watchdog is off or meant for another process ($WATCHDOG_PID). */
export function watchdogIntervalMs(env: NodeJS.ProcessEnv = process.env, pid = process.pid): number | null {
  const usec = Number(env.WATCHDOG_USEC);
  if (!env.WATCHDOG_USEC || !Number.isFinite(usec) || usec <= 0) return null;
  if (env.WATCHDOG_PID && Number(env.WATCHDOG_PID) !== pid) return null;
  return Math.max(1, Math.floor(usec / 1000 / 2));
}

export const NOTIFY_HELPER_PATHS = ['/usr/bin/systemd-notify', '/bin/systemd-notify'];

/** The systemd-notify to use, or why there is none. */
export function findNotifyHelper(fixed = NOTIFY_HELPER_PATHS, pathEnv = process.env.PATH ?? ''): { file: string } | { error: string } {
  const looked: string[] = [];
  const candidates = [...fixed, ...pathEnv.split(':').filter((d) => path.isAbsolute(d)).map((d) => path.join(d, 'systemd-notify'))];
  for (const file of candidates) {
    let st: fs.Stats;
    try { st = fs.statSync(file); } catch { looked.push(file); continue; }
    if (!st.isFile() || (st.mode & 0o111) === 0) { looked.push(`${file} (not an executable file)`); continue; }
    if (st.uid !== 0 || (st.mode & 0o022) !== 0) { looked.push(`${file} (not owned by root, or writable by others)`); continue; }
    return { file };
  }
  return { error: `no usable systemd-notify: ${[...new Set(looked)].join(', ')}` };
}

function oneLine(text: string): string {
  return text.replace(/[\r\n]+/g, ' ').slice(0, MAX_STATUS_CHARS);
}

const SILENT: SystemdNotifier = { ready() {}, status() {}, stopping() {}, close() {} };

export function createSystemdNotifier(log: Logger, env: NodeJS.ProcessEnv = process.env): SystemdNotifier {
  const socket = env.NOTIFY_SOCKET;
  const watchdogEvery = watchdogIntervalMs(env);
  // Like sd_notify(unset_environment=1): supervised apps inherit process.env, and with NotifyAccess=all an app that
  // speaks sd_notify itself could otherwise report READY/STOPPING/WATCHDOG for the agent's unit.
  for (const k of ['NOTIFY_SOCKET', 'WATCHDOG_USEC', 'WATCHDOG_PID']) delete env[k];
  if (!socket) return SILENT;
  const helper = findNotifyHelper();
  if ('error' in helper) {
    log.error({ socket }, `systemd notifications cannot be sent (${helper.error}); systemd will not see READY=1 or the watchdog pings`);
    return SILENT;
  }

  let pending: Map<string, string> | null = null;
  let inFlight = false;
  let closed = false;
  let warned = false;
  let watchdog: NodeJS.Timeout | null = null;

  /** Starts one helper now. The child exists when this returns (spawn forks synchronously), so it outlives our exit. */
  const spawnHelper = (args: string[], done: () => void) => {
    // argv array, no shell; only the helper gets NOTIFY_SOCKET back.
    execFile(helper.file, args, { timeout: HELPER_TIMEOUT_MS, killSignal: 'SIGKILL', env: { ...process.env, NOTIFY_SOCKET: socket } }, (err) => {
      if (err && !warned) {
        warned = true; // once: a missing helper would otherwise log on every watchdog ping
        log.warn({ err: err.message, socket, helper: helper.file }, 'systemd notification failed (is NotifyAccess=all set?)');
      }
      done();
    });
  };
  const flush = () => {
    if (inFlight || !pending || closed) return;
    const args = [...pending].map(([k, v]) => `${k}=${v}`);
    pending = null;
    inFlight = true;
    spawnHelper(args, () => { inFlight = false; flush(); });
  };
  const send = (assignments: Record<string, string>) => {
    if (closed) return;
    pending ??= new Map();
    for (const [k, v] of Object.entries(assignments)) pending.set(k, v);
    flush();
  };

  return {
    ready(status) {
      send(status ? { READY: '1', STATUS: oneLine(status) } : { READY: '1' });
      const every = watchdogEvery;
      if (every !== null && !watchdog) {
        // Sent from the event loop on purpose: a blocked loop stops the pings and systemd restarts the service.
        watchdog = setInterval(() => send({ WATCHDOG: '1' }), every);
        watchdog.unref();
        log.info({ everyMs: every }, 'systemd watchdog pings on');
      }
    },
    status(text) { send({ STATUS: oneLine(text) }); },
    stopping() {
      if (watchdog) { clearInterval(watchdog); watchdog = null; }
      if (closed) return;
      // Not queued behind an in-flight ping: the process may exit before that one finishes. Once per run, so the
      // one extra helper does not break the bound.
      pending = null;
      closed = true;
      spawnHelper(['STOPPING=1', 'STATUS=stopping'], () => {});
    },
    close() {
      closed = true;
      if (watchdog) { clearInterval(watchdog); watchdog = null; }
    },
  };
}
