// One client's TCP connection: the packet-size guard and the mqtt-packet parser where the bytes arrive, the CONNECT
// handshake (with its time limit, and while the broker asks the kernel whether the client is one of the agent's own
// processes, its next packets held), keep-alive (cut off after 1.5 × the client's keep-alive without a packet), and
// each packet of MQTT 3.1.1 handed to the broker. Everything sent goes through the outbox: a client that reads none of
// it is no longer read, and dropped once stalled. A protocol violation closes the connection (spec 4.8); every close
// that is not a DISCONNECT publishes the client's will.
import type * as net from 'node:net';
import type { Logger } from '../log';
import { generate, parser, type IConnectPacket, type IPublishPacket, type Packet } from './codec';
import { FIXED_LIMITS, PacketSizeGuard, type MqttLimits } from './limits';
import { Outbox } from './outbox';
import type { Outlet, Session } from './session';
import type { Droppable, PeerKind, Slot } from './slots';
import { topicNameError } from './topics';

export interface Will { readonly topic: string; readonly payload: Buffer; readonly qos: 0 | 1; readonly retain: boolean }

/** What broker.open answers: the session, a CONNACK refusal code, or the question the kernel must answer first. */
export type Opened = { session: Session; present: boolean } | { refuse: number } | { identify: Promise<PeerKind> };

/** What a connection needs from the broker. */
export interface BrokerSide {
  readonly limits: MqttLimits;
  readonly log: Logger;
  /** `peer`: what the kernel said of the client, once asked (open answered `identify`). */
  open(conn: Connection, clientId: string, clean: boolean, peer?: PeerKind): Opened;
  publish(topic: string, payload: Buffer, qos: 0 | 1, retain: boolean): void;
  /** Grants each filter; the retained messages it matches go out after the SUBACK, through deliverRetained. */
  subscribe(session: Session, subs: ReadonlyArray<{ topic: string; qos: number }>): { granted: number[]; deliverRetained(): void };
  unsubscribe(session: Session, filters: readonly string[]): void;
  /** The CONNECT arrived (the socket no longer waits for one). */
  connecting(conn: Connection): void;
  closed(conn: Connection, why: string): void;
}

/** PINGRESP: its type (13) and a remaining length of 0, the same two bytes for every client. */
const PINGRESP = Buffer.from([0xd0, 0x00]);
/**
 * Bytes of one client handled before the event loop gets a turn: libuv reads a socket up to 32 times (2 MiB) in one
 * go, and a flood of tiny packets is a million of them, seconds of work during which no other client, ping or /health
 * is served. Past this the socket waits one turn (setImmediate).
 */
const FAIR_SHARE_BYTES = 64 * 1024;

export class Connection implements Outlet, Droppable {
  session: Session | null = null;
  clientId = '';
  /** The slot this client holds (set by the broker when it is let in). */
  slot: Slot | null = null;
  private will: Will | null = null;
  private readonly guard: PacketSizeGuard;
  private readonly parser = parser({ protocolVersion: 4 });
  private readonly outbox: Outbox;
  private timer: NodeJS.Timeout | null;
  private keepAliveS = 0;
  private keepAliveMs = 0;
  private closed = false;
  /** Bytes handled since the socket last waited a turn, and whether it waits for one now. */
  private burst = 0;
  private yielding = false;
  /** Packets that came after a CONNECT still being decided, handled once it is. */
  private early: Packet[] | null = null;
  /** QoS 2 packet ids received and not yet released (duplicates are not delivered twice). */
  private readonly qos2 = new Set<number>();

  constructor(readonly socket: net.Socket, private readonly broker: BrokerSide) {
    this.guard = new PacketSizeGuard(broker.limits.maxPacketBytes);
    this.outbox = new Outbox(socket, broker.limits.maxQueuedBytes, broker.limits.stallMs, {
      backpressure: (paused) => this.backpressure(paused),
      stalled: (ms) => this.stalled(ms),
    });
    socket.setNoDelay(true);
    const ms = FIXED_LIMITS.connectTimeoutMs;
    this.timer = setTimeout(() => this.close(this.early ? `CONNECT not decided within ${ms} ms` : `no CONNECT within ${ms} ms`), ms);
    this.parser.on('packet', (p: Packet) => {
      // A packet the codec cannot answer (it throws on a field it refuses) ends this connection, never the agent.
      try { this.onPacket(p); } catch (e) { this.close(`cannot handle ${p.cmd}: ${(e as Error).message}`); }
    });
    this.parser.on('error', (e: Error) => this.close(`malformed packet: ${e.message}`));
    socket.on('data', (chunk: Buffer) => {
      if (this.closed) return;
      const over = this.guard.check(chunk);
      if (over) { this.close(over); return; }
      this.parser.parse(chunk);
      this.burst += chunk.length;
      if (this.burst >= FAIR_SHARE_BYTES && !this.yielding) {
        this.yielding = true;
        this.flow();
        setImmediate(() => { this.burst = 0; this.yielding = false; this.flow(); });
      }
    });
    socket.on('drain', () => this.session?.drain());
    socket.on('error', () => { /* the close that follows ends the connection */ });
    socket.on('close', () => this.close('connection lost'));
  }

