// The real third-party peers the tests drive, where they live, and one way to run a Python program among them.
// scripts/test-peers.sh puts them under .peers/ (npm test runs it before any test, and stops the run when a peer
// cannot be had); a missing peer fails the test that needs it, naming the script: a test that cannot reach its peer
// has proved nothing, so it never skips.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ROOT } from './agent';
import { ceiling, stopChild, tmpDir, trackChild, type Scope } from './scope';

/** The venv python with grpcio and paho-mqtt (scripts/test-peers.sh). */
export const PEER_PYTHON = path.join(ROOT, '.peers', 'venv', 'bin', 'python');
/**
 * The Velocitas Python SDK 0.14.1 and its pure-Python dependencies, as the sdv-runtime image installs them: a copy
 * scripts/test-peers.sh made from SDV_TEST_VELOCITAS_DIR, ../shared/peers/velocitas-python or pip.
 */
export const VELOCITAS_SDK = path.join(ROOT, '.peers', 'velocitas-python');

/** Throws with what to do when a peer is not installed. */
export function requirePeer(file: string, what: string): string {
  if (!fs.existsSync(file)) throw new Error(`${what} not found at ${file}: run scripts/test-peers.sh (npm test does; it names the ways to provide each peer)`);
  return file;
}

export function peerPython(): string {
  requirePeer(VELOCITAS_SDK, 'the Velocitas SDK peer');
  return requirePeer(PEER_PYTHON, 'the peer Python venv (grpcio, paho-mqtt)');
}

export interface PyRun { proc: ChildProcess; out: string[]; err: string[]; exited: Promise<number | null>; waitOut(re: RegExp, timeoutMs?: number): Promise<string> }

/** Runs `code` with the peer Python, stopped with the scope; stdout/stderr are collected line by line. */
export function runPython(scope: Scope, code: string, opts: { env?: Record<string, string>; cwd?: string; args?: string[] } = {}): PyRun {
  const py = peerPython();
  const dir = opts.cwd ?? tmpDir(scope, 'sdv-py-');
  const file = path.join(dir, 'peer_main.py');
  fs.writeFileSync(file, code);
  const proc = trackChild(spawn(py, ['-u', file, ...(opts.args ?? [])], { cwd: dir, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] }));
  scope.teardown(() => stopChild(proc, 'SIGTERM', 5000));
  const out: string[] = [];
  const err: string[] = [];
  const waiters: Array<{ re: RegExp; resolve: (l: string) => void }> = [];
  const lines = (sink: string[], check: boolean) => {
    let buf = '';
    return (chunk: Buffer) => {
      buf += chunk.toString('utf8');
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const l = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        sink.push(l);
        if (check) for (const w of [...waiters]) if (w.re.test(l)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(l); }
      }
    };
  };
  proc.stdout!.on('data', lines(out, true));
  proc.stderr!.on('data', lines(err, false));
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (c) => resolve(c)));
  const waitOut = (re: RegExp, atLeastMs?: number) => {
    const timeoutMs = ceiling(atLeastMs);
    const found = out.find((l) => re.test(l));
    if (found) return Promise.resolve(found);
    return new Promise<string>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`python printed no line matching ${re} in ${timeoutMs} ms; stdout: ${out.slice(-10).join('\n')}; stderr: ${err.slice(-20).join('\n')}`)), timeoutMs);
      waiters.push({ re, resolve: (l) => { clearTimeout(t); resolve(l); } });
      void exited.then((c) => { clearTimeout(t); reject(new Error(`python exited (${c}) before a line matching ${re}; stdout: ${out.slice(-10).join('\n')}; stderr: ${err.slice(-20).join('\n')}`)); });
    });
  };
  return { proc, out, err, exited, waitOut };
}
