// One app's console: raw output → lines (per stream) → seq-numbered ring buffer → log file and subscribers.
//
// Bounds: the ring holds at most `lines` lines and `bytes` bytes (oldest evicted); one line is at most
// MAX_LINE_CHARS (longer output is cut into several lines); the log file rotates at logMaxBytes (one old file kept).
// A subscriber is only a cursor into the ring, so a slow subscriber costs the agent nothing: while its client is
// congested nothing is sent; when the ring has moved past its cursor it is told how many lines it lost
// (console_dropped) and continues with the oldest line still held.
import fs = require('node:fs');
import { systemClock, type Clock } from '../core/clock';
import type { Client, Frame } from '../core/frame';

export type Stream = 'stdout' | 'stderr';

export interface ConsoleLine { seq: number; stream: Stream; text: string; ts: number }

export const MAX_LINE_CHARS = 16 * 1024;
/** A partial line (no newline yet) is flushed after this much quiet: a prompt shows while the program waits. */
export const PARTIAL_FLUSH_MS = 50;
/**
 * A chunk this long that ends mid-line is a large write the terminal cut (its buffer holds about 4 KiB), not a
 * prompt: the rest comes as soon as the writer runs again, which on a busy box or under a CPU limit can be well
 * past PARTIAL_FLUSH_MS. Its tail waits BULK_FLUSH_MS before it is shown as a line of its own.
 */
const BULK_CHUNK_CHARS = 1024;
const BULK_FLUSH_MS = 1000;
/**
 * How often a congested subscriber is looked at again, when its client cannot say when it drains (Client.whenDrained):
 * a poll caps delivery at what the send bound lets through per poll (1 000 frames per 25 ms, 40 000 lines/s).
 */
const RETRY_MS = 25;
/** Log writes are gathered and written at most this often (or when LOG_CHUNK bytes are waiting). */
const LOG_FLUSH_MS = 200;
const LOG_CHUNK = 64 * 1024;
/** Seq numbers are reserved in blocks of this size: the top of the block is written to disk before any of them is
 *  handed out, so after a kill -9 numbering restarts above it (a gap, never a repeat) at one small write per block. */
export const SEQ_BLOCK = 1000;

/**
 * Cuts a stream of text into lines at \n (dropping a preceding \r); a tail without newline is shown after
 * PARTIAL_FLUSH_MS of quiet (BULK_FLUSH_MS when it ended a long chunk).
 */
export class LineSplitter {
  private partial = '';
  private timer: NodeJS.Timeout | null = null;
  private later: NodeJS.Immediate | null = null;

  constructor(private readonly emit: (line: string) => void, private readonly idleMs = PARTIAL_FLUSH_MS, private readonly bulkIdleMs = BULK_FLUSH_MS) {}

  push(chunk: string): void {
    let text = this.partial + chunk;
    this.partial = '';
    let nl: number;
    while ((nl = text.indexOf('\n')) >= 0) {
      let line = text.slice(0, nl);
      if (line.endsWith('\r')) line = line.slice(0, -1);
      this.emitCapped(line);
      text = text.slice(nl + 1);
    }
    while (text.length > MAX_LINE_CHARS) { this.emit(text.slice(0, MAX_LINE_CHARS)); text = text.slice(MAX_LINE_CHARS); }
    this.partial = text;
    this.cancel();
    // A busy loop runs its expired timers before it reads what arrived meanwhile: the idle flush waits one more turn
    // (setImmediate runs after the loop has read), so a line whose rest is already waiting is not cut.
    if (text.length === 0) return;
    const quiet = chunk.length >= BULK_CHUNK_CHARS ? this.bulkIdleMs : this.idleMs;
    this.timer = setTimeout(() => { this.timer = null; this.later = setImmediate(() => this.flush()); }, quiet);
  }

