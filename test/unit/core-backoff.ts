// src/core/backoff.ts, the one backoff (links, databroker clients, restart policy): random in [minMs, window], the
// window doubling from 2·minMs to maxMs, reset by the Redialer.
import t from 'tap';
import { Backoff, backoffDelay } from '../../src/core/backoff';

t.test('the window grows from 2·minMs to maxMs and stays capped', async (t) => {
  const top = new Backoff(500, 4000, () => 0.999999);
  t.same(Array.from({ length: 8 }, () => top.next()), [1000, 2000, 4000, 4000, 4000, 4000, 4000, 4000], 'at most maxMs, whatever the count');
  const low = new Backoff(500, 4000, () => 0);
  t.same(Array.from({ length: 5 }, () => low.next()), [500, 500, 500, 500, 500], 'never below minMs');
  const tight = new Backoff(500, 500, () => 0.999999);
  t.same([tight.next(), tight.next()], [500, 500], 'minMs = maxMs: a fixed delay');
});

t.test('jitter spreads delays over the whole window, even the first one', async (t) => {
  const firsts = Array.from({ length: 500 }, () => new Backoff(500, 4000).next());
  t.ok(Math.min(...firsts) < 600 && Math.max(...firsts) > 900, `first delays spread over [500, 1000] (${Math.min(...firsts)}..${Math.max(...firsts)}): a fleet does not dial in step`);
  const b = new Backoff(100, 10_000);
  for (let i = 0; i < 20; i++) b.next();
  const seen = Array.from({ length: 500 }, () => b.next());
  t.ok(seen.every((d) => d >= 100 && d <= 10_000));
  t.ok(Math.min(...seen) < 2000 && Math.max(...seen) > 8000, 'spread across [min, max]');
});

t.test('reset starts again from the first window; huge attempt counts stay finite', async (t) => {
  const b = new Backoff(10, 3_600_000, () => 1);
  let finite = true;
  for (let i = 0; i < 2000; i++) finite = finite && Number.isFinite(b.next());
  t.ok(finite);
  t.equal(b.next(), 3_600_000);
  b.reset();
  t.equal(b.attempts, 0);
  t.equal(b.next(), 20);
});

t.test('backoffDelay is the same delay without the state: what the restart policy and the API probe use', async (t) => {
  t.same([0, 1, 2, 3, 10].map((a) => backoffDelay(a, 1000, 60_000, () => 0.999999)), [2000, 4000, 8000, 16000, 60000]);
  t.same([0, 5].map((a) => backoffDelay(a, 1000, 60_000, () => 0)), [1000, 1000], 'never below the configured delay');
  t.equal(backoffDelay(1e6, 100, 5000, () => 0.5), 2550, 'any attempt count stays finite and capped');
});
