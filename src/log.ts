// pino JSON lines on stdout. A broken stdout (EPIPE, a closed journal pipe) must not take the agent down.
import pino from 'pino';

export type Logger = pino.Logger;

export function createLogger(level: string): Logger {
  const dest = pino.destination({ fd: 1, sync: false, minLength: 0 });
  dest.on('error', () => { /* stdout gone: keep running, logging is best effort */ });
  return pino({ level, base: { name: 'sdv-agent' }, timestamp: pino.stdTimeFunctions.isoTime, redact: { paths: ['*.token', '*.*.token', 'token', 'authorization'], censor: '***' } }, dest);
}

/** Flush what is buffered before the process exits. */
export function flushLogger(log: Logger): void {
  try { log.flush(); } catch { /* stdout already gone */ }
}
