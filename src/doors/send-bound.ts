// What one WebSocket holds unsent, counted in frames as well as in bytes, and the peer's reading held while that is
// too much. Every frame handed to ws costs the agent a few hundred bytes of bookkeeping (a Buffer, the stream's write
// request, the callback) whatever its size: a peer that sends 1-byte pings and reads nothing made the agent queue
// millions of 3-byte pongs, 0.9 GB, before the bytes alone reached their bound. So:
//   - above the soft bound (softBytes or softFrames unsent) the connection is congested: producers hold back
//     (Client.congested), and the peer is no longer read (its socket paused: what it sends waits in the kernel, and TCP
//     slows it down). It is read again once half the soft bound is left unsent;
//   - past the hard bound the owner drops the connection (overflow() says why).
// Other reasons to stop reading (a session's full request queue) hold the same gate: the peer is read when none holds.
// The answers to the peer's pings are paced (PongPacer): a flood of pings is a few pongs, not one each.
import type WebSocket from 'ws';
import type { Clock } from '../core/clock';

export interface SendLimits {
  /** Above either, the connection is congested: producers hold back and the peer is not read. */
  readonly softBytes: number;
  readonly softFrames: number;
  /** Past either, the connection is dropped. */
  readonly hardBytes: number;
  readonly hardFrames: number;
}

/** Frames unsent above which a connection is congested; past UNSENT_FRAMES_HARD it is dropped. */
const UNSENT_FRAMES_SOFT = 1_000;
const UNSENT_FRAMES_HARD = 10_000;

/** The bounds of a connection whose byte budget is api.sendBufferBytes: congested above it, dropped past twice it. */
export function sendLimits(sendBufferBytes: number): SendLimits {
  return { softBytes: sendBufferBytes, softFrames: UNSENT_FRAMES_SOFT, hardBytes: sendBufferBytes * 2, hardFrames: UNSENT_FRAMES_HARD };
}

/** The reason the bound itself holds reading under. */
const CONGESTED = 'congested';

export class SendBound {
  private frames = 0;
  private readonly holds = new Set<string>();
  /** The write callback of every frame: one closure for all of them. */
  private readonly written = (): void => {
    this.frames--;
    if (this.holds.has(CONGESTED) && this.frames <= this.limits.softFrames / 2 && this.ws.bufferedAmount <= this.limits.softBytes / 2) {
      this.hold(CONGESTED, false);
      this.onDrained?.();
    }
  };

  /** onDrained: called when a congestion ends (what was put off, such as a pong, can be sent). */
  constructor(private readonly ws: WebSocket, readonly limits: SendLimits, private readonly onDrained?: () => void) {}

  get unsentFrames(): number { return this.frames; }
  get unsentBytes(): number { return this.ws.bufferedAmount; }

  congested(): boolean {
    return this.frames > this.limits.softFrames || this.ws.bufferedAmount > this.limits.softBytes;
  }

  /** True while reading is held because of congestion (not for another reason). */
  get stalled(): boolean { return this.holds.has(CONGESTED); }

  /** Why the connection must be dropped (past the hard bound), or null. */
  overflow(): string | null {
    const l = this.limits;
    if (this.frames >= l.hardFrames) return `${this.frames} frames unsent (at most ${l.hardFrames})`;
    const bytes = this.ws.bufferedAmount;
    if (bytes > l.hardBytes) return `${bytes} bytes unsent (at most ${l.hardBytes}, twice api.sendBufferBytes)`;
    return null;
  }

  /** Hands one text frame to ws; it counts as unsent until it is written out. The caller checks overflow() first. */
  send(text: string): void {
    this.coalesce();
    this.frames++;
    try { this.ws.send(text, this.written); } catch { this.frames--; /* not open yet: nothing queued */ }
    this.checkCongestion();
  }

  /** A WebSocket pong (or ping), through the same count. */
  control(kind: 'ping' | 'pong', data?: Buffer): void {
    this.frames++;
    try {
      if (kind === 'ping') this.ws.ping(data, undefined, this.written);
      else this.ws.pong(data, undefined, this.written);
    } catch { this.frames--; }
    this.checkCongestion();
  }

  /** Holds (or releases) reading the peer for `reason`; the peer is read while no reason holds. */
  hold(reason: string, on: boolean): void {
    const before = this.holds.size;
    if (on) this.holds.add(reason); else this.holds.delete(reason);
    if (before === 0 && this.holds.size > 0) this.ws.pause();
    else if (before > 0 && this.holds.size === 0) this.ws.resume();
  }

  /**
   * The frames sent within one turn of the event loop leave in one write: the socket is corked at the turn's first
   * frame and uncorked once the turn's code has run (process.nextTick). A burst (a console's lines of one read of an
   * app's output, a batch of signal frames) is then one writev instead of a system call per frame: the most of a fast
   * app's console cost per line (bench/README.md, "One write per turn").
   */
  private coalesce(): void {
    if (this.corked) return;
    const socket = (this.ws as unknown as { _socket?: { cork(): void; uncork(): void } })._socket;
    if (!socket) return;
    socket.cork();
    this.corked = true;
    process.nextTick(this.uncork, socket);
  }

  private corked = false;
  private readonly uncork = (socket: { uncork(): void }): void => { this.corked = false; socket.uncork(); };

  private checkCongestion(): void {
    if (!this.holds.has(CONGESTED) && this.congested()) this.hold(CONGESTED, true);
  }
}

/** Pongs to one peer: a burst of PONG_BURST, then one per PONG_EVERY_MS (a token bucket); the pings in between fold. */
export const PONG_BURST = 20;
export const PONG_EVERY_MS = 50;

/**
 * The answers to a peer's pings (Engine.IO `2`, or WebSocket pings), each carrying the data of the latest ping: at
 * once while the bucket has a token (PONG_BURST, refilled one per PONG_EVERY_MS), none while the connection is
 * congested. A peer pings every few seconds at most (Engine.IO every pingInterval, 25 s by default; tests ping every
 * 100 ms, with their jitter), so a real one is answered at once and its pong timeout never notices. One that pings
 * faster is not read until its pong goes: a flood of pings is twenty pongs and twenty socket reads a second, not a
 * pong each and the agent's whole time.
 */
export class PongPacer<T> {
  private owed: T | null = null;
  private tokens = PONG_BURST;
  private filledAt: number;
  private timer: unknown = null;

  constructor(private readonly bound: SendBound, private readonly clock: Clock, private readonly sendPong: (data: T) => void) {
    this.filledAt = clock.now();
  }

  ping(data: T): void {
    this.owed = data;
    this.flush();
    if (this.owed !== null) this.bound.hold('pings', true);
  }

  /** Sends the owed pong when it may go: on each ping, when a token is due, and when a congestion ends. */
  flush(): void {
    if (this.owed === null || this.timer !== null || this.bound.congested()) return;
    const now = this.clock.now();
    const earned = Math.floor((now - this.filledAt) / PONG_EVERY_MS);
    if (earned > 0) {
      this.tokens = Math.min(PONG_BURST, this.tokens + earned);
      this.filledAt = this.tokens === PONG_BURST ? now : this.filledAt + earned * PONG_EVERY_MS;
    }
    if (this.tokens < 1) {
      this.timer = this.clock.setTimeout(() => { this.timer = null; this.flush(); }, this.filledAt + PONG_EVERY_MS - now);
      return;
    }
    this.tokens--;
    const data = this.owed;
    this.owed = null;
    this.bound.hold('pings', false);
    this.sendPong(data);
  }

  dispose(): void {
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
    this.owed = null;
  }
}
