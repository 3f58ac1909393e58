// One supervised process under node-pty: its own session and process group (forkpty makes the child a session
// leader, so pid = pgid), stdout through the pty, stderr through a FIFO of its own so lines keep their stream.
// Pause, resume and the final kill go to the whole group, so grandchildren go with their parent; the polite SIGTERM
// of a stop goes to the program itself (see stop()).
import fs = require('node:fs');
import net = require('node:net');
import { spawnSync } from 'node:child_process';
import { cryptoModule } from '../core/crypto-module';
import type * as Pty from 'node-pty';

// node-pty's native addon is loaded with the first app, not at start: an idle box runs none (issue 30).
let ptyModule: typeof Pty | null = null;
const pty = (): typeof Pty => (ptyModule ??= require('node-pty') as typeof Pty);

/**
 * The wrapper shell scripts are fixed strings: the program and its arguments reach them only as argv ($0, $@) and
 * the FIFO path only through the environment, so no client string is ever parsed by a shell.
 * Why a wrapper that waits: Linux drops what is still in the pty when the last slave fd closes, so a program that
 * prints a burst and exits would lose its tail. The wrapper keeps the slave open, prints an end marker after the
 * program's own output, and waits until the agent (having read everything up to the marker) answers with a newline.
 * The marker carries a random token of this run (`ESC ] sdv-exit;<token>;<status> BEL`), handed to the wrapper in
 * the environment and unset before the program starts: output that happens to contain a marker (a log of another
 * run, a binary dump) cannot end the forwarding of this one. A program that digs the token out of its parent's
 * /proc/<pid>/environ can end its own forwarding early; that harms only its own run.
 */
