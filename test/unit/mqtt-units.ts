// The broker's pure pieces: topic validation, filter matching (the `$` rule), the subscription tree (same answers as
// the matcher, pruned on removal), the retained store's bounds, and the packet-size guard across chunk boundaries.
import t from 'tap';
import { PacketSizeGuard } from '../../src/mqtt/limits';
import { RetainedStore } from '../../src/mqtt/retained';
import { SubscriptionTree, topicFilterError, topicMatches, topicNameError } from '../../src/mqtt/topics';

t.test('validation', async (t) => {
  t.equal(topicNameError('a/b', 64), null);
  for (const bad of ['', 'a/+', 'a/#', 'a\u0000b', 'x'.repeat(65)]) t.type(topicNameError(bad, 64), 'string', JSON.stringify(bad).slice(0, 20));
  for (const ok of ['#', '+', 'a/+/c', 'a/#', '+/+', '/a', 'a//b']) t.equal(topicFilterError(ok, 64), null, ok);
  for (const bad of ['', 'a/#/b', 'a#', 'a+', '#/a', 'é'.repeat(40)]) t.type(topicFilterError(bad, 64), 'string', bad.slice(0, 10));
});

t.test('the tree answers as the matcher does, keeps the highest QoS, prunes', async (t) => {
  const filters = ['#', '+', 'a/#', 'a/+', 'a/b', 'a/+/c', '+/b/#', '$SYS/#', '/+', 'a/b/c/#'];
  const topics = ['a', 'a/b', 'a/b/c', 'a/x/c', 'b/b/z', '$SYS/x', '$SYS', '/x', 'a/b/c/d'];
  const tree = new SubscriptionTree<string>();
  filters.forEach((f, i) => tree.add(f, f, i % 2));
  for (const topic of topics) {
    const want = filters.filter((f) => topicMatches(f, topic)).sort();
    t.same([...tree.match(topic).keys()].sort(), want, topic);
  }
  t.notOk(topicMatches('#', '$SYS/x'), 'wildcards at the first level do not match $ topics');
  t.ok(topicMatches('$SYS/#', '$SYS/x'));
  t.ok(topicMatches('a/#', 'a'), '# matches the parent level');
  const s = new SubscriptionTree<string>();
  s.add('x/y', 'c1', 0); s.add('x/+', 'c1', 1); s.add('x/y', 'c2', 1);
  t.same([...s.match('x/y')].sort(), [['c1', 1], ['c2', 1]], 'one entry per subscriber, highest QoS');
  t.equal(s.size, 3);
  t.ok(s.remove('x/y', 'c1')); t.notOk(s.remove('x/y', 'c1'), 'removed once');
  s.remove('x/+', 'c1'); s.remove('x/y', 'c2');
  t.equal(s.size, 0);
  t.same((s as unknown as { root: { children: Map<string, unknown> } }).root.children.size, 0, 'empty branches pruned');
});

t.test('retained store bounds', async (t) => {
  const r = new RetainedStore(2, 20);
  t.equal(r.put('a', Buffer.from('1'), 0), 'stored');
  t.equal(r.put('b', Buffer.from('2'), 1), 'stored');
  t.equal(r.put('c', Buffer.from('3'), 0), 'refused', 'count bound');
  t.equal(r.put('a', Buffer.from('x'.repeat(30)), 0), 'refused', 'byte bound, also for a replacement');
  t.equal(r.put('a', Buffer.from('11'), 0), 'replaced');
  t.equal(r.put('a', Buffer.alloc(0), 0), 'cleared');
  t.equal(r.size, 1);
  t.equal(r.totalBytes, 2);
  t.same(r.match('+').map((m) => m.topic), ['b']);
});

t.test('packet size guard: the header decides, whatever the chunking', async (t) => {
  const packet = (len: number) => {
    const head = [0x30];
    let n = len;
    do { let b = n % 128; n = Math.floor(n / 128); if (n > 0) b |= 0x80; head.push(b); } while (n > 0);
    return Buffer.concat([Buffer.from(head), Buffer.alloc(len, 7)]);
  };
  const stream = Buffer.concat([packet(10), packet(200), packet(0), packet(1000)]);
  for (const size of [1, 3, 64, stream.length]) {
    const g = new PacketSizeGuard(1003 + 1);
    let err: string | null = null;
    for (let i = 0; i < stream.length && !err; i += size) err = g.check(stream.subarray(i, i + size));
    t.equal(err, null, `fits, chunks of ${size}`);
    const small = new PacketSizeGuard(500);
    let e2: string | null = null;
    for (let i = 0; i < stream.length && !e2; i += size) e2 = small.check(stream.subarray(i, i + size));
    t.match(e2, /packet of 1003 bytes is over mqtt\.maxPacketBytes \(500\)/, `too big, chunks of ${size}`);
  }
  t.match(new PacketSizeGuard(1e9).check(Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01])), /malformed/);
});
