// The console's ring and its subscriber cursors (src/apps/console.ts) on a manual clock: a subscriber is a cursor
// into the ring, so a congested one is sent nothing, is looked at again when its client drains (or on the clock's
// retry when the client cannot tell), learns how many lines it lost and goes on with the oldest line still held; a
// replay from a seq is framed by console_replay_begin/end; a subscriber hears nothing before its subscribe reply went
// out; the log rotates at its bound.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AppConsole, LineRing, SEQ_BLOCK } from '../../src/apps/console';
import { ManualClock } from '../helpers/manual-clock';
import { MemoryClient } from '../helpers/memory-client';
import { tmpDir } from '../helpers/scope';

const consoleIn = (t: Parameters<typeof tmpDir>[0], lines: number, clock: ManualClock, logMaxBytes = 1 << 20): { con: AppConsole; dir: string } => {
  const dir = tmpDir(t, 'console-');
  const con = new AppConsole({ appId: 'A', lines, bytes: 1 << 20, logFile: path.join(dir, 'console.log'), logMaxBytes }, clock);
  t.teardown(() => con.close());
  return { con, dir };
};
const outputs = (c: MemoryClient) => c.frames.filter((f) => f.type === 'console_output').map((f) => f.output);

t.test('LineRing: line cap, byte cap, lookup by seq, tail', async (t) => {
  const r = new LineRing(5, 1_000_000);
  for (let i = 1; i <= 8; i++) r.add('stdout', `l${i}`, 0);
  t.equal(r.firstSeq, 4);
  t.equal(r.lastSeq, 8);
  t.equal(r.get(4)!.text, 'l4');
  t.equal(r.get(3), undefined);
  t.same(r.tail(2).map((l) => l.text), ['l7', 'l8']);
  const b = new LineRing(1000, 1000);
  for (let i = 0; i < 100; i++) b.add('stderr', 'x'.repeat(100), 0);
  t.ok(b.size < 10, `byte cap holds (size ${b.size})`);
  const c = new LineRing(3, 1000);
  c.startAfter(41);
  t.equal(c.add('stdout', 'next life', 0).seq, 42, 'numbering continues after an earlier life');
});

t.test('a congested subscriber is sent nothing, is retried on the clock, then learns what it lost', async (t) => {
  const clock = new ManualClock();
  const { con, dir } = consoleIn(t, 10, clock, 4096);
  const c = new MemoryClient('c1');
  con.startDelivery(c.id, con.subscribe(c));
  con.write('stdout', 'one\n');
  t.same(outputs(c), ['one']);
  t.equal(c.frames[0]!.seq, 1);
  c.congestedNow = true;
  for (let i = 0; i < 25; i++) con.write('stdout', `n${i}\n`);
  t.equal(c.frames.length, 1, 'nothing sent while congested');
  t.equal(clock.pending, 2, 'one retry timer for the subscriber (and the log write), not one per line');
  c.congestedNow = false;
  clock.advance(25);
  t.match(c.frames[1], { type: 'console_dropped', appId: 'A', count: 15 }, 'the lines the ring moved past, counted');
  t.same(outputs(c).slice(1), Array.from({ length: 10 }, (_, i) => `n${i + 15}`), 'then the oldest line still held onwards');
  t.same(c.frames.slice(2).map((f) => f.seq), Array.from({ length: 10 }, (_, i) => i + 17), 'seq numbers as the ring gave them');
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < 40; i++) con.write('stderr', `${'y'.repeat(50)}\n`);
    clock.advance(200);
  }
  t.ok(fs.existsSync(path.join(dir, 'console.log.1')), 'log rotated');
  t.ok(fs.statSync(path.join(dir, 'console.log')).size <= 4096, 'current log within logMaxBytes');
});

t.test('a congested subscriber whose client tells when it drains is pumped at the drain, not on a timer', async (t) => {
  const clock = new ManualClock();
  const { con } = consoleIn(t, 100, clock);
  const waiting = new Set<() => void>();
  const c = Object.assign(new MemoryClient('drains'), {
    whenDrained(fn: () => void) { waiting.add(fn); return () => { waiting.delete(fn); }; },
  });
  con.startDelivery(c.id, con.subscribe(c));
  c.congestedNow = true;
  for (let i = 0; i < 5; i++) con.write('stdout', `d${i}\n`);
  t.equal(outputs(c).length, 0, 'nothing sent while congested');
  t.equal(waiting.size, 1, 'one wait for the drain, not one per line');
  t.equal(clock.pending, 1, 'no retry timer (only the log write)');
  c.congestedNow = false;
  for (const fn of [...waiting]) { waiting.delete(fn); fn(); }
  t.same(outputs(c), ['d0', 'd1', 'd2', 'd3', 'd4'], 'everything held goes at the drain');
  c.congestedNow = true;
  con.write('stdout', 'later\n');
  t.equal(waiting.size, 1, 'congested again: waits again');
  c.close();
  t.equal(waiting.size, 0, 'a client that goes: its wait is disposed');
});

