// One client's session: its subscriptions, QoS 1 messages in flight (sent, PUBACK not yet seen) and the queue of
// QoS 1 messages waiting for a free slot. A clean session lives as long as its connection; a persistent one
// (clean session 0) outlives it, keeps QoS 1 messages that arrive while the client is away, and re-sends the ones in
// flight with DUP when it comes back (spec 4.4). Everything waiting for one client is bounded by mqtt.maxQueuedBytes:
// above it QoS 0 messages are dropped, and QoS 1 messages too once the queue is full; the drops are counted for the
// broker's log line.
import { generate } from './codec';
import { FIXED_LIMITS } from './limits';

/** The part of a connection a session writes to. */
export interface Outlet {
  /** Bytes written and not yet flushed to the socket. */
  readonly buffered: number;
  send(packet: Buffer): void;
}

export interface Message { readonly topic: string; readonly payload: Buffer; readonly retain: boolean }

interface Queued { topic: string; payload: Buffer; retain: boolean; size: number }

const OVERHEAD = 8; // fixed header, lengths, packet id: near enough for a byte budget

export class Session {
  /** filter → granted QoS */
  readonly subscriptions = new Map<string, 0 | 1>();
  private readonly inflight = new Map<number, Queued>();
  private readonly queue: Queued[] = [];
  private queuedBytes = 0;
  private inflightBytes = 0;
  private nextId = 1;
  outlet: Outlet | null = null;
  /** Counted drops, read and reset by the broker's slow-subscriber log line. */
  dropped = { qos0: 0, qos1: 0, since: 0 };
  lastDropLog = 0;

  constructor(readonly clientId: string, readonly clean: boolean, private readonly maxQueuedBytes: number) {}

  get pendingBytes(): number { return this.queuedBytes + this.inflightBytes; }
  get inflightCount(): number { return this.inflight.size; }
  get queuedCount(): number { return this.queue.length; }

  private budgetLeft(): number {
    return this.maxQueuedBytes - this.pendingBytes - (this.outlet?.buffered ?? 0);
  }

  /** A QoS 0 message already encoded (shared by every QoS 0 receiver of one publish). Offline: not kept. */
  sendQos0(encoded: Buffer): boolean {
    if (!this.outlet) return false;
    if (encoded.length > this.budgetLeft()) { this.countDrop(0); return false; }
    this.outlet.send(encoded);
    return true;
  }

  sendQos1(msg: Message): boolean {
    const size = msg.payload.length + Buffer.byteLength(msg.topic) + OVERHEAD;
    if (size > this.budgetLeft()) { this.countDrop(1); return false; }
    const q: Queued = { topic: msg.topic, payload: msg.payload, retain: msg.retain, size };
    if (this.outlet && this.queue.length === 0 && this.inflight.size < FIXED_LIMITS.maxInflight) { this.transmit(q, false); return true; }
    // Kept past this call: a copy, so the queue never pins the publisher's (possibly larger) read buffer.
    q.payload = Buffer.from(msg.payload);
    this.queue.push(q);
    this.queuedBytes += size;
    return true;
  }

  private countDrop(qos: 0 | 1): void {
    if (this.dropped.qos0 + this.dropped.qos1 === 0) this.dropped.since = Date.now();
    if (qos === 0) this.dropped.qos0++; else this.dropped.qos1++;
  }

  private transmit(q: Queued, dup: boolean, id = this.allocateId()): void {
    this.inflight.set(id, q);
    this.inflightBytes += q.size;
    this.outlet!.send(generate({ cmd: 'publish', topic: q.topic, payload: q.payload, qos: 1, messageId: id, retain: q.retain, dup }));
  }

  private allocateId(): number {
    for (;;) {
      const id = this.nextId;
      this.nextId = id === 65535 ? 1 : id + 1;
      if (!this.inflight.has(id)) return id;
    }
  }

  /** PUBACK from the client: the slot is free, the queue moves. */
  acknowledged(id: number): void {
    const q = this.inflight.get(id);
    if (!q) return;
    this.inflight.delete(id);
    this.inflightBytes -= q.size;
    this.drain();
  }

  /** Sends queued QoS 1 messages while there are free slots and the socket is not backed up. */
  drain(): void {
    while (this.outlet && this.queue.length && this.inflight.size < FIXED_LIMITS.maxInflight && this.outlet.buffered < this.maxQueuedBytes) {
      const q = this.queue.shift()!;
      this.queuedBytes -= q.size;
      this.transmit(q, false);
    }
  }

  /** A (re)connected client: messages in flight go again with DUP set (same ids), then the queue. */
  attach(outlet: Outlet): void {
    this.outlet = outlet;
    for (const [id, q] of [...this.inflight]) {
      this.inflight.delete(id);
      this.inflightBytes -= q.size;
      this.transmit(q, true, id);
    }
    this.drain();
  }

  detach(): void { this.outlet = null; }
}
