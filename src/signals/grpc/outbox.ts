// What one gRPC server stream holds for its client: backpressure for subscriptions and provider streams. grpc-js
// queues every `call.write()` whatever the connection takes, so a client that stops reading would grow the agent
// without bound. Here a stream has at most OUTBOX_LIMITS.maxInFlight messages (and maxInFlightBytes) handed to
// grpc-js and not yet taken by the connection; beyond that, updates wait in one map keyed by signal where the newest
// value replaces the older (what the local batcher does, batcher.ts), and go out as one message when the connection
// takes the earlier ones. Replies that cannot be merged (a provider's acknowledgements) are sent, and the stream stops
// reading its client's requests until there is room again, so HTTP/2 flow control holds the client back instead.
// A stream that holds updates for longer than its stall bound, or more than maxHeldBytes of them, is ended
// RESOURCE_EXHAUSTED with the reason. A kuksa.val.v2 subscriber's buffer_size (`keep`, at most 1000) holds that many
// messages in their order instead of one merged map; past it the oldest two are merged (the newest value per signal
// wins), so the newest value of every signal still reaches the client.
import type * as grpc from '@grpc/grpc-js';
import type { Obj } from './status';

export const OUTBOX_LIMITS = {
  maxInFlight: 8,
  maxInFlightBytes: 256 * 1024,
  maxHeldBytes: 8 * 1024 * 1024,
} as const;

/** The part of a grpc-js server stream the outbox uses. */
export type OutStream = Pick<grpc.ServerWritableStream<Obj, Obj>, 'write'> & { pause?: () => void; resume?: () => void };

export interface OutboxOptions<V> {
  /** One message from updates held while the stream was full (key → newest value); null = nothing to send. */
  build(updates: ReadonlyMap<string, V>): Obj | null;
  /** Estimated wire bytes of one update (its key and value). */
  sizeOf(key: string, v: V): number;
  /** A stream that holds updates this long without the connection taking any of its messages is ended. */
  stallMs: number;
  /** Ends the stream RESOURCE_EXHAUSTED with this reason (GrpcContext.stream wires it). */
  cut(why: string): void;
  /** Messages held in order while the stream is full (v2 buffer_size); 0 (default) = one map, newest per signal. */
  keep?: number;
}

export class Outbox<V> {
  private inFlight = 0;
  private inFlightBytes = 0;
  private held = new Map<string, V>();
  /** With `keep`: the messages held, oldest first (`held` is then the newest of them). */
  private queue: Array<Map<string, V>> = [];
  private heldBytes = 0;
  private stallTimer: NodeJS.Timeout | null = null;
  private readPaused = false;
  private closed = false;
  /** Updates that replaced an older held value of the same signal (for figures and logs). */
  coalesced = 0;

  constructor(private readonly call: OutStream, private readonly opts: OutboxOptions<V>) {}

  /** True while the connection has not taken enough of what was written: new updates are held. */
  get full(): boolean {
    return this.inFlight >= OUTBOX_LIMITS.maxInFlight || this.inFlightBytes >= OUTBOX_LIMITS.maxInFlightBytes;
  }

  /** One batch of updates: sent at once when the stream has room and nothing is held, else merged into what is held. */
  offer(updates: ReadonlyMap<string, V>): void {
    if (this.closed || updates.size === 0) return;
    if (!this.full && this.held.size === 0 && this.queue.length === 0) {
      const msg = this.opts.build(updates);
      if (msg) this.write(msg, this.bytesOf(updates));
      return;
    }
    if (this.opts.keep) this.enqueue(this.opts.keep);
    for (const [k, v] of updates) {
      const old = this.held.get(k);
      if (old !== undefined || this.held.has(k)) { this.heldBytes -= this.opts.sizeOf(k, old as V); this.coalesced++; }
      this.held.set(k, v);
      this.heldBytes += this.opts.sizeOf(k, v);
    }
    if (this.heldBytes > OUTBOX_LIMITS.maxHeldBytes) {
      this.cut(`the client is not reading: more than ${OUTBOX_LIMITS.maxHeldBytes} bytes of updates held for it`);
      return;
    }
    this.armStall();
    if (!this.full) this.flush();
  }

  private armStall(): void {
    if (this.stallTimer) return;
    this.stallTimer = setTimeout(() => this.cut(`the client read nothing for ${this.opts.stallMs} ms while updates waited (kuksa.streamStallMs)`), this.opts.stallMs);
    this.stallTimer.unref?.();
  }

  /**
   * A message that must go as it is (a reply to the client's request). Sent whatever the stream holds; while the
   * stream is full the client's requests are no longer read (`pause`), so it cannot make the agent queue more.
   */
  reply(msg: Obj, bytes: number): void {
    if (this.closed) return;
    this.write(msg, bytes);
    if (this.full && !this.readPaused && this.call.pause) { this.readPaused = true; this.call.pause(); }
  }

  /** `keep` mode: the held map becomes a message of its own; past `keep` messages the oldest two are merged. */
  private enqueue(keep: number): void {
    if (this.held.size === 0) return;
    this.queue.push(this.held);
    this.held = new Map();
    if (this.queue.length < keep) return;
    const oldest = this.queue.shift()!;
    const next = this.queue[0] ?? this.held;
    for (const [k, v] of oldest) {
      if (next.has(k)) { this.heldBytes -= this.opts.sizeOf(k, v); this.coalesced++; } else next.set(k, v);
    }
  }

  close(): void {
    this.closed = true;
    this.queue = [];
    this.held.clear();
    this.heldBytes = 0;
    if (this.stallTimer) clearTimeout(this.stallTimer);
    this.stallTimer = null;
  }

  private bytesOf(updates: ReadonlyMap<string, V>): number {
    let n = 0;
    for (const [k, v] of updates) n += this.opts.sizeOf(k, v);
    return n;
  }

  private write(msg: Obj, bytes: number): void {
    this.inFlight++;
    this.inFlightBytes += bytes;
    // The callback runs once grpc-js has handed the message to the connection (HTTP/2 flow control permitting).
    this.call.write(msg, () => {
      this.inFlight--;
      this.inFlightBytes -= bytes;
      if (this.closed) return;
      if (!this.full) {
        if (this.held.size || this.queue.length) this.flush();
        if (!this.full && this.readPaused) { this.readPaused = false; this.call.resume?.(); }
      }
    });
  }

  private flush(): void {
    if (this.stallTimer) clearTimeout(this.stallTimer);
    this.stallTimer = null;
    // keep mode: the held messages in their order, as many as the stream takes now
    while (this.queue.length && !this.full) this.send(this.queue.shift()!);
    if (this.queue.length || (this.full && this.held.size)) { this.armStall(); return; }
    if (this.held.size === 0) return;
    const held = this.held;
    this.held = new Map();
    this.send(held);
  }

  private send(held: Map<string, V>): void {
    const bytes = this.bytesOf(held);
    this.heldBytes -= bytes;
    const msg = this.opts.build(held);
    if (msg) this.write(msg, bytes);
  }

  private cut(why: string): void {
    if (this.closed) return;
    const signals = this.held.size + this.queue.reduce((n, m) => n + m.size, 0);
    this.close();
    this.opts.cut(`${why}; ${signals} signals were waiting: stream ended, subscribe again when ready`);
  }
}

/** Estimated protobuf bytes of a signal value (numbers and booleans ~8, strings and arrays their length). */
export function valueBytes(v: unknown): number {
  if (typeof v === 'string') return v.length + 2;
  if (Array.isArray(v)) { let n = 2; for (const x of v) n += typeof x === 'string' ? x.length + 2 : 8; return n; }
  return 8;
}
