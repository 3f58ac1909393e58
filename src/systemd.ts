// systemd service notifications (sd_notify protocol): READY=1, WATCHDOG=1, STOPPING=1, STATUS=… to $NOTIFY_SOCKET.
//
// Sent from the agent's own process, so that the unit can have NotifyAccess=main and nothing else of the unit — no app
// — can send messages for it (with NotifyAccess=all an app set the unit's status text, or got it killed with
// WATCHDOG=trigger, by writing to /run/systemd/notify itself). systemd takes a message's sender from the kernel's
// credentials of the process that wrote it, so the writer must be the main process. Node cannot make an AF_UNIX
// *datagram* socket (dgram is udp4/udp6 only; net is SOCK_STREAM, which connect(2) to a datagram socket refuses with
// EPROTOTYPE; see nodejs/node#29339 and #61933), but it can write to one it is handed: the shipped unit's ExecStart
// (systemd/sdv-agent.service) is a few lines of python3 that connect a datagram socket to $NOTIFY_SOCKET, leave it
// open across exec and exec the agent in the same process, naming the descriptor in $SDV_NOTIFY_FD. Each message is
// then one write(2) of the main process (non-blocking: a full queue of systemd's is retried, never waited for). The
// descriptor may stay open in the agent's children (Node cannot set close-on-exec on it); what they write to it
// carries their own PID, and NotifyAccess=main refuses it.
//
// Without $SDV_NOTIFY_FD (a unit of an older install, started straight from the binary) the agent falls back to
// systemd-notify(1) as a helper child, which systemd accepts only with NotifyAccess=all (a child is not the main
// process; systemd-notify claims its parent's PID only with CAP_SYS_ADMIN) — and says so in a warning, since that
// setting lets apps send messages for the unit too. At most one helper runs at a time (plus the single STOPPING=1 at
// shutdown, which must not wait); messages arriving meanwhile are merged (one pending set of assignments, later
// values win) and sent next. A helper that hangs is killed after HELPER_TIMEOUT_MS. It is looked up once, at the
// fixed paths Debian and Ubuntu install it to and then on PATH, and used by its absolute path; it must be a regular
// executable owned by root and not writable by group or others. Without $NOTIFY_SOCKET (a shell, a container, the
// tests) every call is a no-op.
import fs = require('node:fs');
import path = require('node:path');
import { runChild } from './core/child-runner';
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

/** Where the unit's ExecStart hands the agent its connected datagram socket (a descriptor number). */
export const NOTIFY_FD_ENV = 'SDV_NOTIFY_FD';
/** A message systemd's full queue refused (EAGAIN) is tried again after this. */
const RETRY_MS = 250;

/** The descriptor $SDV_NOTIFY_FD names, when it is an open socket; null when it is unset; else why not. */
export function notifyFd(text: string | undefined): { fd: number } | { error: string } | null {
  if (text === undefined || text === '') return null;
  const fd = Number(text);
  if (!/^\d{1,9}$/.test(text) || fd < 3) return { error: `$${NOTIFY_FD_ENV}=${JSON.stringify(text.slice(0, 20))} is not a descriptor number above 2` };
  try {
    if (fs.fstatSync(fd).isSocket()) return { fd };
  } catch (e) { return { error: `$${NOTIFY_FD_ENV}=${fd}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` }; }
  return { error: `$${NOTIFY_FD_ENV}=${fd} is not a socket` };
}

/** Sends one message; done(false) when it should be tried again later. */
type Deliver = (lines: string[], done: (sent: boolean) => void) => void;

