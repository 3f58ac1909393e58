// Runs the configured kuksa.modelGenerator after generate/revert_vehicle_model (e.g. a Velocitas model generator),
// streaming its output lines. The command line is split on whitespace and spawned without a shell; the client's model
// never reaches the argument vector: the generator reads the model file named by SDV_VSS_FILE.
import { spawn } from 'node:child_process';
import { inheritedEnv } from '../user-code/child-env';

/** A generator is often a Python tool: it keeps the agent's HOME and Python settings (and nothing secret). */
const GENERATOR_ENV = ['HOME', 'PYTHONPATH', 'PYTHONHOME', 'VIRTUAL_ENV'];

export const GENERATOR_LIMITS = { timeoutMs: 300_000, maxLines: 2000, maxLineBytes: 4096 } as const;

export async function runModelGenerator(command: string, vssFile: string, cwd: string, onLine: (stream: 'stdout' | 'stderr', line: string) => void): Promise<{ exitCode: number | null; truncated: boolean; error?: string }> {
  const argv = command.trim().split(/\s+/).filter(Boolean);
  if (!argv.length) return { exitCode: null, truncated: false, error: 'kuksa.modelGenerator is empty' };
  return new Promise((resolve) => {
    let lines = 0;
    let truncated = false;
    const child = spawn(argv[0]!, argv.slice(1), { cwd, env: { ...inheritedEnv(GENERATOR_ENV), SDV_VSS_FILE: vssFile }, stdio: ['ignore', 'pipe', 'pipe'] });
    const timer = setTimeout(() => child.kill('SIGKILL'), GENERATOR_LIMITS.timeoutMs);
    for (const stream of ['stdout', 'stderr'] as const) {
      let buf = '';
      child[stream]!.setEncoding('utf8');
      child[stream]!.on('data', (chunk: string) => {
        buf += chunk;
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0 || buf.length > GENERATOR_LIMITS.maxLineBytes) {
          const cut = nl >= 0 ? nl : GENERATOR_LIMITS.maxLineBytes;
          const line = buf.slice(0, cut);
          buf = buf.slice(nl >= 0 ? nl + 1 : cut);
          if (++lines > GENERATOR_LIMITS.maxLines) { truncated = true; continue; }
          onLine(stream, line);
        }
      });
      child[stream]!.on('end', () => { if (buf && ++lines <= GENERATOR_LIMITS.maxLines) onLine(stream, buf); });
    }
    child.on('error', (e) => { clearTimeout(timer); resolve({ exitCode: null, truncated, error: `${argv[0]}: ${e.message}` }); });
    child.on('close', (code) => { clearTimeout(timer); resolve({ exitCode: code, truncated }); });
  });
}
