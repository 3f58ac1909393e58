// What a test leaves behind: nothing. Every temp folder and child process a test makes is tied to a Scope (a tap
// test, or a Cleanup outside tap) whose teardown removes or stops it, registered *before* the thing is made, so a
// start that fails half-way is cleaned up too. Children still alive when the test process exits are killed there as
// a last resort; scripts/test.mjs then fails the run if anything of it (a process, a temp entry) outlived the suite.
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/**
 * How long a test waits for something that must happen (a log line, a reply, a frame, a registration) before it gives
 * up: every wait helper waits at least this long, whatever shorter time a caller names. Generous on purpose: tests
 * decide on what arrives, not on how fast (rates and delays are benchmark figures), and a busy 2-core box can be slow;
 * a test only waits this long when it is about to fail. SDV_TEST_CEILING_MS changes it.
 */
export const CEILING_MS = Number(process.env.SDV_TEST_CEILING_MS) || 60_000;

/** The time a wait may take: what the caller asked, but never less than the ceiling. */
export const ceiling = (ms?: number): number => Math.max(ms ?? 0, CEILING_MS);

/**
 * Polls `pred` (every `stepMs`) until it holds; throws naming `what` after at least the ceiling. For conditions no
 * event announces (a process gone, a file written, a count reached).
 */
export async function eventually(what: string, pred: () => boolean | Promise<boolean>, opts: { atLeastMs?: number; stepMs?: number } = {}): Promise<void> {
  const end = Date.now() + ceiling(opts.atLeastMs);
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`${what}: not seen in ${ceiling(opts.atLeastMs)} ms`);
    await new Promise((r) => setTimeout(r, opts.stepMs ?? 50));
  }
}

/** `p`, or a rejection naming `what` after at least the ceiling (the timer is cleared either way). */
export async function within<T>(p: Promise<T>, what: string, atLeastMs?: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = ceiling(atLeastMs);
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: not seen in ${limit} ms`)), limit); })]);
  } finally { clearTimeout(timer); }
}

/** A tap Test, or anything else that runs teardowns (tap runs them last-registered first, one after another). */
export interface Scope { teardown(fn: () => unknown): void }

/** A Scope for code outside a tap test (the benchmark): run() calls the teardowns, last registered first. */
export class Cleanup implements Scope {
  private readonly fns: Array<() => unknown> = [];
  teardown(fn: () => unknown): void { this.fns.push(fn); }
  async run(): Promise<void> {
    for (let fn = this.fns.pop(); fn; fn = this.fns.pop()) {
      try { await fn(); } catch { /* the others still run */ }
    }
  }
}

/** Removes a path whatever is in it (files of the run user, read-only folders); never throws. */
export function removeTree(p: string): void {
  try { fs.rmSync(p, { recursive: true, force: true, maxRetries: 3 }); } catch { /* reported by the leftovers check */ }
}

/** A fresh temp folder, removed when the scope ends. */
export function tmpDir(scope: Scope, prefix = 'sdv-test-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  scope.teardown(() => removeTree(dir));
  return dir;
}

const live = new Set<ChildProcess>();
let exitHook = false;

/**
 * Remembers a child until it exits. When the test process itself exits (a test that threw past its teardowns, tap's
 * timeout) the survivors are killed: the suite must never leave a process behind.
 */
export function trackChild<P extends ChildProcess>(proc: P): P {
  if (proc.exitCode !== null || proc.signalCode !== null) return proc;
  live.add(proc);
  proc.once('exit', () => live.delete(proc));
  if (!exitHook) {
    exitHook = true;
    process.once('exit', () => { for (const p of live) { try { p.kill('SIGKILL'); } catch { /* gone */ } } });
  }
  return proc;
}

/** Resolves when the child has exited (at once if it already has). */
export function exited(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => proc.once('exit', () => resolve()));
}

/** Stops a child: `signal`, then SIGKILL after `graceMs`; resolves once it is gone. */
export async function stopChild(proc: ChildProcess, signal: NodeJS.Signals = 'SIGTERM', graceMs = 20_000): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const gone = exited(proc);
  try { proc.kill(signal); } catch { /* gone */ }
  const t = setTimeout(() => { try { proc.kill('SIGKILL'); } catch { /* gone */ } }, graceMs);
  await gone;
  clearTimeout(t);
}