t.test('a replay from a seq: begin, the held lines after it, end, then live lines; nothing before the reply', async (t) => {
  const clock = new ManualClock();
  clock.t = Date.parse('2026-12-07T12:00:00Z');
  const { con } = consoleIn(t, 6, clock);
  for (let i = 1; i <= 8; i++) con.write('stdout', `l${i}\n`);
  const c = new MemoryClient('late');
  const replay = con.subscribe(c, 1);
  t.same(replay, { fromSeq: 3, toSeq: 8 }, 'since 1: from the oldest line held (3) to the newest (8)');
  t.equal(c.frames.length, 0, 'nothing before the subscribe reply went out');
  con.startDelivery(c.id, replay);
  t.match(c.frames[0], { type: 'console_replay_begin', appId: 'A', fromSeq: 3, toSeq: 8 });
  t.same(c.frames.slice(1).map((f) => f.type === 'console_output' ? f.output : f.type), ['l3', 'l4', 'l5', 'l6', 'l7', 'l8', 'console_replay_end'], 'the replay, then its end');
  t.equal(c.frames[1]!.timestamp, '2026-12-07T12:00:00.000Z', 'lines stamped on the clock');
  con.write('stderr', 'live\n');
  t.match(c.frames.at(-1), { type: 'console_output', stream: 'stderr', output: 'live', seq: 9 }, 'then live lines');

  const fresh = new MemoryClient('fresh');
  const none = con.subscribe(fresh);
  t.equal(none, null, 'no since: no replay');
  con.write('stdout', 'between\n');
  t.same(outputs(fresh), [], 'a line between subscribe and its reply waits');
  con.startDelivery(fresh.id, none);
  con.write('stdout', 'after\n');
  t.same(outputs(fresh), ['between', 'after'], 'then it comes, and what follows');

  t.ok(con.unsubscribe(fresh.id));
  con.write('stdout', 'gone\n');
  t.same(outputs(fresh), ['between', 'after'], 'nothing after unsubscribe');
  c.close();
  t.equal(con.subscriberCount, 0, 'a closed client is no subscriber');
});

t.test('the seq mark: reserved a block ahead, rewritten in place, read by the next life; never held open', async (t) => {
  const clock = new ManualClock();
  const dir = tmpDir(t, 'console-');
  const opts = { appId: 'A', lines: 100, bytes: 1 << 20, logFile: path.join(dir, 'console.log'), logMaxBytes: 1 << 20 };
  const mark = path.join(dir, 'console.log.seq');
  const openOnMark = () => fs.readdirSync('/proc/self/fd').filter((fd) => { try { return fs.readlinkSync(`/proc/self/fd/${fd}`) === mark; } catch { return false; } }).length;
  const con = new AppConsole(opts, clock);
  con.write('stdout', 'one\n');
  t.equal(Number(fs.readFileSync(mark, 'utf8')), SEQ_BLOCK, 'the first line reserves the first block');
  for (let i = 0; i < SEQ_BLOCK + 5; i++) con.write('stdout', `l${i}\n`);
  t.equal(Number(fs.readFileSync(mark, 'utf8')), 2 * SEQ_BLOCK, 'line SEQ_BLOCK + 1 reserves the next block');
  t.equal(fs.statSync(mark).size, 17, 'one fixed-width number: a rewrite in place leaves nothing of a longer one');
  t.equal(openOnMark(), 0, 'not held open (a file open for writing keeps its file system from a read-only remount)');
  con.close();
  fs.writeFileSync(mark, `${2 * SEQ_BLOCK}\n`); // an older agent's mark, shorter than the fixed width
  const next = new AppConsole(opts, clock);
  t.teardown(() => next.close());
  next.write('stdout', 'next life\n');
  t.equal(next.ring.lastSeq, 2 * SEQ_BLOCK + 1, 'numbering restarts above the mark (a gap, never a repeat)');
  t.equal(Number(fs.readFileSync(mark, 'utf8')), 3 * SEQ_BLOCK, 'and reserves its own block, over the shorter mark');
});
