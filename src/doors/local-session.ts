// The local protocol (seed 000: the JSON frames of docs/local-api.md) over one WebSocket, whoever opened it: a local
// API client, or the outbound link to a Kit-Manager that speaks plain ws. Translates frames to commands and replies
// back; holds no business state.
import { cryptoModule } from '../core/crypto-module';
import type { WebSocket } from 'ws';
import { dispatch, type Envelope } from '../commands/dispatch';
import type { Client, Frame } from '../core/frame';
import type { Parts } from '../parts';
import { systemClock } from '../core/clock';
import { PongPacer, SendBound, sendLimits } from './send-bound';

export interface LocalSessionOptions {
  door: string;
  /**
   * Above this (or 1 000 frames) unsent the client is congested: producers hold back and it is not read; above twice
   * this (or 10 000 frames) it is cut off (send-bound.ts).
   */
  sendBufferBytes: number;
  /** Requests of one client being handled at once. */
  maxInFlight?: number;
}

const now = (): string => new Date().toISOString();

/** Frames already read off the socket while it is paused for backpressure. */
const MAX_WAITING = 1024;

/**
 * An interim (progress, stream) frame of a request: `<type>-response` unless it names its own type, with `requestId`
 * and never `id`, so that the frame with the request's `id` is always its reply. The Kit-Manager's `type` envelope
 * uses the same shape.
 */
export function interimFrame(req: { wireName: string; id: string | number | null }, frame: Frame): Frame {
  const { id: _drop, ...rest } = frame;
  return { type: `${req.wireName}-response`, ...rest, requestId: req.id, timestamp: now() };
}

function peekId(text: string): string | number | null {
  try {
    const id = (JSON.parse(text) as Frame | null)?.id;
    return typeof id === 'string' || typeof id === 'number' ? id : null;
  } catch { return null; }
}

export class LocalSession implements Client {
  readonly id = cryptoModule().randomUUID();
  readonly door: string;
  private closers: Array<() => void> = [];
  /** Producers waiting for the congestion to end (whenDrained), each called once. */
  private drainWaiters = new Set<() => void>();
  private inFlight = 0;
  private readonly waiting: string[] = [];
  private readonly maxInFlight: number;
  /** What is unsent to the peer, in frames and bytes; it also holds reading the peer (send-bound.ts). */
  readonly bound: SendBound;
  /** Answers to the peer's WebSocket pings: paced, none while congested. */
  private readonly pongs: PongPacer<Buffer>;
  /** Why the session cut the peer off (not reading), for the owner's log and /health. */
  cutOff: string | null = null;
  private _closed = false;

  constructor(private readonly ws: WebSocket, private readonly parts: Parts, opts: LocalSessionOptions) {
    this.door = opts.door;
    this.bound = new SendBound(ws, sendLimits(opts.sendBufferBytes), () => { this.pongs.flush(); this.drained(); });
    this.pongs = new PongPacer(this.bound, systemClock, (data: Buffer) => {
      if (!this._closed && this.ws.readyState === 1 && this.withinBound()) this.bound.control('pong', data);
    });
    this.maxInFlight = opts.maxInFlight ?? 64;
    ws.on('close', () => this.dispose());
  }

  get closed(): boolean { return this._closed; }

  congested(): boolean { return this.bound.congested(); }

  /** Called once the send bound drains (the console pumps again at once instead of polling). */
  whenDrained(fn: () => void): () => void {
    this.drainWaiters.add(fn);
    return () => { this.drainWaiters.delete(fn); };
  }

  private drained(): void {
    const waiters = [...this.drainWaiters];
    this.drainWaiters.clear();
    for (const fn of waiters) {
      if (this.bound.congested()) { this.drainWaiters.add(fn); continue; } // an earlier one filled it again
      fn();
    }
  }

  onClose(fn: () => void): () => void {
    if (this._closed) { queueMicrotask(fn); return () => {}; }
    this.closers.push(fn);
    return () => { this.closers = this.closers.filter((f) => f !== fn); };
  }

  send(frame: Frame): void {
    if (this._closed || this.ws.readyState !== 1 || !this.withinBound()) return;
    this.bound.send(JSON.stringify(frame));
  }

  /**
   * A WebSocket ping from the peer (sockets made with autoPong off): answered through the same bound, paced, and not
   * while congested (send-bound.ts).
   */
  answerPing(data: Buffer): void {
    if (!this._closed) this.pongs.ping(data);
  }

  /** False (and the peer cut off) past the hard bound: a client that stopped reading must not grow the agent. */
  private withinBound(): boolean {
    const over = this.bound.overflow();
    if (!over) return true;
    this.cutOff = `not reading: ${over}`;
    this.parts.log.warn({ client: this.id, door: this.door, unsentFrames: this.bound.unsentFrames, unsentBytes: this.bound.unsentBytes }, 'client not reading; disconnecting');
    this.ws.terminate();
    this.dispose();
    return false;
  }

  /** One text frame from the peer. */
  handleText(text: string): void {
    if (this.inFlight >= this.maxInFlight) {
      // Backpressure instead of refusal: stop reading the socket until replies catch up. ws may still emit what it
      // had already buffered; that is held here, bounded.
      this.bound.hold('requests', true);
      if (this.waiting.length >= MAX_WAITING) {
        this.sendError(peekId(text), 'LIMIT', `too many requests queued (limit ${MAX_WAITING}); wait for replies`);
        return;
      }
      this.waiting.push(text);
      return;
    }
    this.run(text);
  }

  private run(text: string): void {
    let frame: unknown;
    try { frame = JSON.parse(text); } catch {
      this.sendError(null, 'BAD_REQUEST', 'invalid JSON: expected a JSON object with a "type" field');
      return;
    }
    this.inFlight++;
    void dispatch(this.parts, this, frame, 'type', this.envelope).finally(() => {
      this.inFlight--;
      while (this.inFlight < this.maxInFlight && this.waiting.length > 0) this.run(this.waiting.shift()!);
      if (this.waiting.length === 0) this.bound.hold('requests', false);
    });
  }

  sendError(id: string | number | null, code: string, error: string): void {
    this.send({ type: 'error', id, error, code, timestamp: now() });
  }

  private readonly envelope: Envelope = {
    done: (req, command, body) => {
      this.send({ type: command.responseType ?? `${req.wireName}-response`, id: req.id, ...body, timestamp: now() });
    },
    // Interim frames carry requestId, never id: a client that takes the first frame with its id gets the reply.
    progress: (req, _command, frame) => this.send(interimFrame(req, frame)),
    fail: (req, code, message) => this.sendError(req ? req.id : null, code, message),
  };

  dispose(): void {
    if (this._closed) return;
    this._closed = true;
    this.pongs.dispose();
    this.drainWaiters.clear();
    const closers = this.closers;
    this.closers = [];
    for (const fn of closers) {
      try { fn(); } catch (e) { this.parts.log.error({ err: e }, 'client close hook failed'); }
    }
  }
}
