// The Sampler behind kuksa.val.v2 Subscribe's filter.min_sample_interval (src/signals/grpc/sampling.ts), on a
// manual clock: at most one message per interval, the first change after a quiet interval at once, the changes
// within an interval merged (newest value per signal) and sent when it ends, nothing after close.
import t from 'tap';
import { ManualClock } from '../helpers/manual-clock';
import { Sampler } from '../../src/signals/grpc/sampling';

t.test('Sampler: at most one message per interval, no change lost', async (t) => {
  const clock = new ManualClock();
  const advance = (ms: number) => clock.advance(ms);
  const sent: Array<{ at: number; batch: Record<string, number> }> = [];
  const s = new Sampler<number>(500, (b) => sent.push({ at: clock.now(), batch: Object.fromEntries(b) }), clock);
  s.offer(new Map([['a', 1]]));
  t.same(sent, [{ at: 0, batch: { a: 1 } }], 'the first change goes out at once');
  advance(100); s.offer(new Map([['a', 2]]));
  advance(100); s.offer(new Map([['a', 3], ['b', 1]]));
  t.equal(sent.length, 1, 'changes within the interval are held');
  advance(300);
  t.same(sent[1], { at: 500, batch: { a: 3, b: 1 } }, 'and go out merged when it ends, the newest value per signal');
  advance(2000); s.offer(new Map([['a', 4]]));
  t.same(sent[2], { at: 2500, batch: { a: 4 } }, 'after a quiet interval a change goes out at once again');

  // 40/s for 3 s: at most ceil(3000 / 500) + 1 messages, ending on the last value
  const before = sent.length;
  for (let i = 0; i < 120; i++) { advance(25); s.offer(new Map([['a', 100 + i]])); }
  advance(500);
  const n = sent.length - before;
  t.ok(n <= Math.ceil(3000 / 500) + 1, `${n} messages for 120 changes in 3 s`);
  t.equal(sent.at(-1)!.batch.a, 219, 'the last change arrives');

  s.offer(new Map([['a', 1]]));
  s.close();
  const count = sent.length;
  advance(1000);
  s.offer(new Map([['a', 2]]));
  t.equal(sent.length, count, 'nothing after close');
});

t.test('Sampler.mark: the snapshot a stream sent counts as the first sample', async (t) => {
  const clock = new ManualClock();
  const advance = (ms: number) => clock.advance(ms);
  const sent: number[] = [];
  const s = new Sampler<number>(200, () => sent.push(clock.now()), clock);
  s.mark();
  advance(50); s.offer(new Map([['a', 1]]));
  t.same(sent, [], 'a change right after the snapshot waits');
  advance(150);
  t.same(sent, [200], 'until the interval from the snapshot ends');
});
