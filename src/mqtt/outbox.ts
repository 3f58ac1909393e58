// What the broker owes one client on its way out, and the backpressure that keeps it bounded. Every packet goes through
// here — the control replies (CONNACK, PINGRESP, PUBACK, SUBACK…) as much as the messages routed to the client — and
// the packets of one tick leave as one write (one syscall). What the kernel has not taken yet is counted in bytes and
// in writes: a queued write costs the agent WRITE_COST bytes of its own beside its data (a 2-byte PINGRESP queued on
// its own cost 150–200 bytes). Past mqtt.maxQueuedBytes of that the client's input is no longer read (the socket is
// paused) until half of it has gone: a client that floods requests and reads no reply now waits in its own buffers,
// not in the agent's. A client that stays paused mqtt.stallMs with the kernel taking nothing of what it is owed is
// reported as stalled (the connection drops it).
import type * as net from 'node:net';

/** What one queued write costs beside its bytes (the write request, its callback, the chunk's Buffer object). */
export const WRITE_COST = 256;

export interface OutboxEvents {
  /** The client's input is paused (true) or read again (false). */
  backpressure(paused: boolean): void;
  /** Paused for stallMs without progress. */
  stalled(ms: number): void;
}

export class Outbox {
  private parts: Buffer[] = [];
  private partBytes = 0;
  /** Writes handed to the socket and not yet done. */
  private writes = 0;
  private scheduled = false;
  private stallTimer: NodeJS.Timeout | null = null;
  /** When the kernel last took something while the input was paused. */
  private progressAt = 0;
  private ended = false;
  paused = false;

  constructor(private readonly socket: net.Socket, private readonly maxBytes: number, private readonly stallMs: number, private readonly events: OutboxEvents) {}

  /** Bytes owed to the client and not yet taken by the kernel, each queued write counted at WRITE_COST more. */
  get buffered(): number {
    return this.socket.writableLength + this.partBytes + (this.writes + (this.parts.length > 0 ? 1 : 0)) * WRITE_COST;
  }

  push(packet: Buffer): void {
    this.parts.push(packet);
    this.partBytes += packet.length;
    if (!this.scheduled) { this.scheduled = true; process.nextTick(this.flush); }
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    const n = this.parts.length;
    if (n === 0 || this.socket.destroyed) { this.parts = []; this.partBytes = 0; return; }
    const chunk = n === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.partBytes);
    this.parts = [];
    this.partBytes = 0;
    this.writes++;
    this.socket.write(chunk, this.written);
    if (!this.paused && this.buffered > this.maxBytes) this.pause();
  };

  private readonly written = (): void => {
    this.writes--;
    if (!this.paused || this.ended) return;
    if (this.buffered <= this.maxBytes / 2) { this.resume(); return; }
    // Progress: the stall clock starts again.
    this.progressAt = Date.now();
    this.stallTimer?.refresh();
  };

  private pause(): void {
    this.paused = true;
    this.progressAt = Date.now();
    this.armStall(this.stallMs);
    this.events.backpressure(true);
  }

  private armStall(ms: number): void {
    this.stallTimer = setTimeout(() => {
      // A timer may run a millisecond before Date.now() says its time is up: a stall counts once it is whole.
      const stalled = Date.now() - this.progressAt;
      if (stalled < this.stallMs) this.armStall(this.stallMs - stalled);
      else this.events.stalled(stalled);
    }, ms);
  }

  private resume(): void {
    this.paused = false;
    this.clearStall();
    this.events.backpressure(false);
  }

  private clearStall(): void {
    if (this.stallTimer) clearTimeout(this.stallTimer);
    this.stallTimer = null;
  }

  /** The connection ends: what this tick owes still goes (the last PUBACK, a CONNACK refusal), then the FIN. */
  end(): void {
    this.ended = true;
    this.clearStall();
    this.flush();
    this.socket.end();
  }
}