  /** What this client is owed and the kernel has not taken (bytes, each queued write counted more: outbox.ts). */
  get buffered(): number { return this.outbox.buffered; }
  get remote(): string { return `${this.socket.remoteAddress}:${this.socket.remotePort}`; }
  /** Not read: its replies are not being read. */
  get paused(): boolean { return this.outbox.paused; }

  send(packet: Buffer): void {
    if (this.closed) return;
    this.outbox.push(packet);
  }

  private onPacket(p: Packet): void {
    if (this.closed) return;
    if (this.early) {
      if (this.early.length >= FIXED_LIMITS.maxEarlyPackets) { this.close(`more than ${FIXED_LIMITS.maxEarlyPackets} packets before the CONNACK`); return; }
      this.early.push(p);
      return;
    }
    this.timer?.refresh();
    if (!this.session) {
      if (p.cmd !== 'connect') { this.close(`${p.cmd} before CONNECT`); return; }
      this.broker.connecting(this);
      this.onConnect(p);
      return;
    }
    switch (p.cmd) {
      case 'publish': this.onPublish(p); break;
      case 'puback': this.session.acknowledged(p.messageId ?? 0); break;
      case 'pubrel':
        this.qos2.delete(p.messageId ?? 0);
        this.send(generate({ cmd: 'pubcomp', messageId: p.messageId }));
        break;
      // QoS 2 is granted as QoS 1, so PUBREC/PUBCOMP from the client are not expected; ignored if they come.
      case 'pubrec': case 'pubcomp': break;
      case 'subscribe': {
        const { granted, deliverRetained } = this.broker.subscribe(this.session, p.subscriptions);
        this.send(generate({ cmd: 'suback', messageId: p.messageId, granted }));
        deliverRetained();
        break;
      }
      case 'unsubscribe':
        this.broker.unsubscribe(this.session, p.unsubscriptions);
        this.send(generate({ cmd: 'unsuback', messageId: p.messageId, granted: [] }));
        break;
      case 'pingreq': this.send(PINGRESP); break;
      case 'disconnect': this.will = null; this.close('DISCONNECT'); break;
      default: this.close(`unexpected ${p.cmd}`);
    }
  }

  private refuse(code: number, why: string): void {
    this.send(generate({ cmd: 'connack', returnCode: code, sessionPresent: false }));
    this.will = null;
    this.close(why);
  }

  private onConnect(p: IConnectPacket): void {
    if (p.protocolVersion !== 4 && p.protocolVersion !== 3) { this.refuse(1, `protocol level ${p.protocolVersion} (this broker speaks MQTT 3.1 and 3.1.1)`); return; }
    const clean = p.clean !== false;
    let clientId = p.clientId ?? '';
    if (clientId.length > FIXED_LIMITS.maxClientIdLength) { this.refuse(2, 'client id too long'); return; }
    if (clientId === '') {
      if (!clean) { this.refuse(2, 'empty client id with clean session 0'); return; }
      clientId = `auto-${Math.random().toString(36).slice(2, 12)}`;
    }
    if (p.will) {
      const err = topicNameError(p.will.topic, this.broker.limits.maxTopicLength);
      if (err) { this.close(`will: ${err}`); return; }
      const payload = typeof p.will.payload === 'string' ? Buffer.from(p.will.payload) : Buffer.from(p.will.payload ?? []);
      this.will = { topic: p.will.topic, payload, qos: p.will.qos === 0 ? 0 : 1, retain: !!p.will.retain };
    }
    const opened = this.broker.open(this, clientId, clean);
    if (!('identify' in opened)) { this.opened(opened, clientId, p.keepalive ?? 0); return; }
    // Until the kernel says who the client is, it is not read and what it sent after CONNECT waits.
    this.early = [];
    this.flow();
    void opened.identify.then((peer) => {
      if (this.closed) return;
      const early = this.early ?? [];
      this.early = null;
      const again = this.broker.open(this, clientId, clean, peer);
      this.opened('identify' in again ? { refuse: 3 } : again, clientId, p.keepalive ?? 0);
      for (const q of early) this.onPacket(q);
      this.flow();
    });
  }

