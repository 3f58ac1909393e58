// The broker's in-process pieces: topic validation (levels too), filter matching (the `$` rule), the subscription
// tree (same answers as the matcher, pruned on removal), the retained store's bounds, the packet-size guard across
// chunk boundaries, the slots (who gets in, who gives way), the outbox's backpressure on a real socket that is not
// read, and the kernel's answer to "is this client one of the agent's processes" for a real child process.
import t from 'tap';
import { spawn } from 'node:child_process';
import * as net from 'node:net';
import { AgentPeers, endpoint, procEndpoint } from '../../src/mqtt/agent-peers';
import { FIXED_LIMITS, PacketSizeGuard } from '../../src/mqtt/limits';
import { Outbox, WRITE_COST } from '../../src/mqtt/outbox';
import { RetainedStore } from '../../src/mqtt/retained';
import { Slots } from '../../src/mqtt/slots';
import { SubscriptionTree, topicFilterError, topicMatches, topicNameError } from '../../src/mqtt/topics';

t.test('validation', async (t) => {
  t.equal(topicNameError('a/b', 64), null);
  for (const bad of ['', 'a/+', 'a/#', 'a\u0000b', 'x'.repeat(65)]) t.type(topicNameError(bad, 64), 'string', JSON.stringify(bad).slice(0, 20));
  for (const ok of ['#', '+', 'a/+/c', 'a/#', '+/+', '/a', 'a//b']) t.equal(topicFilterError(ok, 64), null, ok);
  for (const bad of ['', 'a/#/b', 'a#', 'a+', '#/a', 'é'.repeat(40)]) t.type(topicFilterError(bad, 64), 'string', bad.slice(0, 10));
  t.equal(topicFilterError('a' + '/'.repeat(31), 1024, 32), null, '32 levels (31 empty ones) are a filter');
  t.match(topicFilterError('a' + '/'.repeat(32), 1024, 32), /33 levels \(at most 32\)/, 'the 33rd level is refused');
  t.match(topicFilterError('c0f0'.padEnd(1024, '/'), 1024, FIXED_LIMITS.maxFilterLevels), /1021 levels/, 'the red team\'s filter');
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
  t.ok((s as unknown as { root: { empty: boolean } }).root.empty, 'empty branches pruned');
  // Siblings: the first child lives in the node's fields, the others in a map; removing the first moves one up.
  const w = new SubscriptionTree<string>();
  for (const f of ['a/x', 'b/x', 'c/x', '+/x']) w.add(f, f, 0);
  t.ok(w.remove('a/x', 'a/x'));
  t.same([...w.match('b/x').keys()].sort(), ['+/x', 'b/x']);
  t.same([...w.match('c/x').keys()].sort(), ['+/x', 'c/x']);
  t.same([...w.match('a/x').keys()], ['+/x']);
  for (const f of ['c/x', '+/x', 'b/x']) t.ok(w.remove(f, f), `removed ${f}`);
  t.ok((w as unknown as { root: { empty: boolean } }).root.empty, 'every sibling pruned');
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

t.test('slots: shared first, the kept share only for the agent\'s processes, the oldest waiting socket gives way', async (t) => {
  const slots = new Slots<{ drop(why: string): void; dropped?: string }>(10, 25);
  t.same([slots.shared, slots.reserved], [8, 2], '25 % of 10, rounded down');
  for (let i = 0; i < 8; i++) { t.equal(slots.choose(null, null), 'shared'); slots.take('shared'); }
  t.equal(slots.choose(null, null), 'identify', 'shared slots taken: ask the kernel');
  t.equal(slots.choose('other', null), 'full', 'anyone else is refused');
  t.equal(slots.choose('other', 'shared'), 'shared', 'a client taking over its own id keeps a slot');
  t.equal(slots.choose('app', null), 'app');
  slots.take('app'); slots.take('app');
  t.equal(slots.choose('app', null), 'full', 'the kept share is bounded too');
  slots.release('shared');
  t.equal(slots.choose(null, null), 'shared');
  t.notOk(slots.refusing(), 'nothing refused yet');
  slots.refuse('test');
  t.ok(slots.refusing() && !slots.refusing(Date.now() + FIXED_LIMITS.refusalWindowMs), 'refusing for the window after a refusal');

  const waiting = Array.from({ length: FIXED_LIMITS.maxWaiting + 3 }, (_, i) => ({ i, dropped: '', drop(why: string) { this.dropped = why; } }));
  const s2 = new Slots<(typeof waiting)[number]>(10, 0);
  for (const w of waiting) s2.accepted(w);
  t.same(waiting.filter((w) => w.dropped).map((w) => w.i), [0, 1, 2], 'the three oldest gave way');
  t.equal(s2.waitingCount, FIXED_LIMITS.maxWaiting);
  s2.connecting(waiting[5]!);
  t.equal(s2.waitingCount, FIXED_LIMITS.maxWaiting - 1, 'a CONNECT ends the wait');
  t.equal(s2.refused, 3);
});

t.test('outbox: a peer that reads nothing is paused, then stalled; one that reads again resumes', async (t) => {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => server.close());
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  t.teardown(() => client.destroy());
  const [socket] = await Promise.all([new Promise<net.Socket>((r) => server.once('connection', r)), new Promise((r) => client.once('connect', r))]);
  t.teardown(() => socket.destroy());
  client.pause();
  const events: string[] = [];
  let stalled = false;
  const box = new Outbox(socket, 64 * 1024, 300, {
    backpressure: (p) => events.push(p ? 'pause' : 'resume'),
    stalled: () => { stalled = true; },
  });
  const reply = Buffer.from([0xd0, 0x00]);
  t.equal(box.buffered, 0);
  box.push(reply);
  t.equal(box.buffered, 2 + WRITE_COST, 'a packet not yet written counts its bytes and one write');
  // Replies until the kernel's buffers are full and the outbox holds more than its bound.
  for (let i = 0; i < 20_000 && !box.paused; i++) {
    for (let j = 0; j < 1000; j++) box.push(reply);
    await new Promise((r) => setImmediate(r));
  }
  t.ok(box.paused, `paused with ${box.buffered} bytes owed`);
  t.same(events, ['pause']);
  const deadline = Date.now() + 20_000;
  while (!stalled && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  t.ok(stalled, 'reported stalled when the peer kept reading nothing');
  client.resume();
  while (box.paused && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  t.same(events, ['pause', 'resume'], 'read again: resumed');
});

t.test('agent peers: a child process is one of ours, this process and others are not', async (t) => {
  t.equal(procEndpoint('0100007F:0CEA'), endpoint('127.0.0.1', 3306), 'IPv4 as /proc prints it');
  t.equal(procEndpoint('0000000000000000FFFF00000100007F:0CEA'), endpoint('::ffff:127.0.0.1', 3306), 'IPv4-mapped');
  t.equal(procEndpoint('00000000000000000000000001000000:0050'), endpoint('::1', 80), 'IPv6 loopback');
  t.equal(endpoint('fe80::1:2', 1), 'fe800000000000000000000000010002:1');
  t.equal(endpoint('nonsense', 1), null);
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => server.close());
  const port = (server.address() as net.AddressInfo).port;
  const accepted: net.Socket[] = [];
  server.on('connection', (s) => { accepted.push(s); s.on('error', () => {}); });
  t.teardown(() => { for (const s of accepted) s.destroy(); });
  const peers = new AgentPeers();
  // A child (and its child) of this process, holding a connection open.
  const child = spawn('sh', ['-c', `exec node -e "require('net').connect(${port}, '127.0.0.1'); setTimeout(() => {}, 60000)"`], { stdio: 'ignore' });
  t.teardown(() => child.kill('SIGKILL'));
  const deadline = Date.now() + 20_000;
  while (accepted.length < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  t.equal(await peers.kindOf(accepted[0]!), 'app', 'a descendant of this process');
  // This process's own client end: the process itself is not its own descendant.
  const own = net.connect(port, '127.0.0.1');
  t.teardown(() => own.destroy());
  while (accepted.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  t.equal(await peers.kindOf(accepted[1]!), 'other', 'the root itself');
  // Another root (a sibling of the child): the child is not below it.
  const sibling = spawn('sleep', ['60'], { stdio: 'ignore' });
  t.teardown(() => sibling.kill('SIGKILL'));
  t.equal(await new AgentPeers(sibling.pid!).kindOf(accepted[0]!), 'other', 'not below another process');
  // Several asking at once are answered by one look at the tables.
  t.same(await Promise.all([peers.kindOf(accepted[0]!), peers.kindOf(accepted[1]!)]), ['app', 'other']);
});
