// Runs the configured kuksa.modelGenerator after generate/revert_vehicle_model (e.g. a Velocitas model generator),
// streaming its output lines. The command line is split on whitespace and run without a shell (core/child-runner: its
// own process group, which the time limit kills whole); the client's model never reaches the argument vector: the
// generator reads the model file named by SDV_VSS_FILE.
import { runChild } from '../core/child-runner';
import { inheritedEnv } from '../user-code/child-env';

/** A generator is often a Python tool: it keeps the agent's HOME and Python settings (and nothing secret). */
const GENERATOR_ENV = ['HOME', 'PYTHONPATH', 'PYTHONHOME', 'VIRTUAL_ENV'];

export const GENERATOR_LIMITS = { timeoutMs: 300_000, maxLines: 2000, maxLineBytes: 4096 } as const;

export async function runModelGenerator(command: string, vssFile: string, cwd: string, onLine: (stream: 'stdout' | 'stderr', line: string) => void,
  limits: { readonly timeoutMs: number; readonly maxLines: number; readonly maxLineBytes: number } = GENERATOR_LIMITS): Promise<{ exitCode: number | null; truncated: boolean; error?: string }> {
  const argv = command.trim().split(/\s+/).filter(Boolean);
  if (!argv.length) return { exitCode: null, truncated: false, error: 'kuksa.modelGenerator is empty' };
  let lines = 0;
  let truncated = false;
  const r = await runChild({
    file: argv[0]!, args: argv.slice(1), cwd, env: { ...inheritedEnv(GENERATOR_ENV), SDV_VSS_FILE: vssFile },
    timeoutMs: limits.timeoutMs, maxKeptBytes: 0,
    lines: {
      streams: ['stdout', 'stderr'], maxChars: limits.maxLineBytes,
      onLine: (stream, line) => { if (++lines > limits.maxLines) truncated = true; else onLine(stream, line); },
    },
  });
  if (r.startError) return { exitCode: null, truncated, error: `${argv[0]}: ${r.startError.message}` };
  return { exitCode: r.exitCode, truncated };
}