  private opened(opened: { session: Session; present: boolean } | { refuse: number }, clientId: string, keepalive: number): void {
    if ('refuse' in opened) { this.refuse(opened.refuse, 'refused by the broker'); return; }
    this.clientId = clientId;
    this.session = opened.session;
    this.send(generate({ cmd: 'connack', returnCode: 0, sessionPresent: opened.present }));
    opened.session.attach(this);
    // Keep-alive 0 means none; otherwise the connect timer becomes the keep-alive cut-off.
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (keepalive > 0) {
      this.keepAliveS = keepalive;
      this.keepAliveMs = Math.ceil(keepalive * 1000 * FIXED_LIMITS.keepAliveFactor);
      this.armKeepAlive();
    }
  }

  private armKeepAlive(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.close(`keep-alive: nothing received for ${this.keepAliveMs} ms (1.5 × ${this.keepAliveS} s)`), this.keepAliveMs);
  }

  private onPublish(p: IPublishPacket): void {
    const err = topicNameError(p.topic, this.broker.limits.maxTopicLength);
    if (err) { this.close(`PUBLISH: ${err}`); return; }
    const payload = typeof p.payload === 'string' ? Buffer.from(p.payload) : p.payload;
    if (p.qos === 2) {
      const id = p.messageId ?? 0;
      this.send(generate({ cmd: 'pubrec', messageId: id }));
      if (this.qos2.has(id)) return; // a re-sent QoS 2 message already delivered
      if (this.qos2.size >= FIXED_LIMITS.maxInflight * 2) { this.close('too many unreleased QoS 2 messages'); return; }
      this.qos2.add(id);
    }
    this.broker.publish(p.topic, payload, p.qos === 0 ? 0 : 1, p.retain);
    if (p.qos === 1) this.send(generate({ cmd: 'puback', messageId: p.messageId }));
  }

  /** Reads the socket unless the client is being identified or is not reading what it is owed. */
  private flow(): void {
    if (this.closed) return;
    const read = this.early === null && !this.outbox.paused && !this.yielding;
    if (read && this.socket.isPaused()) this.socket.resume();
    else if (!read && !this.socket.isPaused()) this.socket.pause();
  }

  private backpressure(paused: boolean): void {
    if (this.closed) return;
    this.flow();
    // While it is not read its PINGREQs wait unread: the stall bound, not keep-alive, decides then.
    if (this.session && this.keepAliveMs > 0) {
      if (!paused) this.armKeepAlive();
      else if (this.timer) { clearTimeout(this.timer); this.timer = null; }
    }
    if (!paused) this.session?.drain();
  }

  private stalled(ms: number): void {
    this.broker.log.warn({ clientId: this.clientId || undefined, remote: this.remote, stalledMs: ms, unsentBytes: this.buffered, maxQueuedBytes: this.broker.limits.maxQueuedBytes, stallMs: this.broker.limits.stallMs },
      'mqtt client is not reading its replies: the connection is dropped (mqtt.stallMs)');
    this.close(`not reading for ${ms} ms (mqtt.stallMs)`);
  }

  /** Taken over by a new connection with the same client id: no will (the client is still there). */
  supersede(): void { this.will = null; this.close('taken over by a new connection with the same client id'); }

  /** Let go at once, nothing more sent (a socket that gave way, a closing socket over its bound). */
  drop(why: string): void {
    this.close(why);
    this.socket.destroy();
  }

  /** Ends the connection once; a will still set is published. */
  close(why: string): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.early = null;
    // What this tick owes still goes (a CONNACK refusal, the last PUBACK); a peer that never reads is cut after 1 s.
    this.outbox.end();
    setTimeout(() => this.socket.destroy(), 1000).unref();
    const will = this.will;
    this.will = null;
    this.broker.closed(this, why);
    if (will) this.broker.publish(will.topic, will.payload, will.qos, will.retain);
  }
}
