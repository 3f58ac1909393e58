// The line splitter on the real event loop (its idle flush is about how the loop reads) and the ad-hoc runner with
// real processes (the ring and the subscriber cursors are in the unit tier: test/unit/apps-console.ts).
import t from 'tap';
import * as net from 'node:net';
import { LineSplitter, MAX_LINE_CHARS } from '../src/apps/console';
import { AdhocRuns } from '../src/apps/adhoc';
import { loadConfig } from '../src/config';
import { createLogger } from '../src/log';
import { eventually, tmpDir } from './helpers/scope';


t.test('LineSplitter: \\n and \\r\\n, partial line after idle, long lines cut', async (t) => {
  const out: string[] = [];
  const s = new LineSplitter((l) => out.push(l), 30);
  s.push('a\r\nb\nc');
  t.same(out, ['a', 'b']);
  s.push('d');
  await eventually('the partial line flushed after idle', () => out.length === 3);
  t.same(out, ['a', 'b', 'cd'], 'partial flushed after idle');
  s.push('x'.repeat(MAX_LINE_CHARS + 5) + '\n');
  t.equal(out.length, 5);
  t.equal(out[3]!.length, MAX_LINE_CHARS);
});

t.test('LineSplitter: a line whose rest is already waiting is not cut when the event loop was busy past the idle time', async (t) => {
  // A busy agent runs its expired timers before it reads what arrived meanwhile: the partial line's idle timer must
  // not fire between a chunk that ends mid-line and the chunk waiting to be read (seen under load: "li" and "ne 123").
  const server = net.createServer();
  t.teardown(() => server.close());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const accepted = new Promise<net.Socket>((r) => server.once('connection', r));
  const writer = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  t.teardown(() => writer.destroy());
  await new Promise<void>((r) => writer.once('connect', r));
  const reader = await accepted;
  t.teardown(() => reader.destroy());
  const out: string[] = [];
  const s = new LineSplitter((l) => out.push(l), 30);
  reader.setEncoding('utf8');
  reader.on('data', (c: string) => s.push(c));
  s.push('li');
  writer.write('ne 1\n');
  const end = Date.now() + 200;
  while (Date.now() < end) { /* the loop is busy: the idle timer expires while "ne 1\n" waits in the socket */ }
  await eventually('the line arrived', () => out.length > 0);
  s.flush();
  t.same(out, ['line 1'], 'one line, not cut at the idle timer');
});

t.test('LineSplitter: a long chunk cut mid-line waits for its rest longer than a prompt does', async (t) => {
  // The terminal cuts a large write into chunks of about 4 KiB; a writer paused between two of them (a busy box, a
  // CPU limit) must not see its line cut. A short tail (a prompt) still shows after the short idle time.
  const out: string[] = [];
  const s = new LineSplitter((l) => out.push(l), 30, 60_000);
  t.teardown(() => s.flush());
  s.push(`${'x'.repeat(2000)}\nline 12`);
  await new Promise((r) => setTimeout(r, 200));
  s.push('34\nName: ');
  await eventually('the prompt shown after the short idle time', () => out.length === 3);
  t.same(out.map((l) => l.slice(0, 10)), ['xxxxxxxxxx', 'line 1234', 'Name: '], 'the cut line whole, then the prompt');
});

t.test('ad-hoc runs: output by lines, replace by owner, list, lifetime cap', async (t) => {
  const dataDir = tmpDir(t, 'adhoc-');
  const { config } = loadConfig(null, { SDV_AGENT_RUNTIME_DATA_DIR: dataDir, SDV_AGENT_APPS_ADHOC_MAX_S: '1', SDV_AGENT_APPS_STOP_GRACE_MS: '500' });
  const runs = new AdhocRuns(config, createLogger('silent'));
  t.teardown(() => runs.stopAll());
  // The python run has no cap of 1 s: python's own start can take longer than that on a loaded box.
  const uncapped = new AdhocRuns(loadConfig(null, { SDV_AGENT_RUNTIME_DATA_DIR: dataDir }).config, createLogger('silent'));
  t.teardown(() => uncapped.stopAll());
  let out = '';
  const exit1 = new Promise<number | null>((resolve) => {
    void uncapped.start({ owner: 'o1', name: 'hello.py', kind: 'python', code: 'import sys\nprint("hi")\nprint("oops", file=sys.stderr)\n', onOutput: (s) => { out += s; }, onExit: resolve });
  });
  t.equal(await exit1, 0);
  t.equal(out, 'hi\noops\n');

  let exited2: number | null | undefined;
  await runs.start({ owner: 'o2', name: 'long', kind: 'binary', path: '/bin/sh', args: ['-c', 'sleep 30'], onOutput: () => {}, onExit: (c) => { exited2 = c; } });
  const listed = runs.list();
  t.match(listed, [{ appName: 'long', request_from: 'o2', door: 'kit', from: Number }]);
  t.equal(listed.length, 1);
  t.ok(Math.abs(listed[0]!.from - Date.now() / 1000) < 60, 'from is the start time in epoch seconds');
  let out3 = '';
  let resolve3: (c: number | null) => void = () => {};
  const exit3 = new Promise<number | null>((r) => { resolve3 = r; });
  await runs.start({ owner: 'o2', name: 'capped', kind: 'binary', path: '/bin/sh', args: ['-c', 'echo start; sleep 30'], onOutput: (s) => { out3 += s; }, onExit: (c) => resolve3(c) });
  t.not(exited2, undefined, 'the previous run of the same owner was stopped');
  t.same(runs.list().map((r) => r.appName), ['capped']);
  await exit3;
  t.match(out3, /start\n[\s\S]*reached the 1 s limit/);
  t.same(runs.list(), []);
  t.equal(await runs.stopOwner('o2'), false);
});
