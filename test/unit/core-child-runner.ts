// src/core/child-runner.ts, the one bounded runner of one-shot children, and src/core/line-splitter.ts; with real
// processes (sh, sleep, env, cat): exit codes and signals, ENOENT, the environment given and nothing else, the output
// cap, lines, stdin, stop, and the time limit that takes the whole process group (a grandchild too) — also through two
// of its callers that used to leave the grandchild running (the model generator and the interpreter probe).
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runChild } from '../../src/core/child-runner';
import { LineSplitter } from '../../src/core/line-splitter';
import { runModelGenerator } from '../../src/signals/model-generator';
import { probePython } from '../../src/python/probe';
import { eventually, tmpDir, type Scope } from '../helpers/scope';

const ENV = { PATH: process.env.PATH ?? '/usr/bin:/bin' };

/** Gone, or a zombie waiting for its reaper (it runs nothing any more). */
function gone(pid: number): boolean {
  try { return /^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8')); } catch { return true; }
}

/**
 * Runs `attempt` with a time limit that doubles until the run lived long enough to start its grandchild (a loaded box
 * may not get there in the first 150 ms); returns that run's grandchild pid.
 */
async function forked(attempt: (timeoutMs: number) => Promise<number | null>): Promise<number> {
  for (let ms = 150; ; ms *= 2) {
    const pid = await attempt(ms);
    if (pid !== null) return pid;
    if (ms > 60_000) throw new Error('the grandchild was never started');
  }
}

/** A process this test started indirectly is killed at the end whatever happened. */
function reap(t: Scope, pid: number): void {
  t.teardown(() => { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } });
}

t.test('exit codes, signals, both streams', async (t) => {
  const r = await runChild({ file: 'sh', args: ['-c', 'echo out; echo err >&2; exit 3'], env: ENV });
  t.match(r, { exitCode: 3, signal: null, timedOut: false, stopped: false, notInstalled: false, stdout: 'out\n', stderr: 'err\n', droppedBytes: 0 });
  t.equal(r.startError, undefined);
  const ok = await runChild({ file: 'true', args: [], env: ENV });
  t.equal(ok.exitCode, 0);
  const killed = await runChild({ file: 'sh', args: ['-c', 'kill -TERM $$'], env: ENV });
  t.match(killed, { exitCode: null, signal: 'SIGTERM', timedOut: false });
  const merged = await runChild({ file: 'sh', args: ['-c', 'echo a; echo b >&2; echo c'], env: ENV, mergeStderr: true });
  // In the order the agent read them: two pipes ready at once may be read either way round.
  t.same(merged.stdout.split('\n').sort(), ['', 'a', 'b', 'c'], 'mergeStderr: both streams in one');
  t.equal(merged.stderr, '');
});

t.test('a program that is not there: ENOENT, said as not installed; bad options do not throw', async (t) => {
  const r = await runChild({ file: 'sdv-no-such-program', args: ['x'], env: ENV });
  t.match(r, { notInstalled: true, exitCode: null, signal: null, startError: { code: 'ENOENT' } });
  t.match(r.startError!.message, /sdv-no-such-program/);
  const bad = await runChild({ file: 'true', args: ['a\0b'], env: ENV });
  t.ok(bad.startError, 'a NUL in an argument: a start error, not an exception');
  t.equal(bad.notInstalled, false);
});

t.test('the environment is the one given: nothing of the agent\'s is inherited', async (t) => {
  const before = process.env.SDV_AGENT_API_TOKEN;
  process.env.SDV_AGENT_API_TOKEN = 'secret-of-the-agent';
  t.teardown(() => { if (before === undefined) delete process.env.SDV_AGENT_API_TOKEN; else process.env.SDV_AGENT_API_TOKEN = before; });
  const r = await runChild({ file: 'env', args: ['-0'], env: { ...ENV, GIVEN: 'yes' } });
  // tap's process-info hook adds its own names to every child the test process spawns (NODE_OPTIONS, _TAPJS_*).
  const names = r.stdout.split('\0').filter(Boolean).map((l) => l.split('=')[0]!).filter((n) => n !== 'NODE_OPTIONS' && !n.startsWith('_TAPJS_')).sort();
  t.same(names, ['GIVEN', 'PATH'], 'only the names given');
  t.ok(process.env.HOME !== undefined && !names.includes('HOME'), 'not even HOME');
  t.notMatch(r.stdout, /secret-of-the-agent/);
  const cwd = await runChild({ file: 'pwd', args: [], env: ENV });
  t.equal(cwd.stdout, '/\n', 'working folder "/" unless one is given');
});

