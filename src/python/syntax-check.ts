// Does this Python source compile? Asked of apps.python itself (its grammar is the one the app will run under), as
// apps.runAs, with the source on stdin: `python -m ast` (Python 3.9+) parses it and never runs a line of it (the
// interpreter's `-c` would be shorter, but `-c` is kept to apps/process.ts's one constant wrapper:
// test/unit/no-shell.ts). Used by the one-step deploy (commands/deploy-one-step.ts), whose client is told at once
// that its code cannot run instead of being told "started" about an app that dies on its first line.
import { runChild } from '../core/child-runner';
import { CommandError } from '../core/errors';
import { inheritedEnv } from '../user-code/child-env';
import type { RunAs } from '../user-code/run-as';

const TIMEOUT_MS = 10_000;
/**
 * Larger sources are not checked (the run says what is wrong with them): `-m ast` prints the whole tree, some ten times
 * the source, and a check should cost a fraction of a second, not seconds.
 */
const MAX_CHECKED_BYTES = 512 * 1024;
/** The last line of the traceback when the source is what failed (not the interpreter). */
const COMPILE_ERROR = /^(SyntaxError|IndentationError|TabError|ValueError): .+/;

/** Checks at once: each is an interpreter (~10 MB, a core for ~0.1 s); deploys beyond wait their turn. */
const MAX_RUNNING = 2;
/** Deploys waiting for a check beyond this are told to send again (LIMIT), not queued. */
const MAX_WAITING = 256;
let running = 0;
const waiting: Array<() => void> = [];

/** Checks running now (tests). */
export const checksRunning = (): number => running;

/** A turn to run a check: at once while fewer than MAX_RUNNING run, else after the ones before it. */
function turn(): Promise<void> {
  if (running < MAX_RUNNING) { running++; return Promise.resolve(); }
  if (waiting.length >= MAX_WAITING) return Promise.reject(new CommandError('LIMIT', `${MAX_WAITING} deploys are waiting for their code's check; send it again shortly`));
  return new Promise((resolve) => waiting.push(() => { running++; resolve(); }));
}

function done(): void {
  running--;
  waiting.shift()?.();
}

/**
 * The compile error of `code` as one line ("SyntaxError: unterminated string literal (detected at line 1)", with the
 * line when the message has none), or null when it compiles. An interpreter that cannot be started, does not answer or
 * fails otherwise decides nothing (null): the run itself will say what is wrong with it.
 */
export async function pythonSyntaxError(python: string, code: string, runAs: RunAs | null): Promise<string | null> {
  if (Buffer.byteLength(code) > MAX_CHECKED_BYTES) return null;
  await turn();
  // The dump of the tree on stdout is not wanted, the traceback's end on stderr is: the last 4 KiB of each are kept.
  const r = await runChild({ file: python, args: ['-I', '-m', 'ast'], env: inheritedEnv(), runAs, input: code, timeoutMs: TIMEOUT_MS, maxKeptBytes: 4096, keep: 'tail' })
    .finally(done);
  if (r.exitCode !== 1) return null;
  const lines = r.stderr.trim().split('\n');
  const last = lines.pop()?.trim() ?? '';
  if (!COMPILE_ERROR.test(last)) return null;
  const at = lines.map((l) => /^\s*File "<stdin>", line (\d+)/.exec(l)).filter((m) => m !== null).pop();
  return (at && !/line \d+/.test(last) ? `${last} (line ${at[1]})` : last).slice(0, 500);
}