  /** Emit the waiting partial line now (process exit). */
  flush(): void {
    this.cancel();
    let line = this.partial;
    this.partial = '';
    if (line.endsWith('\r')) line = line.slice(0, -1);
    if (line.length > 0) this.emit(line);
  }

  private cancel(): void {
    if (this.timer) { clearTimeout(this.timer); this.timer = null; }
    if (this.later) { clearImmediate(this.later); this.later = null; }
  }

  private emitCapped(line: string): void {
    while (line.length > MAX_LINE_CHARS) { this.emit(line.slice(0, MAX_LINE_CHARS)); line = line.slice(MAX_LINE_CHARS); }
    this.emit(line);
  }
}

/** Lines in seq order, bounded by count and bytes. Lookup by seq is O(1). */
export class LineRing {
  private readonly items: Array<ConsoleLine | undefined>;
  private head = 0; // index of the oldest line
  private count = 0;
  private bytes = 0;
  /** seq of the newest line; 0 before the first one. */
  lastSeq = 0;

  constructor(private readonly maxLines: number, private readonly maxBytes: number) {
    this.items = new Array(maxLines);
  }

  /** seq of the oldest line still held (lastSeq + 1 when empty). */
  get firstSeq(): number { return this.lastSeq - this.count + 1; }
  get size(): number { return this.count; }

  add(stream: Stream, text: string, ts: number): ConsoleLine {
    const line: ConsoleLine = { seq: ++this.lastSeq, stream, text, ts };
    if (this.count === this.maxLines) this.evict();
    this.items[(this.head + this.count) % this.maxLines] = line;
    this.count++;
    this.bytes += cost(line);
    while (this.bytes > this.maxBytes && this.count > 1) this.evict();
    return line;
  }

  get(seq: number): ConsoleLine | undefined {
    if (seq < this.firstSeq || seq > this.lastSeq) return undefined;
    return this.items[(this.head + (seq - this.firstSeq)) % this.maxLines];
  }

  /** The newest n lines, oldest first. */
  tail(n: number): ConsoleLine[] {
    const out: ConsoleLine[] = [];
    for (let s = Math.max(this.firstSeq, this.lastSeq - n + 1); s <= this.lastSeq; s++) out.push(this.get(s)!);
    return out;
  }

  /** Continue numbering after an earlier life of the app (seq survives an agent restart). */
  startAfter(seq: number): void { if (this.count === 0 && seq > this.lastSeq) this.lastSeq = seq; }

  private evict(): void {
    const line = this.items[this.head]!;
    this.items[this.head] = undefined;
    this.head = (this.head + 1) % this.maxLines;
    this.count--;
    this.bytes -= cost(line);
  }
}

const cost = (l: ConsoleLine): number => l.text.length * 2 + 64;

interface Subscriber {
  client: Client;
  /** The next seq to deliver. */
  cursor: number;
  /** While replaying: the last seq of the replay (then console_replay_end is sent). */
  replayTo: number | null;
  /** While congested: the disposer of the wait for its client to drain (or of the retry timer). */
  waiting: (() => void) | null;
  /** Between subscribe and startDelivery: the reply must go out before any line. */
  held: boolean;
  disposeClose: () => void;
}

export interface ConsoleOptions { appId: string; lines: number; bytes: number; logFile: string; logMaxBytes: number }

export class AppConsole {
  readonly ring: LineRing;
  private readonly subs = new Map<string, Subscriber>();
  private readonly splitters: Record<Stream, LineSplitter>;
  private logPending: string[] = [];
  private logPendingBytes = 0;
  private logTimer: unknown = null;
  private logSize: number;
  /** Highest seq reserved on disk (`<logFile>.seq`); lines up to it may be handed out without writing. */
  private seqReserved: number;
  /** The last timestamp made text: the lines of one millisecond share it (the log's and every subscriber's frame). */
  private isoTs = -1;
  private isoText = '';

