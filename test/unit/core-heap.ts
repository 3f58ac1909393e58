// core/heap.ts: the collections that settle the heap after start — they run (the heap they leave is smaller than the
// garbage made before them), the done callback gets what they did, gc() stays exposed to no other context, and a
// cancel stops them.
import t from 'tap';
import { runInNewContext } from 'node:vm';
import { settleHeapLater, type HeapSettled } from '../../src/core/heap';

t.test('core/heap: settleHeapLater', async (t) => {
  t.equal(runInNewContext('typeof gc'), 'undefined', 'no gc() in a context before');
  // garbage: ~20 MB of small objects no longer referenced
  let junk: unknown[] | null = [];
  for (let i = 0; i < 200_000; i++) junk.push({ i, s: `x${i}`, a: [i, i] });
  junk = null;
  const usedBefore = process.memoryUsage().heapUsed;
  // The settle's timers keep no process alive (by design); this one keeps the test's until they have run.
  const keep = setInterval(() => {}, 1000);
  t.teardown(() => clearInterval(keep));
  const settled = await new Promise<HeapSettled>((resolve) => settleHeapLater(10, 10, resolve));
  t.ok(settled.gcMs > 0, `two collections ran (${settled.gcMs.toFixed(1)} ms)`);
  t.ok(process.memoryUsage().heapUsed < usedBefore, 'the heap in use is smaller after them');
  for (const k of ['heapTotalBefore', 'heapTotalAfter', 'rssBefore', 'rssAfter'] as const) t.ok(settled[k] > 0, `${k} reported`);
  t.equal(runInNewContext('typeof gc'), 'undefined', 'no gc() in a context made after (--expose-gc taken back)');

  let ran = false;
  const cancel = settleHeapLater(5, 5, () => { ran = true; });
  cancel();
  await new Promise((r) => setTimeout(r, 50));
  t.equal(ran, false, 'a cancelled settle does not run');
});