t.test('output cap: the head or the tail kept, the rest counted; streaming sees everything', async (t) => {
  let streamed = 0;
  const head = await runChild({ file: 'head', args: ['-c', '100000', '/dev/zero'], env: ENV, maxKeptBytes: 1000, onOutput: (_s, c) => { streamed += c.length; } });
  t.equal(head.exitCode, 0);
  t.equal(head.stdout.length, 1000);
  t.equal(head.droppedBytes, 99_000);
  t.equal(streamed, 100_000, 'onOutput gets every byte');
  const tail = await runChild({ file: 'seq', args: ['1', '20000'], env: ENV, maxKeptBytes: 12, keep: 'tail' });
  t.equal(tail.stdout, '19999\n20000\n', 'keep: tail — the last bytes');
  // seq 1 20000 writes 9·2 + 90·3 + 900·4 + 9000·5 + 10001·6 = 108 894 bytes.
  t.equal(tail.droppedBytes, 108_894 - 12);
  const none = await runChild({ file: 'seq', args: ['1', '10'], env: ENV, maxKeptBytes: 0 });
  t.equal(none.stdout, '');
  t.equal(none.droppedBytes, 21);
});

t.test('lines: whole lines per stream, a long one in pieces, a character split between chunks kept whole', async (t) => {
  const got: string[] = [];
  let raw = '';
  const r = await runChild({
    file: 'sh', args: ['-c', 'printf "one\\ntwo\\n"; printf "err\\n" >&2; printf "%0300d" 0; printf "\\nlast"'], env: ENV,
    lines: { streams: ['stdout'], maxChars: 100, onLine: (s, l) => got.push(`${s}:${l.length > 10 ? `${l[0]}×${l.length}` : l}`) },
    onOutput: (s, c) => { raw += `${s}:${c.toString()}`; },
  });
  t.equal(r.exitCode, 0);
  t.same(got, ['stdout:one', 'stdout:two', 'stdout:0×100', 'stdout:0×100', 'stdout:0×100', 'stdout:last']);
  t.equal(raw, 'stderr:err\n', 'a stream not split goes to onOutput');
  const lines: string[] = [];
  const split = new LineSplitter(8, (l) => lines.push(l));
  const euro = Buffer.from('€');
  split.push(Buffer.concat([Buffer.from('a'), euro.subarray(0, 1)]));
  split.push(Buffer.concat([euro.subarray(1), Buffer.from('\r\nb')]));
  split.end();
  t.same(lines, ['a€\r', 'b'], 'the split character whole; "\\r" left to the caller; the unterminated last line at the end');
  t.throws(() => new LineSplitter(0, () => {}), RangeError);
});

t.test('stdin: input written and closed', async (t) => {
  const r = await runChild({ file: 'cat', args: [], env: ENV, input: 'hello\n' });
  t.equal(r.stdout, 'hello\n');
  const noRead = await runChild({ file: 'true', args: [], env: ENV, input: 'x'.repeat(1 << 20) });
  t.equal(noRead.exitCode, 0, 'a program that does not read its input: no EPIPE escapes');
});

