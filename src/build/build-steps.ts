// The steps of a project build (cmake configure, cmake --build; cargo build; one compiler run, also a single file's
// build), each a child started by core/child-runner: an argument vector (never a shell), as apps.runAs, in its own
// process group. Bounds for the whole sequence: one
// time limit (build.timeoutS: the group is killed and the build fails) and one output cap (build.maxOutputBytes:
// beyond it output is dropped with one marker line). What a step leaves running in its group when it ends (a server a
// build script started) is killed before the next step.
import { runChild, type Stream } from '../core/child-runner';
import type { RunAs } from '../user-code/run-as';

/** The program a step needs is not on this box (ENOENT). */
export class ToolchainMissing extends Error { override name = 'ToolchainMissing'; }

export interface BuildStep {
  /** How the user knows the program when it is missing: `C++ compiler "g++" (build.cxx)`. */
  readonly what: string;
  readonly file: string;
  readonly args: readonly string[];
  readonly cwd: string;
  /** stdout is not shown but handed over line by line (cargo's JSON messages); stderr is shown. */
  readonly onStdoutLine?: (line: string) => void;
}

export interface StepsOptions {
  readonly timeoutMs: number;
  readonly maxOutputBytes: number;
  readonly runAs: RunAs | null;
  readonly env: Record<string, string>;
  readonly onOutput: (text: string) => void;
  /** What the output cap's marker calls the output: "build output" unless said. */
  readonly outputName?: string;
}

export interface StepsResult {
  /** 0 when every step succeeded, else the failed step's exit code (1 when killed by a signal). */
  readonly code: number;
  readonly failed?: BuildStep;
  /** The last few KiB of the output shown, to recognise a failure (cargo's offline message). */
  readonly tail: string;
}

export class BuildTimeout extends Error { override name = 'BuildTimeout'; }

const TAIL_BYTES = 8 * 1024;
/** stdout lines handed to onStdoutLine are at most this long (a longer one is handed on in pieces). */
const MAX_STDOUT_LINE = 256 * 1024;

/** Runs the steps in order until one fails. Rejects with ToolchainMissing (a program not there), BuildTimeout or the spawn error. */
export async function runSteps(steps: readonly BuildStep[], opts: StepsOptions): Promise<StepsResult> {
  const deadline = Date.now() + opts.timeoutMs;
  let sent = 0;
  let capped = false;
  let tail = '';
  const show = (chunk: Buffer) => {
    const text = chunk.toString('utf8');
    tail = (tail + text).slice(-TAIL_BYTES);
    if (capped) return;
    if (sent + chunk.length > opts.maxOutputBytes) {
      capped = true;
      opts.onOutput(chunk.subarray(0, Math.max(0, opts.maxOutputBytes - sent)).toString('utf8') + `\n[sdv-agent] ${opts.outputName ?? 'build output'} truncated at ${opts.maxOutputBytes} bytes (build.maxOutputBytes)\n`);
      return;
    }
    sent += chunk.length;
    opts.onOutput(text);
  };
  for (const step of steps) {
    const code = await runStep(step, deadline, opts, show);
    if (code !== 0) return { code, failed: step, tail };
  }
  return { code: 0, tail };
}

async function runStep(step: BuildStep, deadline: number, opts: StepsOptions, show: (c: Buffer) => void): Promise<number> {
  const onLine = step.onStdoutLine;
  const r = await runChild({
    file: step.file, args: step.args, cwd: step.cwd, env: opts.env, runAs: opts.runAs,
    timeoutMs: Math.max(0, deadline - Date.now()), maxKeptBytes: 0,
    // What the step left behind in its group goes with it.
    endGroupOnExit: true,
    onOutput: (_stream, c) => show(c),
    ...(onLine ? { lines: { streams: ['stdout'] as const, maxChars: MAX_STDOUT_LINE, onLine: (_stream: Stream, line: string) => onLine(line) } } : {}),
  });
  if (r.startError) {
    throw r.notInstalled ? new ToolchainMissing(`${step.what} not found: install it or set the path in the config`)
      : new Error(`cannot start ${step.what}: ${r.startError.message}`);
  }
  if (r.timedOut) throw new BuildTimeout(`the build took longer than ${Math.round(opts.timeoutMs / 1000)} s (build.timeoutS) and was stopped`);
  return r.exitCode ?? 1;
}
