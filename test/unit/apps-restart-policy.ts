// src/apps/restart-policy.ts: what follows an app's end, for every policy (never, on-failure, always), the backoff,
// the crash loop after maxRestarts failures with no stable run between them, and a stop that was asked for. Pure: the
// time and the jitter are arguments.
import t from 'tap';
import { BACKOFF_MAX_MS, failuresAt, freshHistory, restartDecision, settle, STABLE_MS, type RestartRule, type RunEnd } from '../../src/apps/restart-policy';

const rule = (restartPolicy: RestartRule['restartPolicy'], maxRestarts = 5, restartDelayMs = 1000): RestartRule => ({ restartPolicy, maxRestarts, restartDelayMs });
const exit = (exitCode: number | null, more: Partial<RunEnd> = {}): RunEnd => ({ exitCode, signal: null, endedBy: null, asked: false, ...more });
const killed = (signal: number, more: Partial<RunEnd> = {}): RunEnd => ({ exitCode: null, signal, endedBy: null, asked: false, ...more });
const NOW = 1_000_000;
const top = () => 0.999999; // the top of the backoff window
const low = () => 0; // its bottom: restartDelayMs

t.test('never: a clean exit is stopped, a failure is an error, neither restarts', async (t) => {
  t.same(restartDecision(rule('never'), freshHistory(), exit(0), NOW), {
    action: 'ended', status: 'stopped', failed: false, exitCode: 0, failures: 0, reason: 'exited with code 0',
    note: { stream: 'stdout', text: '[sdv-agent] app exited with code 0' }, delayMs: null,
  });
  t.same(restartDecision(rule('never'), freshHistory(), exit(3), NOW), {
    action: 'ended', status: 'error', failed: true, exitCode: 3, failures: 0, reason: 'exited with code 3',
    note: { stream: 'stderr', text: '[sdv-agent] app exited with code 3' }, delayMs: null,
  });
  t.match(restartDecision(rule('never'), freshHistory(), killed(9), NOW), { action: 'ended', status: 'error', exitCode: 137, reason: 'killed by signal 9' }, 'a signal is recorded as 128 + its number');
  t.match(restartDecision(rule('never'), freshHistory(), exit(0, { endedBy: 'memory limit (128 MiB)' }), NOW), { action: 'ended', status: 'error', failed: true, reason: 'memory limit (128 MiB)' }, 'a limit that ended the run is a failure, said in its words');
});

t.test('on-failure: restarts a failure, not a clean exit', async (t) => {
  t.match(restartDecision(rule('on-failure'), freshHistory(), exit(0), NOW), { action: 'ended', status: 'stopped', failed: false, delayMs: null });
  t.same(restartDecision(rule('on-failure'), freshHistory(), exit(1), NOW, top), {
    action: 'restart', status: 'starting', failed: true, exitCode: 1, failures: 1, delayMs: 2000,
    reason: 'exited with code 1; restarting in 2000 ms (policy on-failure, attempt 1 of 5)',
    note: { stream: 'stderr', text: '[sdv-agent] exited with code 1; restarting in 2000 ms (policy on-failure, attempt 1 of 5)' },
  });
  t.match(restartDecision(rule('on-failure'), freshHistory(), killed(11), NOW, low), { action: 'restart', exitCode: 139, delayMs: 1000, reason: /^killed by signal 11; restarting in 1000 ms/ });
  t.match(restartDecision(rule('on-failure'), freshHistory(), exit(0, { endedBy: 'unhealthy: 3 health checks in a row failed (x)' }), NOW), { action: 'restart', failed: true, reason: /^unhealthy: 3 health checks in a row failed \(x\); restarting/ }, 'an unhealthy app is a failure');
});

t.test('always: restarts a clean exit too (which still counts as succeeded)', async (t) => {
  t.match(restartDecision(rule('always'), freshHistory(), exit(0), NOW, low), { action: 'restart', status: 'starting', failed: false, exitCode: 0, failures: 1, delayMs: 1000, reason: 'exited with code 0; restarting in 1000 ms (policy always, attempt 1 of 5)' });
  t.match(restartDecision(rule('always'), freshHistory(), exit(2), NOW), { action: 'restart', failed: true });
});