export function createSystemdNotifier(log: Logger, env: NodeJS.ProcessEnv = process.env): SystemdNotifier {
  const socket = env.NOTIFY_SOCKET;
  const fdText = env[NOTIFY_FD_ENV];
  const watchdogEvery = watchdogIntervalMs(env);
  // Like sd_notify(unset_environment=1): no child of the agent is told where the socket is (the child environment's
  // allow-list leaves these out too).
  for (const k of ['NOTIFY_SOCKET', 'WATCHDOG_USEC', 'WATCHDOG_PID', NOTIFY_FD_ENV]) delete env[k];
  if (!socket) return SILENT;

  let warned = false;
  const warnOnce = (fields: Record<string, unknown>, msg: string) => {
    if (warned) return;
    warned = true; // once: a broken socket would otherwise log on every watchdog ping
    log.warn(fields, msg);
  };
  let deliver: Deliver;
  const given = notifyFd(fdText);
  if (given && 'fd' in given) {
    const { fd } = given;
    deliver = (lines, done) => {
      try { fs.writeSync(fd, Buffer.from(lines.join('\n'))); done(true); } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        warnOnce({ err: (e as Error).message, socket, fd }, 'systemd notification failed');
        done(code !== 'EAGAIN' && code !== 'ENOBUFS' && code !== 'EINTR');
      }
    };
    log.info({ socket, fd }, 'systemd notifications are sent from the agent\'s own process (the unit may have NotifyAccess=main)');
  } else {
    if (given) log.error({ socket }, `the socket for systemd notifications cannot be used (${given.error}); trying systemd-notify`);
    const helper = findNotifyHelper();
    if ('error' in helper) {
      log.error({ socket }, `systemd notifications cannot be sent (${helper.error}); systemd will not see READY=1 or the watchdog pings`);
      return SILENT;
    }
    log.warn({ socket, helper: helper.file }, `systemd notifications go through systemd-notify, which systemd accepts only with NotifyAccess=all: then every process of the unit, apps included, may send messages for it. The shipped unit hands the agent a socket instead ($${NOTIFY_FD_ENV}; docs/operations.md, systemd)`);
    // A helper's failure is not retried: the next message (a watchdog ping at the latest) starts another.
    deliver = (lines, done) => {
      // argv array, no shell (core/child-runner); only the helper gets NOTIFY_SOCKET back, with the rest of the agent's
      // environment (it is the box's own program, not user code). The child exists when this returns (spawn forks
      // synchronously), so it outlives our exit.
      const env: Record<string, string> = { NOTIFY_SOCKET: socket };
      for (const [k, v] of Object.entries(process.env)) if (v !== undefined && k !== 'NOTIFY_SOCKET') env[k] = v;
      void runChild({ file: helper.file, args: lines, env, timeoutMs: HELPER_TIMEOUT_MS, maxKeptBytes: 4096 }).then((r) => {
        const err = r.startError ? r.startError.message
          : r.exitCode !== 0 ? `Command failed: ${[helper.file, ...lines].join(' ')}${r.timedOut ? ' (timed out)' : ''}\n${r.stderr}` : null;
        if (err !== null) warnOnce({ err, socket, helper: helper.file }, 'systemd notification failed (is NotifyAccess=all set?)');
        done(true);
      });
    };
  }

  let pending: Map<string, string> | null = null;
  let inFlight = false;
  let closed = false;
  let watchdog: NodeJS.Timeout | null = null;
  let retry: NodeJS.Timeout | null = null;

  const flush = () => {
    if (inFlight || !pending || closed) return;
    const sending = pending;
    pending = null;
    inFlight = true;
    deliver([...sending].map(([k, v]) => `${k}=${v}`), (sent) => {
      inFlight = false;
      if (!sent) {
        // Back in line under anything newer (later values win), and tried again in a moment, not in a loop.
        pending = new Map([...sending, ...(pending ?? [])]);
        if (!retry && !closed) { retry = setTimeout(() => { retry = null; flush(); }, RETRY_MS); retry.unref(); }
        return;
      }
      flush();
    });
  };
  const send = (assignments: Record<string, string>) => {
    if (closed) return;
    pending ??= new Map();
    for (const [k, v] of Object.entries(assignments)) pending.set(k, v);
    flush();
  };
  const stopTimers = () => {
    if (watchdog) { clearInterval(watchdog); watchdog = null; }
    if (retry) { clearTimeout(retry); retry = null; }
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
      stopTimers();
      if (closed) return;
      // Not queued behind an in-flight helper: the process may exit before that one finishes. Once per run, so the
      // one extra helper does not break the bound.
      pending = null;
      closed = true;
      deliver(['STOPPING=1', 'STATUS=stopping'], () => {});
    },
    close() {
      closed = true;
      stopTimers();
    },
  };
}
