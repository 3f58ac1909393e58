// One supervised process under node-pty: its own session and process group (forkpty makes the child a session
// leader, so pid = pgid), stdout through the pty, stderr through a FIFO of its own so lines keep their stream.
// Signals always go to the whole group, so grandchildren are stopped, paused and killed with their parent.
import * as fs from 'node:fs';
import * as net from 'node:net';
import { spawnSync } from 'node:child_process';
import * as pty from 'node-pty';

/**
 * The wrapper shell scripts are fixed strings: the program and its arguments reach them only as argv ($0, $@) and
 * the FIFO path only through the environment, so no client string is ever parsed by a shell.
 * Why a wrapper that waits: Linux drops what is still in the pty when the last slave fd closes, so a program that
 * prints a burst and exits would lose its tail. The wrapper keeps the slave open, prints an end marker after the
 * program's own output, and waits until the agent (having read everything up to the marker) answers with a newline.
 */
const EXIT_MARKER = '\x1b]sdv-exit;';
const WRAP_TAIL = 's=$?; printf "\\033]sdv-exit;%d\\007" "$s"; read -r _; exit "$s"';
const WRAP_STDERR = `"$0" "$@" 2>"$SDV_STDERR_FIFO"; ${WRAP_TAIL}`;
const WRAP_PLAIN = `"$0" "$@"; ${WRAP_TAIL}`;

export interface SpawnSpec {
  file: string;
  args: string[];
  cwd: string;
  env: Record<string, string>;
  /** Where the stderr FIFO is created (removed again when the process is gone). Omit to let stderr share the pty. */
  stderrFifo?: string;
  uid?: number;
  gid?: number;
}

export interface ExitInfo { exitCode: number | null; signal: number | null }

export interface ProcessEvents {
  onStdout(chunk: string): void;
  onStderr(chunk: string): void;
  onExit(info: ExitInfo): void;
}

export class GroupProcess {
  readonly pid: number;
  private readonly term: pty.IPty;
  private stderrSock: net.Socket | null = null;
  private exited = false;
  /** onExit has been called. */
  private delivered = false;
  private killTimer: NodeJS.Timeout | null = null;
  private readonly exitWaiters: Array<() => void> = [];

