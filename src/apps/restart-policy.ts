// What happens when a deployed app's process ends, as a pure function: given the app's restart rule
// (config.restartPolicy never | on-failure | always, restartDelayMs, maxRestarts), its recent history (exits in a row
// without a stable run, and since when the current run counts as steady), how the run ended and the time, say whether
// it is stopped, restarted after which delay, or given up as a crash loop, and in which words. The supervisor acts on
// the answer (supervisor.ts); docs/apps.md describes the policies.
//
// A run that lasted STABLE_MS (not counting a pause: a resume starts the count again) wipes the history, so a
// crash loop is maxRestarts failures in a row with no stable run between them. A stop that was asked for (stop_app,
// a redeploy, an uninstall, new arguments, the agent's shutdown) is never a failure and never restarts.
import { backoffDelay } from '../core/backoff';
import type { AppConfig } from './store';

/** The longest delay before a restart. */
export const BACKOFF_MAX_MS = 60_000;
/** Running this long without exiting counts as stable: the crash-loop count and backoff start again. */
export const STABLE_MS = 60_000;

export type RestartRule = Pick<AppConfig, 'restartPolicy' | 'restartDelayMs' | 'maxRestarts'>;

export interface RunHistory {
  /** Exits in a row without a stable run. */
  failures: number;
  /** Since when the current run counts toward a stable one (its start or its resume); null while none does. */
  steadySince: number | null;
}

export interface RunEnd {
  exitCode: number | null;
  /** The signal that ended the process, if one did. */
  signal: number | null;
  /** A limit or a failed health check that ended the run (app-watch.ts), or null. */
  endedBy: string | null;
  /** A stop was asked for: the end is not a failure. */
  asked: boolean;
}

export interface RestartDecision {
  /**
   * stopped: the stop that was asked for; ended: the policy does not restart it; give-up: a crash loop, not restarted
   * again; restart: started again after `delayMs`.
   */
  action: 'stopped' | 'ended' | 'give-up' | 'restart';
  /** The status the app takes: `stopped` after an asked-for stop or a clean end, `starting` for a restart, else `error`. */
  status: 'stopped' | 'error' | 'starting';
  /** The end counts as a failure: a code other than 0, a signal, a limit, a failed health check (never an asked stop). */
  failed: boolean;
  /** The exit code to record: the process's, or 128 + the signal that killed it. */
  exitCode: number | null;
  /** Failures in a row after this end (what the next end is decided with). */
  failures: number;
  /** The status's reason. */
  reason: string;
  /** The agent's line in the app's console (none for an asked-for stop). */
  note: { stream: 'stdout' | 'stderr'; text: string } | null;
  /** restart: how long the backoff waits; otherwise null. */
  delayMs: number | null;
}

export const freshHistory = (): RunHistory => ({ failures: 0, steadySince: null });

/** The failures in a row as they stand at `now`: none once the current run has been steady for STABLE_MS. */
export function failuresAt(history: RunHistory, now: number): number {
  return history.steadySince !== null && now - history.steadySince >= STABLE_MS ? 0 : history.failures;
}

/** The history at `now` once the current run stops counting (paused, stopped, ended). */
export function settle(history: RunHistory, now: number): RunHistory {
  return { failures: failuresAt(history, now), steadySince: null };
}

/**
 * What to do after the run ended as `end` at `now`. `random` in [0, 1) places the backoff delay in its window
 * (core/backoff.ts: full jitter).
 */
export function restartDecision(rule: RestartRule, history: RunHistory, end: RunEnd, now: number, random: () => number = Math.random): RestartDecision {
  const how = end.endedBy ?? (end.signal ? `killed by signal ${end.signal}` : `exited with code ${end.exitCode}`);
  const exitCode = end.exitCode ?? (end.signal ? 128 + end.signal : null);
  let failures = failuresAt(history, now);
  const said = { exitCode, failures, delayMs: null };
  if (end.asked) return { ...said, action: 'stopped', status: 'stopped', failed: false, reason: `stopped (${how})`, note: null };
  const failed = exitCode !== 0 || end.endedBy !== null;
  const policy = rule.restartPolicy;
  if (!(policy === 'always' || (policy === 'on-failure' && failed))) {
    return { ...said, action: 'ended', status: failed ? 'error' : 'stopped', failed, reason: how, note: { stream: failed ? 'stderr' : 'stdout', text: `[sdv-agent] app ${how}` } };
  }
  failures++;
  if (failures > rule.maxRestarts) {
    const reason = `crash loop: ${how}, ${failures} times in a row without running ${STABLE_MS / 1000} s; not restarted again`;
    return { ...said, failures, action: 'give-up', status: 'error', failed, reason, note: { stream: 'stderr', text: `[sdv-agent] ${reason}` } };
  }
  const delayMs = backoffDelay(failures - 1, rule.restartDelayMs, BACKOFF_MAX_MS, random);
  const reason = `${how}; restarting in ${delayMs} ms (policy ${policy}, attempt ${failures} of ${rule.maxRestarts})`;
  return { exitCode, failures, delayMs, action: 'restart', status: 'starting', failed, reason, note: { stream: 'stderr', text: `[sdv-agent] ${reason}` } };
}