const EXIT_MARKER = '\x1b]sdv-exit;';
/** The variable that hands the token to the wrapper (WRAP_HEAD reads and unsets it). */
const MARKER_ENV = 'SDV_END_MARKER';
/** Highest signal number (SIGRTMAX on Linux): a shell reports death by signal N as status 128+N. */
const MAX_SIGNAL = 64;
const TERM_RETRY_MS = 10;
// Then the rlimits of limits/rlimit.ts (its RLIMIT_SH, written out: no value is interpolated into shell text), where no
// cgroup bounds the app; they come, as numbers, through the environment.
const WRAP_HEAD = `sdv_end=$SDV_END_MARKER; unset SDV_END_MARKER; [ -n "$SDV_RLIMIT_AS_KB" ] && ulimit -v "$SDV_RLIMIT_AS_KB" 2>/dev/null; [ -n "$SDV_RLIMIT_NPROC" ] && { ulimit -u "$SDV_RLIMIT_NPROC" 2>/dev/null || ulimit -p "$SDV_RLIMIT_NPROC" 2>/dev/null; }; unset SDV_RLIMIT_AS_KB SDV_RLIMIT_NPROC;`;
const WRAP_TAIL = 's=$?; printf "\\033]sdv-exit;%s;%d\\007" "$sdv_end" "$s"; read -r _; exit "$s"';
const WRAP_STDERR = `${WRAP_HEAD} "$0" "$@" 2>"$SDV_STDERR_FIFO"; ${WRAP_TAIL}`;
const WRAP_PLAIN = `${WRAP_HEAD} "$0" "$@"; ${WRAP_TAIL}`;

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
  private readonly term: Pty.IPty;
  /** This run's end marker up to the status: `ESC ] sdv-exit;<token>;`. */
  private readonly marker: string;
  private stderrSock: net.Socket | null = null;
  private exited = false;
  /** onExit has been called. */
  private delivered = false;
  private killTimer: NodeJS.Timeout | null = null;
  private termRetry: NodeJS.Timeout | null = null;
  private readonly exitWaiters: Array<() => void> = [];

  /** Throws when the process cannot be started at all (the caller turns that into an `error` status). */
  constructor(private readonly spec: SpawnSpec, events: ProcessEvents) {
    let file = spec.file;
    let args = spec.args;
    const env = { ...spec.env };
    this.marker = `${EXIT_MARKER}${cryptoModule().randomBytes(12).toString('hex')};`;
    env[MARKER_ENV] = this.marker.slice(EXIT_MARKER.length, -1);
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
      this.term = pty().spawn(file, args, {
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
      if (this.termRetry) clearTimeout(this.termRetry);
      // Whatever of the group is still around (a grandchild that ignored SIGHUP) goes with the leader.
      this.signalGroup('SIGKILL');
      // Let the FIFO drain what the process wrote just before it died.
      setTimeout(() => {
        this.closeStderr();
        this.delivered = true;
        events.onExit(this.exitInfo(exitCode, signal));
        for (const w of this.exitWaiters.splice(0)) w();
      }, 30);
    });
  }

  get alive(): boolean { return !this.exited; }

  /**
   * The program's own exit, not the wrapper's: the status in the end marker once the wrapper printed it. Without a
   * marker the wrapper itself was killed (the SIGKILL after the grace, a kill from outside), and the signal node-pty
   * reports is what ended the group. A status above 128 is how a shell says "killed by signal status-128",
   * and is reported as that signal (so an app that calls exit(143) itself reads as killed by SIGTERM, as in a shell).
   */
  private exitInfo(exitCode: number, signal: number | undefined): ExitInfo {
    if (this.status === null && signal) return { exitCode: null, signal };
    const status = this.status ?? exitCode;
    if (status > 128 && status <= 128 + MAX_SIGNAL) return { exitCode: null, signal: status - 128 };
    return { exitCode: status, signal: null };
  }

  /** Output up to the end marker goes to the console; a possible start of the marker is held back a moment. */
  private held = '';
  private ended = false;
  /** The program's exit status as the wrapper printed it in the end marker. */
  private status: number | null = null;
  private stdout(chunk: string, events: ProcessEvents): void {
    if (this.ended) return;
    let text = this.held + chunk;
    this.held = '';
    const m = text.indexOf(this.marker);
    if (m >= 0) {
      const end = text.indexOf('\x07', m);
      if (end < 0) { if (m > 0) events.onStdout(text.slice(0, m)); this.held = text.slice(m); return; }
      if (m > 0) events.onStdout(text.slice(0, m));
      const status = Number(text.slice(m + this.marker.length, end));
      if (Number.isInteger(status)) this.status = status;
      this.ended = true;
      try { this.term.write('\n'); } catch { /* already gone */ }
      return;
    }
    const esc = text.lastIndexOf('\x1b');
    if (esc >= 0 && this.marker.startsWith(text.slice(esc))) { this.held = text.slice(esc); text = text.slice(0, esc); }
    if (text) events.onStdout(text);
  }

  /** kill(-pgid): the whole group. ESRCH (already gone) is fine. */
  signalGroup(sig: NodeJS.Signals): void {
    try { process.kill(-this.pid, sig); } catch { /* gone */ }
  }

  pause(): void { this.signalGroup('SIGSTOP'); }
  resume(): void { this.signalGroup('SIGCONT'); }

  /**
   * SIGTERM to the program itself, SIGCONT to the group (a paused app must run to handle it), SIGKILL to the group
   * after graceMs; resolves once the leader is gone. The program exiting on its own ends the group too (the exit
   * handler kills what is left), so grandchildren never outlive a stop.
   *
   * Why the program and not the group: the group holds the wrapper shell, and a shell dies of SIGTERM at once (its
   * default action), which would end the run while the program's handler is still saving its state. The wrapper
   * cannot be made to survive it: a `trap` is deferred until the foreground program ends (POSIX) but then runs, and
   * `trap '' TERM` would be inherited by the program (an ignored signal stays ignored across exec); forwarding the
   * signal needs the program as a background job, whose stdin a non-interactive shell replaces with /dev/null and
   * whose SIGINT/SIGQUIT it ignores. So the wrapper is left alone and the program, its only child, is signalled.
   */
  stop(graceMs: number): Promise<void> {
    if (this.delivered) return Promise.resolve();
    const done = new Promise<void>((resolve) => this.exitWaiters.push(resolve));
    if (this.exited) return done; // gone already; onExit is on its way
    if (!this.killTimer) {
      this.terminateProgram();
      this.signalGroup('SIGCONT');
      this.killTimer = setTimeout(() => this.signalGroup('SIGKILL'), graceMs);
    }
    return done;
  }

  /**
   * SIGKILL to the whole group at once, no grace: an ad-hoc run's Stop (adhoc.ts stopOnRequest), where no handler of the
   * program runs and so none prints a traceback. Resolves once the leader is gone.
   */
  kill(): Promise<void> {
    if (this.delivered) return Promise.resolve();
    const done = new Promise<void>((resolve) => this.exitWaiters.push(resolve));
    if (!this.exited) this.signalGroup('SIGKILL');
    return done;
  }

  /**
   * SIGTERM to the wrapper's child. None yet means the wrapper has not forked (a stop right after the start) or the
   * program has just exited and the end marker is on its way: look again shortly, until the marker, the exit or the
   * SIGKILL after the grace settles it.
   */
  private terminateProgram(): void {
    this.termRetry = null;
    if (this.ended || this.exited) return;
    const program = programPid(this.pid);
    if (program === null) { this.termRetry = setTimeout(() => this.terminateProgram(), TERM_RETRY_MS); return; }
    try { process.kill(program, 'SIGTERM'); } catch { /* exited meanwhile */ }
  }

  private closeStderr(): void {
    if (this.stderrSock) { this.stderrSock.destroy(); this.stderrSock = null; }
    // Runs in the exit path: a FIFO that cannot be removed (read-only dataDir) must not keep the exit from being told.
    if (this.spec.stderrFifo) { try { fs.rmSync(this.spec.stderrFifo, { force: true }); } catch { /* replaced at the next start */ } }
  }
}

/** The wrapper's one child, the program (from /proc; the children file needs CONFIG_PROC_CHILDREN, else a scan). */
function programPid(wrapper: number): number | null {
  try {
    const kids = fs.readFileSync(`/proc/${wrapper}/task/${wrapper}/children`, 'utf8').trim().split(' ').filter(Boolean);
    return kids.length ? Number(kids[0]) : null;
  } catch { /* no children file: scan */ }
  for (const pid of groupPids(wrapper)) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === wrapper) return pid;
    } catch { /* exited meanwhile */ }
  }
  return null;
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