  /** The clock times the congestion retries, the log writes and the lines' timestamps (test/unit/apps-console.ts). */
  constructor(private readonly opts: ConsoleOptions, private readonly clock: Clock = systemClock) {
    this.ring = new LineRing(opts.lines, opts.bytes);
    this.splitters = {
      stdout: new LineSplitter((l) => this.addLine('stdout', l)),
      stderr: new LineSplitter((l) => this.addLine('stderr', l)),
    };
    try { this.logSize = fs.statSync(opts.logFile).size; } catch { this.logSize = 0; }
    this.seqReserved = readSeqMark(this.seqFile);
    this.ring.startAfter(this.seqReserved);
  }

  private get seqFile(): string { return `${this.opts.logFile}.seq`; }

  /** Continue numbering after an earlier life of the app (the registry's lastSeq or the reserved mark, whichever is higher). */
  startAfter(seq: number): void { this.ring.startAfter(Math.max(seq, this.seqReserved)); }

  get subscriberCount(): number { return this.subs.size; }

  write(stream: Stream, chunk: string): void { this.splitters[stream].push(chunk); }

  /** Flush partial lines (the process ended). */
  flush(): void { this.splitters.stdout.flush(); this.splitters.stderr.flush(); }

  /** A line the agent itself adds (why an app stopped, restarts): stored and streamed like app output. */
  note(stream: Stream, text: string): void { this.addLine(stream, text); }

  private addLine(stream: Stream, text: string): void {
    if (this.ring.lastSeq + 1 > this.seqReserved) this.reserveSeq();
    const line = this.ring.add(stream, text, this.clock.now());
    this.log(`${this.iso(line.ts)} ${stream === 'stderr' ? 'E' : 'O'} ${text}\n`);
    for (const sub of this.subs.values()) if (!sub.waiting && !sub.held) this.pump(sub);
  }

  /**
   * Writes the next block's top as the mark, in place at a fixed width: truncating the file for each block (ext4 then
   * flushes it on close) cost ~0.2–0.5 ms, 8 % of the agent's time at 100 000 lines/s (bench/README.md). The file is
   * not kept open: a file open for writing would keep the dataDir's file system from being remounted read-only.
   */
  private reserveSeq(): void {
    this.seqReserved = this.ring.lastSeq + SEQ_BLOCK;
    try { writeInPlace(this.seqFile, `${String(this.seqReserved).padStart(16, '0')}\n`); } catch { /* folder removed (uninstall): nothing to continue */ }
  }

  private iso(ts: number): string {
    if (ts !== this.isoTs) { this.isoTs = ts; this.isoText = new Date(ts).toISOString(); }
    return this.isoText;
  }

  subscribe(client: Client, since?: number): { fromSeq: number; toSeq: number } | null {
    this.unsubscribe(client.id);
    const sub: Subscriber = { client, cursor: this.ring.lastSeq + 1, replayTo: null, waiting: null, held: true, disposeClose: () => {} };
    sub.disposeClose = client.onClose(() => this.unsubscribe(client.id));
    this.subs.set(client.id, sub);
    let replay: { fromSeq: number; toSeq: number } | null = null;
    if (since !== undefined) {
      const fromSeq = Math.max(since + 1, this.ring.firstSeq);
      replay = { fromSeq, toSeq: this.ring.lastSeq };
      sub.cursor = fromSeq;
      sub.replayTo = this.ring.lastSeq;
    }
    return replay;
  }

  /** Starts delivery after the subscribe reply went out (and the replay header, when asked for). */
  startDelivery(clientId: string, replay: { fromSeq: number; toSeq: number } | null): void {
    const sub = this.subs.get(clientId);
    if (!sub || !sub.held) return;
    sub.held = false;
    if (replay) sub.client.send({ type: 'console_replay_begin', appId: this.opts.appId, ...replay });
    this.pump(sub);
  }

  unsubscribe(clientId: string): boolean {
    const sub = this.subs.get(clientId);
    if (!sub) return false;
    if (sub.waiting) { sub.waiting(); sub.waiting = null; }
    sub.disposeClose();
    this.subs.delete(clientId);
    return true;
  }