  /** Throws when the process cannot be started at all (the caller turns that into an `error` status). */
  constructor(private readonly spec: SpawnSpec, events: ProcessEvents) {
    let file = spec.file;
    let args = spec.args;
    const env = { ...spec.env };
    if (spec.stderrFifo) {
      fs.rmSync(spec.stderrFifo, { force: true });
      const made = spawnSync('mkfifo', ['-m', '0600', spec.stderrFifo], { stdio: 'ignore' });
      if (made.status !== 0) throw new Error(`cannot create the stderr FIFO ${spec.stderrFifo}`);
      if (spec.uid !== undefined) fs.chownSync(spec.stderrFifo, spec.uid, spec.gid ?? -1);
      // O_RDWR on a FIFO never blocks on Linux and means the reader never sees EOF between writers.
      const fd = fs.openSync(spec.stderrFifo, fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
      this.stderrSock = new net.Socket({ fd, readable: true, writable: false });
      this.stderrSock.setEncoding('utf8');
      this.stderrSock.on('data', (c: string) => events.onStderr(c));
      this.stderrSock.on('error', () => {});
      env.SDV_STDERR_FIFO = spec.stderrFifo;
    }
    args = ['-c', spec.stderrFifo ? WRAP_STDERR : WRAP_PLAIN, file, ...args];
    file = '/bin/sh';
    try {
      this.term = pty.spawn(file, args, {
        name: 'dumb', cols: 400, rows: 50, cwd: spec.cwd, env,
        ...(spec.uid !== undefined ? { uid: spec.uid, gid: spec.gid } : {}),
      });
    } catch (e) {
      this.closeStderr();
      throw e;
    }
    this.pid = this.term.pid;
    this.term.onData((c) => this.stdout(c, events));
    this.term.onExit(({ exitCode, signal }) => {
      if (this.held) { events.onStdout(this.held); this.held = ''; }
      this.exited = true;
      if (this.killTimer) clearTimeout(this.killTimer);
      // Whatever of the group is still around (a grandchild that ignored SIGHUP) goes with the leader.
      this.signalGroup('SIGKILL');
      // Let the FIFO drain what the process wrote just before it died.
      setTimeout(() => {
        this.closeStderr();
        this.delivered = true;
        events.onExit({ exitCode: signal ? null : exitCode, signal: signal || null });
        for (const w of this.exitWaiters.splice(0)) w();
      }, 30);
    });
  }

  get alive(): boolean { return !this.exited; }

  /** Output up to the end marker goes to the console; a possible start of the marker is held back a moment. */
  private held = '';
  private ended = false;
  private stdout(chunk: string, events: ProcessEvents): void {
    if (this.ended) return;
    let text = this.held + chunk;
    this.held = '';
    const m = text.indexOf(EXIT_MARKER);
    if (m >= 0) {
      const end = text.indexOf('\x07', m);
      if (end < 0) { if (m > 0) events.onStdout(text.slice(0, m)); this.held = text.slice(m); return; }
      if (m > 0) events.onStdout(text.slice(0, m));
      this.ended = true;
      try { this.term.write('\n'); } catch { /* already gone */ }
      return;
    }
    const esc = text.lastIndexOf('\x1b');
    if (esc >= 0 && EXIT_MARKER.startsWith(text.slice(esc))) { this.held = text.slice(esc); text = text.slice(0, esc); }
    if (text) events.onStdout(text);
  }

  /** kill(-pgid): the whole group. ESRCH (already gone) is fine. */
  signalGroup(sig: NodeJS.Signals): void {
    try { process.kill(-this.pid, sig); } catch { /* gone */ }
  }

  pause(): void { this.signalGroup('SIGSTOP'); }
  resume(): void { this.signalGroup('SIGCONT'); }

  /** SIGTERM to the group (continued first if paused), SIGKILL after graceMs; resolves once the leader is gone. */
  stop(graceMs: number): Promise<void> {
    if (this.delivered) return Promise.resolve();
    const done = new Promise<void>((resolve) => this.exitWaiters.push(resolve));
    if (this.exited) return done; // gone already; onExit is on its way
    this.signalGroup('SIGTERM');
    this.signalGroup('SIGCONT');
    if (!this.killTimer) this.killTimer = setTimeout(() => this.signalGroup('SIGKILL'), graceMs);
    return done;
  }

  private closeStderr(): void {
    if (this.stderrSock) { this.stderrSock.destroy(); this.stderrSock = null; }
    // Runs in the exit path: a FIFO that cannot be removed (read-only dataDir) must not keep the exit from being told.
    if (this.spec.stderrFifo) { try { fs.rmSync(this.spec.stderrFifo, { force: true }); } catch { /* replaced at the next start */ } }
  }
}

/** The pids of one process group, read from /proc (for usage sampling and orphan checks). */
export function groupPids(pgid: number): number[] {
  const out: number[] = [];
  let names: string[];
  try { names = fs.readdirSync('/proc'); } catch { return [pgid]; }
  for (const n of names) {
    if (!/^\d+$/.test(n)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${n}/stat`, 'utf8');
      // Fields after the command name in parentheses: state ppid pgrp …
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(rest[2]) === pgid) out.push(Number(n));
    } catch { /* exited meanwhile */ }
  }
  return out;
}

/** True when pid is alive, leads its own group and carries SDV_APP_ID=appId: a survivor of an earlier agent. */
export function isLeftoverOf(pid: number, appId: string): boolean {
  try {
    const environ = fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
    return environ.includes(`SDV_APP_ID=${appId}`) && groupPids(pid).includes(pid);
  } catch { return false; }
}
