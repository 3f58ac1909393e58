// Watched variables: the shipped tracer runs a real python program; changes arrive over the private channel (not
// stdout) and new values are applied while it runs.
import t from 'tap';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MAX_WATCHED, splitWatchVars, TraceChannel, tracerScript } from '../src/apps/tracer';
import { tmpDir } from './helpers/agent';
import { CEILING_MS, stopChild, trackChild } from './helpers/scope';

t.test('splitWatchVars keeps the python variable names and skips the rest', async (t) => {
  t.same(splitWatchVars('a b,c'), { names: ['a', 'b', 'c'], skipped: [], skippedCount: 0 });
  t.same(splitWatchVars('speed, gear, speed'), { names: ['speed', 'gear'], skipped: [], skippedCount: 0 }, 'the frontend joins names with ", "; duplicates once');
  t.same(splitWatchVars(['counter']).names, ['counter']);
  t.same(splitWatchVars('a; import os'), { names: ['os'], skipped: ['a;', 'import'], skippedCount: 2 }, 'not a name, and a keyword');
  t.same(splitWatchVars(['__import__("os")', 'ok']), { names: ['ok'], skipped: ['__import__("os")'], skippedCount: 1 });
  t.same(splitWatchVars(3), { names: [], skipped: ['3'], skippedCount: 1 }, 'not a list at all: nothing watched, never a throw');
  const many = splitWatchVars(Array.from({ length: MAX_WATCHED + 15 }, (_, i) => `v${i}`));
  t.equal(many.names.length, MAX_WATCHED);
  t.equal(many.skippedCount, 15, 'beyond the bound: skipped and counted');
  t.equal(many.skipped.length, 10, 'the skipped list shown is bounded');
});

t.test('a running program reports changes and accepts new values', async (t) => {
  const dir = tmpDir(t, 'sdv-trace-test-');
  const main = path.join(dir, 'main.py');
  fs.writeFileSync(main, [
    'import time',
    'counter = 0',
    'status = "idle"',
    'big = list(range(100000))',
    'while counter < 1000:',
    '    counter += 1',
    '    if counter == 10_000: break',
    '    time.sleep(0.05)',
    '    if status == "stop": break',
    'print("done", counter, status)',
  ].join('\n'));
  const seen: Array<Record<string, unknown>> = [];
  let wake: (() => void) | null = null;
  const ch = await TraceChannel.open(['counter', 'status', 'big'], (v) => { seen.push(v); wake?.(); });
  t.teardown(() => ch.close());
  const waitFor = async (pred: () => boolean) => {
    const end = Date.now() + CEILING_MS;
    while (!pred()) {
      if (Date.now() > end) throw new Error(`not seen: ${JSON.stringify(seen).slice(0, 500)}`);
      await new Promise<void>((r) => { wake = r; setTimeout(r, 200); });
    }
  };
  const proc = trackChild(spawn('python3', ['-u', tracerScript(), main], { env: { ...process.env, ...ch.env }, stdio: ['ignore', 'pipe', 'pipe'] }));
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d) => { stdout += d; });
  proc.stderr.on('data', (d) => { stderr += d; });
  const exited = new Promise<number | null>((r) => proc.on('close', r));
  t.teardown(() => stopChild(proc, 'SIGKILL'));

  await waitFor(() => seen.some((v) => typeof v.counter === 'number' && (v.counter as number) >= 2));
  t.ok(seen.some((v) => v.status === 'idle'), 'initial string value reported');
  const bigRep = seen.find((v) => 'big' in v)?.big;
  t.equal(typeof bigRep, 'string', 'a large value is sent as a capped repr');
  t.ok(String(bigRep).length <= 1030, 'size-capped');
  const counts = seen.filter((v) => typeof v.counter === 'number').map((v) => v.counter as number);
  t.ok(counts.every((c, i) => i === 0 || c > counts[i - 1]!), 'only changes are reported');

  t.same(ch.set({ counter: '500', nope: 1 }), ['counter'], 'only watched names are sent');
  await waitFor(() => seen.some((v) => typeof v.counter === 'number' && (v.counter as number) >= 500));
  ch.set({ status: 'stop' });
  t.equal(await exited, 0, `program ended normally: ${stderr}`);
  t.match(stdout, /^done \d+ stop\n$/, 'stdout carries only the program output');
  t.notMatch(stdout, /vars/);
});

t.test('an exception in the program: traceback without tracer frames, exit 1', async (t) => {
  const dir = tmpDir(t, 'sdv-trace-test-');
  const main = path.join(dir, 'main.py');
  fs.writeFileSync(main, 'x = 1\nraise ValueError("boom")\n');
  const proc = trackChild(spawn('python3', ['-u', tracerScript(), main], { stdio: ['ignore', 'pipe', 'pipe'] }));
  t.teardown(() => stopChild(proc, 'SIGKILL'));
  let stderr = '';
  proc.stderr.on('data', (d) => { stderr += d; });
  const code = await new Promise<number | null>((r) => proc.on('close', r));
  t.equal(code, 1);
  t.match(stderr, /ValueError: boom/);
  t.notMatch(stderr, /sdv_trace\.py/);
});