t.test('the time limit kills the whole group: the grandchild goes too', async (t) => {
  const grandchild = await forked(async (timeoutMs) => {
    const r = await runChild({ file: 'sh', args: ['-c', 'sleep 30 & echo $!; wait'], env: ENV, timeoutMs });
    t.match(r, { timedOut: true, exitCode: null, signal: 'SIGKILL' });
    const pid = Number(r.stdout.trim());
    if (pid > 0) reap(t, pid);
    return pid > 0 ? pid : null;
  });
  await eventually('the grandchild gone', () => gone(grandchild));
  t.pass('no grandchild outlives the limit');
});

t.test('endGroupOnExit: what the program left running in its group is killed when it ends', async (t) => {
  const left = await runChild({ file: 'sh', args: ['-c', 'sleep 30 >/dev/null 2>&1 & echo $!'], env: ENV });
  const kept = Number(left.stdout.trim());
  reap(t, kept);
  t.equal(left.exitCode, 0);
  t.notOk(gone(kept), 'without endGroupOnExit a daemon of the program stays (a build step may start one for the next)');
  process.kill(kept, 'SIGKILL');
  const r = await runChild({ file: 'sh', args: ['-c', 'sleep 30 >/dev/null 2>&1 & echo $!'], env: ENV, endGroupOnExit: true });
  const pid = Number(r.stdout.trim());
  reap(t, pid);
  await eventually('the left-behind sleep gone', () => gone(pid));
  t.equal(r.exitCode, 0);
});

t.test('a stop (AbortSignal) kills the group; an aborted signal stops at once', async (t) => {
  const ac = new AbortController();
  const run = runChild({ file: 'sleep', args: ['30'], env: ENV, signal: ac.signal });
  setTimeout(() => ac.abort(), 50);
  t.match(await run, { stopped: true, timedOut: false, signal: 'SIGKILL' });
  const already = new AbortController();
  already.abort();
  t.match(await runChild({ file: 'sleep', args: ['30'], env: ENV, signal: already.signal }), { stopped: true, signal: 'SIGKILL' });
});

t.test('run as another user (the agent is root)', { skip: process.getuid?.() !== 0 ? 'needs root' : false }, async (t) => {
  const uid = Number((await runChild({ file: 'id', args: ['-u', 'nobody'], env: ENV })).stdout.trim());
  const gid = Number((await runChild({ file: 'id', args: ['-g', 'nobody'], env: ENV })).stdout.trim());
  const r = await runChild({ file: 'id', args: ['-u'], env: ENV, runAs: { uid, gid } });
  t.equal(Number(r.stdout.trim()), uid);
});

t.test('callers that used to leave the grandchild running: the model generator and the interpreter probe', async (t) => {
  const dir = tmpDir(t, 'sdv-runner-');
  const forks = path.join(dir, 'forks.sh');
  // Starts a grandchild, says its pid in a file, and waits for it (as a tool that runs a helper does).
  fs.writeFileSync(forks, `#!/bin/sh\nsleep 30 &\necho $! > "$0.pid"\nwait\n`, { mode: 0o755 });
  const pidFile = `${forks}.pid`;
  /** The grandchild's pid when the run got as far as starting it. */
  const started = (): number | null => {
    let pid: number;
    try { pid = Number(fs.readFileSync(pidFile, 'utf8').trim()); fs.rmSync(pidFile); } catch { return null; }
    if (!(pid > 0)) return null;
    reap(t, pid);
    return pid;
  };

  const g1 = await forked(async (timeoutMs) => {
    const gen = await runModelGenerator(`sh ${forks}`, path.join(dir, 'vss.json'), dir, () => {}, { timeoutMs, maxLines: 10, maxLineBytes: 100 });
    t.match(gen, { exitCode: null, truncated: false }, 'ended by the time limit');
    return started();
  });
  await eventually('the model generator\'s grandchild gone', () => gone(g1));

  const g2 = await forked(async (timeoutMs) => {
    const probe = await probePython(forks, ENV, dir, null, timeoutMs);
    t.same(probe, { error: `${forks} did not answer within ${timeoutMs / 1000} s` });
    return started();
  });
  await eventually('the probe\'s grandchild gone', () => gone(g2));
});
