// pino JSON lines on stdout. A broken stdout (EPIPE, a closed journal pipe) must not take the agent down.
//
// Under systemd stdout is a journal stream, and journald files every line at the unit's SyslogLevel (info) unless
// the line starts with a syslog prefix "<N>" (SyslogLevelPrefix=, on by default), which it strips and uses as the
// priority. So when stdout is the journal — $JOURNAL_STREAM names its device:inode, as systemd documents — each line
// gets the prefix of its pino level and `journalctl -p err` finds the errors; the message stays the JSON object.
// Anywhere else (a terminal, a container's log, the tests) the lines are plain JSON.
import fs = require('node:fs');
import pino from 'pino';
import { maskUrl } from './config';

export type Logger = pino.Logger;

/** pino level → syslog priority: fatal crit(2), error err(3), warn warning(4), info info(6), debug/trace debug(7). */
export function syslogPriority(level: number): number {
  if (level >= 60) return 2;
  if (level >= 50) return 3;
  if (level >= 40) return 4;
  if (level >= 30) return 6;
  return 7;
}

/** True when fd 1 is the stream $JOURNAL_STREAM ("<dev>:<ino>") names. */
function stdoutIsJournal(env: NodeJS.ProcessEnv = process.env): boolean {
  const m = /^(\d+):(\d+)$/.exec(env.JOURNAL_STREAM ?? '');
  if (!m) return false;
  try {
    const st = fs.fstatSync(1, { bigint: true });
    return st.dev === BigInt(m[1]!) && st.ino === BigInt(m[2]!);
  } catch { return false; }
}

const PREFIXES = [2, 3, 4, 6, 7].reduce<Record<number, string>>((o, p) => { o[p] = `<${p}>`; return o; }, {});

const LOG_BUFFER_BYTES = 16 * 1024 * 1024;

/** How long the last lines may take to reach stdout at exit; past it they are given up (stdout may be gone). */
const CLOSE_GRACE_MS = 1000;

type Destination = ReturnType<typeof pino.destination>;
const destinations = new WeakMap<Logger, Destination>();

export function createLogger(level: string): Logger {
  // Lines stdout does not take in time wait in memory up to LOG_BUFFER_BYTES; past it they are dropped, so a slow
  // reader of stdout (a stalled journal, a test harness) and a burst of log lines cannot grow the agent without bound.
  const dest = pino.destination({ fd: 1, sync: false, minLength: 0, maxLength: LOG_BUFFER_BYTES });
  dest.on('error', () => { /* stdout gone: keep running, logging is best effort */ });
  let stream: pino.DestinationStream = dest;
  if (stdoutIsJournal()) {
    // pino sets lastLevel on a stream that asks for metadata, just before each write of one whole line.
    const journal = {
      [Symbol.for('pino.metadata')]: true,
      lastLevel: 30,
      write(line: string) { return dest.write(PREFIXES[syslogPriority(journal.lastLevel)] + line); },
      flush(cb?: (err?: Error) => void) { dest.flush(cb); },
    };
    stream = journal;
  }
  const log = pino({ level, base: { name: 'sdv-agent' }, timestamp: pino.stdTimeFunctions.isoTime, redact: {
    // A url field keeps its host but loses the user and password it may carry (kitManager.url user:pass@…).
    paths: ['*.token', '*.*.token', 'token', 'authorization', 'url', '*.url'],
    censor: (value: unknown, at: string[]) => (at[at.length - 1] === 'url' ? maskUrl(value) : '***'),
  } }, stream);
  destinations.set(log, dest);
  return log;
}

/**
 * Lets the last lines reach stdout, for at most CLOSE_GRACE_MS, then lets go of stdout; call it before the process
 * exits. Left to itself, pino flushes at exit with sonic-boom's flushSync, which retries a write to a stdout whose
 * reader is gone (EPIPE) for ever: the agent would log "stopped" and never exit.
 */
export async function closeLogger(log: Logger): Promise<void> {
  const dest = destinations.get(log);
  if (!dest) return;
  let closed = false;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, CLOSE_GRACE_MS);
    dest.once('close', () => { closed = true; clearTimeout(timer); resolve(); });
    try { dest.end(); } catch { clearTimeout(timer); resolve(); }
  });
  // Past the grace: what is still unsent is dropped, and the exit-time flushSync is off (fd 1 itself stays open).
  if (!closed) { try { dest.destroy(); } catch { /* already gone */ } }
}