t.test('the backoff: a jittered window from restartDelayMs that doubles per failure in a row, capped at 60 s', async (t) => {
  const delays: number[] = [];
  let history = freshHistory();
  for (let i = 0; i < 9; i++) {
    const d = restartDecision(rule('always', 20, 1000), history, exit(1), NOW + i, top);
    delays.push(d.delayMs!);
    history = { failures: d.failures, steadySince: null };
  }
  t.same(delays, [2000, 4000, 8000, 16_000, 32_000, BACKOFF_MAX_MS, BACKOFF_MAX_MS, BACKOFF_MAX_MS, BACKOFF_MAX_MS]);
  t.equal(restartDecision(rule('always', 20, 1000), { failures: 7, steadySince: null }, exit(1), NOW, low).delayMs, 1000, 'never below restartDelayMs');
  const spread = Array.from({ length: 200 }, (_, i) => restartDecision(rule('always', 20, 1000), { failures: 3, steadySince: null }, exit(1), NOW, () => i / 200).delayMs!);
  t.ok(Math.min(...spread) === 1000 && Math.max(...spread) > 15_000, `the fourth restart anywhere in [1000, 16000] (${Math.min(...spread)}..${Math.max(...spread)})`);
});

t.test('give up after maxRestarts failures in a row without a stable run; a stable run starts the count again', async (t) => {
  const r = rule('on-failure', 3);
  let history = freshHistory();
  const actions: string[] = [];
  for (let i = 0; i < 4; i++) {
    const d = restartDecision(r, history, exit(1), NOW + i * 1000);
    actions.push(d.action);
    // each restart runs a little (less than STABLE_MS) and fails again
    history = { failures: d.failures, steadySince: NOW + i * 1000 + 10 };
  }
  t.same(actions, ['restart', 'restart', 'restart', 'give-up']);
  t.same(restartDecision(r, { failures: 3, steadySince: NOW - 1000 }, exit(1), NOW), {
    action: 'give-up', status: 'error', failed: true, exitCode: 1, failures: 4, delayMs: null,
    reason: 'crash loop: exited with code 1, 4 times in a row without running 60 s; not restarted again',
    note: { stream: 'stderr', text: '[sdv-agent] crash loop: exited with code 1, 4 times in a row without running 60 s; not restarted again' },
  });
  t.match(restartDecision(r, { failures: 3, steadySince: NOW - STABLE_MS }, exit(1), NOW), { action: 'restart', failures: 1, reason: /attempt 1 of 3/ }, 'a run of STABLE_MS wipes the history');
  t.match(restartDecision(r, { failures: 3, steadySince: NOW - STABLE_MS + 1 }, exit(1), NOW), { action: 'give-up' }, 'one ms short of it does not');
  t.match(restartDecision(r, { failures: 3, steadySince: null }, exit(1), NOW), { action: 'give-up' }, 'a run that does not count (paused) does not');
  t.match(restartDecision(rule('always', 0), freshHistory(), exit(0), NOW), { action: 'give-up', failures: 1 }, 'maxRestarts 0: the first end gives up');
});

t.test('a pause or a stop settles the history: the steady time before it counts only if it reached STABLE_MS', async (t) => {
  t.equal(failuresAt({ failures: 4, steadySince: NOW - STABLE_MS }, NOW), 0);
  t.equal(failuresAt({ failures: 4, steadySince: NOW - 5 }, NOW), 4);
  t.same(settle({ failures: 4, steadySince: NOW - 2 * STABLE_MS }, NOW), { failures: 0, steadySince: null }, 'stable before the pause: wiped');
  t.same(settle({ failures: 4, steadySince: NOW - 5 }, NOW), { failures: 4, steadySince: null }, 'paused early: kept, and the pause itself does not count');
  t.same(settle({ failures: 2, steadySince: null }, NOW + 10 * STABLE_MS), { failures: 2, steadySince: null }, 'time while nothing counts changes nothing');
});

t.test('a stop that was asked for is no failure and never restarts, whatever the policy and the exit', async (t) => {
  for (const policy of ['never', 'on-failure', 'always'] as const) {
    t.same(restartDecision(rule(policy), { failures: 2, steadySince: null }, killed(15, { asked: true }), NOW), {
      action: 'stopped', status: 'stopped', failed: false, exitCode: 143, failures: 2, reason: 'stopped (killed by signal 15)', note: null, delayMs: null,
    }, policy);
  }
  t.match(restartDecision(rule('always'), freshHistory(), exit(7, { asked: true }), NOW), { action: 'stopped', exitCode: 7, reason: 'stopped (exited with code 7)' }, "the app's own exit code on a graceful stop");
  t.match(restartDecision(rule('always'), freshHistory(), exit(0, { asked: true, endedBy: 'memory limit (64 MiB)' }), NOW), { action: 'stopped', reason: 'stopped (memory limit (64 MiB))' });
});