  /** A frame for every subscriber now (status changes); not buffered. */
  broadcast(frame: Frame): void {
    for (const sub of this.subs.values()) sub.client.send(frame);
  }

  private pump(sub: Subscriber): void {
    sub.waiting = null;
    const { client } = sub;
    if (client.closed) { this.unsubscribe(client.id); return; }
    const appId = this.opts.appId;
    if (sub.cursor < this.ring.firstSeq) {
      const count = this.ring.firstSeq - sub.cursor;
      sub.cursor = this.ring.firstSeq;
      client.send({ type: 'console_dropped', appId, count });
    }
    while (sub.cursor <= this.ring.lastSeq) {
      if (client.congested()) { this.waitForDrain(sub); return; }
      const line = this.ring.get(sub.cursor)!;
      client.send(outputFrame(appId, line, this.iso(line.ts)));
      sub.cursor++;
      if (sub.replayTo !== null && sub.cursor > sub.replayTo) { sub.replayTo = null; client.send({ type: 'console_replay_end', appId }); }
    }
    if (sub.replayTo !== null && sub.cursor > sub.replayTo) { sub.replayTo = null; client.send({ type: 'console_replay_end', appId }); }
  }

  /** Pumps again once the client drains; a client that cannot tell is looked at again every RETRY_MS. */
  private waitForDrain(sub: Subscriber): void {
    const again = () => this.pump(sub);
    if (sub.client.whenDrained) { sub.waiting = sub.client.whenDrained(again); return; }
    const timer = this.clock.setTimeout(again, RETRY_MS);
    sub.waiting = () => this.clock.clearTimeout(timer);
  }

  private log(text: string): void {
    this.logPending.push(text);
    this.logPendingBytes += text.length;
    if (this.logPendingBytes >= LOG_CHUNK) this.flushLog();
    else if (!this.logTimer) this.logTimer = this.clock.setTimeout(() => this.flushLog(), LOG_FLUSH_MS);
  }

  flushLog(): void {
    if (this.logTimer) { this.clock.clearTimeout(this.logTimer); this.logTimer = null; }
    if (this.logPending.length === 0) return;
    const data = this.logPending.join('');
    this.logPending = [];
    this.logPendingBytes = 0;
    try {
      if (this.logSize + data.length > this.opts.logMaxBytes && this.logSize > 0) {
        fs.renameSync(this.opts.logFile, `${this.opts.logFile}.1`);
        this.logSize = 0;
      }
      fs.appendFileSync(this.opts.logFile, data, { mode: 0o600 });
      this.logSize += Buffer.byteLength(data);
    } catch { /* app folder removed (uninstall) or disk full: the ring still has the lines */ }
  }

  close(): void {
    this.flush();
    this.flushLog();
    for (const id of [...this.subs.keys()]) this.unsubscribe(id);
  }
}

/** Overwrites the start of `file` with `text` (no truncation: `text` is at least as long as what is there), or makes it. */
function writeInPlace(file: string, text: string): void {
  let fd: number;
  try { fd = fs.openSync(file, 'r+'); } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    fs.writeFileSync(file, text, { mode: 0o600 });
    return;
  }
  try { fs.writeSync(fd, text, 0); } finally { fs.closeSync(fd); }
}

/** The reserved seq mark from an earlier life; 0 when there is none or it does not parse. */
function readSeqMark(file: string): number {
  try {
    const n = Number(fs.readFileSync(file, 'utf8').trim());
    return Number.isSafeInteger(n) && n > 0 ? n : 0;
  } catch { return 0; }
}

function outputFrame(appId: string, line: ConsoleLine, timestamp: string): Frame {
  return { type: 'console_output', executionId: appId, appId, stream: line.stream, output: line.text, seq: line.seq, timestamp };
}
