// The one bounded runner for one-shot child processes (pip, compilers and build steps, the model generator, the
// interpreter probe, health-check commands, the `rm`/`mv`/`head`/`id` run as the app user, systemd-notify). Every run:
// - an argument vector, never a shell (shell: false; the file is looked up on the given environment's PATH);
// - the environment given and nothing else: the agent's own (with its tokens) is never inherited; callers build it
//   from the allow-list of user-code/child-env.ts;
// - optionally as another user (uid/gid: apps.runAs);
// - in a process group of its own, so that the time limit, a stop (AbortSignal) and, when asked, the end of the run
//   kill the whole group: nothing the program started outlives the bound;
// - output kept up to a cap (the head or the tail; the rest only counted), optionally streamed as it comes, raw or in
//   lines of a bounded length;
// - one result that says how it ended: exit code, signal, timed out, stopped, or why it could not start (ENOENT: the
//   program is not installed).
// The long-lived app processes (apps/process.ts, under node-pty) are not one-shot runs and keep their own spawn.
import { spawn, type ChildProcess } from 'node:child_process';
import { LineSplitter } from './line-splitter';

export type Stream = 'stdout' | 'stderr';

export interface ChildRun {
  readonly file: string;
  readonly args: readonly string[];
  /** The child's whole environment. Nothing of the agent's own environment is added to it. */
  readonly env: Readonly<Record<string, string>>;
  /** Working folder; default "/" (never wherever the agent happens to be). */
  readonly cwd?: string;
  /** Run as this user (the agent must be root). */
  readonly runAs?: { readonly uid: number; readonly gid: number } | null;
  /** After this long the whole process group gets SIGKILL and the result says timedOut. None: no limit. */
  readonly timeoutMs?: number;
  /** Written to the child's stdin, which is then closed; without it stdin is /dev/null. */
  readonly input?: string;
  /** Output kept in the result, per stream (or for both together with mergeStderr); default 64 KiB. */
  readonly maxKeptBytes?: number;
  /** Which part of the output is kept when there is more: the first bytes (default) or the last. */
  readonly keep?: 'head' | 'tail';
  /** stderr is kept together with stdout, in the order the agent read them (like `2>&1`); result.stderr is then empty. */
  readonly mergeStderr?: boolean;
  /** Output as it comes, for the streams not split into lines. */
  readonly onOutput?: (stream: Stream, chunk: Buffer) => void;
  /** These streams are handed on in lines of at most maxChars instead (a longer line in pieces). */
  readonly lines?: { readonly streams: readonly Stream[]; readonly maxChars: number; onLine(stream: Stream, line: string): void };
  /** When the program ends, what it left running in its group is killed too (a server a build script started). */
  readonly endGroupOnExit?: boolean;
  /** Aborting kills the whole group (agent shutdown); the result says stopped. */
  readonly signal?: AbortSignal;
}

export interface ChildResult {
  /** The exit code; null when the program was ended by a signal or never started. */
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  /** The time limit ended it. */
  readonly timedOut: boolean;
  /** The AbortSignal ended it. */
  readonly stopped: boolean;
  /** Why the program could not be started (errno code and Node's message); then nothing ran. */
  readonly startError?: { readonly code?: string; readonly message: string };
  /** startError is ENOENT: the program (or the working folder) is not there, i.e. not installed. */
  readonly notInstalled: boolean;
  /** What was kept of each stream (utf-8). */
  readonly stdout: string;
  readonly stderr: string;
  /** Bytes of output not kept (beyond maxKeptBytes). */
  readonly droppedBytes: number;
}

const DEFAULT_KEPT = 64 * 1024;

/** Output kept up to a number of bytes: the first ones, or the last ones. */
class Kept {
  private chunks: Buffer[] = [];
  private size = 0;
  dropped = 0;
  constructor(private readonly max: number, private readonly tail: boolean) {}

