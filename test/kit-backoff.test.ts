// Reconnect delays: exponential growth, full jitter within [minMs, cap], capped at maxMs, reset.
import t from 'tap';
import { Backoff } from '../src/doors/backoff';

t.test('grows from minMs to maxMs and stays capped', async (t) => {
  const top = new Backoff(500, 30_000, () => 0.999999);
  const delays = Array.from({ length: 12 }, () => top.next());
  t.same(delays.slice(0, 7), [500, 1000, 2000, 4000, 8000, 16_000, 30_000]);
  t.ok(delays.every((d) => d >= 500 && d <= 30_000));
  const low = new Backoff(500, 30_000, () => 0);
  t.same(Array.from({ length: 5 }, () => low.next()), [500, 500, 500, 500, 500], 'full jitter reaches down to minMs');
});

t.test('jitter spreads delays over the whole window', async (t) => {
  const b = new Backoff(100, 10_000);
  for (let i = 0; i < 20; i++) b.next();
  const seen = Array.from({ length: 500 }, () => b.next());
  t.ok(seen.every((d) => d >= 100 && d <= 10_000));
  t.ok(Math.min(...seen) < 2000 && Math.max(...seen) > 8000, 'spread across [min, max]');
});

t.test('reset starts again from minMs; huge attempt counts stay finite', async (t) => {
  const b = new Backoff(10, 3_600_000, () => 1);
  let finite = true;
  for (let i = 0; i < 2000; i++) finite = finite && Number.isFinite(b.next());
  t.ok(finite);
  t.equal(b.next(), 3_600_000);
  b.reset();
  t.equal(b.attempts, 0);
  t.equal(b.next(), 10);
});
