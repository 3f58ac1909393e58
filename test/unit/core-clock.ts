// core/clock.ts: the system clock the agent's timers run on by default — its time is the wall clock's, its timers
// fire and can be cleared, and they never keep the process alive on their own (unref: an agent stops when its
// servers close, not when its last batch window or retry ends).
import t from 'tap';
import { systemClock } from '../../src/core/clock';

t.test('core/clock: the system clock', async (t) => {
  // Its timers keep no process alive (what is tested): this one keeps the test's until they have fired.
  const keep = setInterval(() => {}, 1000);
  t.teardown(() => clearInterval(keep));
  const before = Date.now();
  const now = systemClock.now();
  t.ok(now >= before && now <= Date.now(), 'now() is the wall clock');
  const fired = await new Promise<boolean>((resolve) => {
    const h = systemClock.setTimeout(() => resolve(true), 1) as NodeJS.Timeout;
    t.equal(h.hasRef(), false, 'its timers do not hold the process');
  });
  t.ok(fired, 'a timer fires');
  let ran = false;
  const h = systemClock.setTimeout(() => { ran = true; }, 1);
  systemClock.clearTimeout(h);
  await new Promise((r) => setTimeout(r, 20));
  t.equal(ran, false, 'a cleared timer does not run');
  for (let i = 0; i < 1000; i++) { const x = systemClock.random(); if (!(x >= 0 && x < 1)) { t.fail(`random() gave ${x}`); break; } }
  t.pass('random() stays in [0, 1)');
});