  add(c: Buffer): void {
    if (!this.tail) {
      const room = this.max - this.size;
      if (room > 0) { const part = c.length > room ? c.subarray(0, room) : c; this.chunks.push(part); this.size += part.length; }
      this.dropped += Math.max(0, c.length - Math.max(0, room));
      return;
    }
    this.chunks.push(c);
    this.size += c.length;
    while (this.size > this.max && this.chunks.length) {
      const over = this.size - this.max;
      const first = this.chunks[0]!;
      if (first.length <= over) { this.chunks.shift(); this.size -= first.length; this.dropped += first.length; } else {
        this.chunks[0] = first.subarray(over); this.size -= over; this.dropped += over;
      }
    }
  }

  text(): string { return Buffer.concat(this.chunks).toString('utf8'); }
}

/** Runs one program to its end within its bounds. Never rejects: every way it can end is in the result. */
export function runChild(run: ChildRun): Promise<ChildResult> {
  const tail = run.keep === 'tail';
  const max = run.maxKeptBytes ?? DEFAULT_KEPT;
  const kept = { stdout: new Kept(max, tail), stderr: run.mergeStderr ? null : new Kept(max, tail) };
  return new Promise<ChildResult>((resolve) => {
    let timedOut = false;
    let stopped = false;
    let settled = false;
    let timer: NodeJS.Timeout | null = null;
    const finish = (r: Pick<ChildResult, 'exitCode' | 'signal' | 'startError'>) => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      run.signal?.removeEventListener('abort', onAbort);
      const out = kept.stdout;
      const err = kept.stderr;
      resolve({
        ...r, timedOut, stopped, notInstalled: r.startError?.code === 'ENOENT',
        stdout: out.text(), stderr: err?.text() ?? '', droppedBytes: out.dropped + (err?.dropped ?? 0),
      });
    };
    let child: ChildProcess;
    try {
      child = spawn(run.file, [...run.args], {
        cwd: run.cwd ?? '/', env: { ...run.env }, shell: false, detached: true,
        stdio: [run.input !== undefined ? 'pipe' : 'ignore', 'pipe', 'pipe'],
        ...(run.runAs ? { uid: run.runAs.uid, gid: run.runAs.gid } : {}),
      });
    } catch (e) {
      // Bad options (a uid out of range, a NUL in an argument): nothing started.
      finish({ exitCode: null, signal: null, startError: { code: (e as NodeJS.ErrnoException).code, message: (e as Error).message } });
      return;
    }
    const killGroup = () => {
      if (child.pid === undefined) return;
      try { process.kill(-child.pid, 'SIGKILL'); } catch { try { child.kill('SIGKILL'); } catch { /* gone */ } }
    };
    function onAbort() { stopped = true; killGroup(); }
    child.on('error', (e: NodeJS.ErrnoException) => {
      // Only a failed start ends the run here; an error after it (a kill that raced the exit) waits for 'close'.
      if (child.pid === undefined) finish({ exitCode: null, signal: null, startError: { code: e.code, message: e.message } });
    });
    if (run.input !== undefined) {
      child.stdin!.on('error', () => { /* a program that exits without reading: its close says why */ });
      child.stdin!.end(run.input);
    }
    const splitters: Partial<Record<Stream, LineSplitter>> = {};
    for (const stream of ['stdout', 'stderr'] as const) {
      const keep = stream === 'stderr' && kept.stderr ? kept.stderr : kept.stdout;
      const lines = run.lines?.streams.includes(stream) ? (splitters[stream] = new LineSplitter(run.lines.maxChars, (l) => run.lines!.onLine(stream, l))) : null;
      child[stream]!.on('data', (c: Buffer) => {
        keep.add(c);
        if (lines) lines.push(c);
        else run.onOutput?.(stream, c);
      });
    }
    if (run.timeoutMs !== undefined) timer = setTimeout(() => { timedOut = true; killGroup(); }, run.timeoutMs);
    if (run.signal?.aborted) onAbort();
    else run.signal?.addEventListener('abort', onAbort, { once: true });
    child.on('close', (exitCode, signal) => {
      if (run.endGroupOnExit) killGroup();
      splitters.stdout?.end();
      splitters.stderr?.end();
      finish({ exitCode, signal });
    });
  });
}
