// One client's TCP connection: the packet-size guard and the mqtt-packet parser where the bytes arrive, the CONNECT
// handshake (with its time limit), keep-alive (cut off after 1.5 × the client's keep-alive without a packet), and each
// packet of MQTT 3.1.1 handed to the broker. A protocol violation closes the connection (spec 4.8); every close that is
// not a DISCONNECT publishes the client's will.
import type * as net from 'node:net';
import { mqtt } from './codec';
import { FIXED_LIMITS, PacketSizeGuard, type MqttLimits } from './limits';
import type { Outlet, Session } from './session';
import { topicNameError } from './topics';

export interface Will { readonly topic: string; readonly payload: Buffer; readonly qos: 0 | 1; readonly retain: boolean }

/** What a connection needs from the broker. */
export interface BrokerSide {
  readonly limits: MqttLimits;
  /** Returns the session and whether it was present (persistent and kept), or a CONNACK refusal code. */
  open(conn: Connection, clientId: string, clean: boolean): { session: Session; present: boolean } | { refuse: number };
  publish(topic: string, payload: Buffer, qos: 0 | 1, retain: boolean): void;
  /** Grants each filter; the retained messages it matches go out after the SUBACK, through deliverRetained. */
  subscribe(session: Session, subs: ReadonlyArray<{ topic: string; qos: number }>): { granted: number[]; deliverRetained(): void };
  unsubscribe(session: Session, filters: readonly string[]): void;
  closed(conn: Connection, why: string): void;
}

const PINGRESP = mqtt.generate({ cmd: 'pingresp' });

export class Connection implements Outlet {
  session: Session | null = null;
  clientId = '';
  private will: Will | null = null;
  private readonly guard: PacketSizeGuard;
  private readonly parser = mqtt.parser({ protocolVersion: 4 });
  private timer: NodeJS.Timeout | null;
  private closed = false;
  private corked = false;
  /** QoS 2 packet ids received and not yet released (duplicates are not delivered twice). */
  private readonly qos2 = new Set<number>();

  constructor(readonly socket: net.Socket, private readonly broker: BrokerSide) {
    this.guard = new PacketSizeGuard(broker.limits.maxPacketBytes);
    socket.setNoDelay(true);
    this.timer = setTimeout(() => this.close('no CONNECT within 10 s'), FIXED_LIMITS.connectTimeoutMs);
    this.parser.on('packet', (p: mqtt.Packet) => {
      // A packet the codec cannot answer (it throws on a field it refuses) ends this connection, never the agent.
      try { this.onPacket(p); } catch (e) { this.close(`cannot handle ${p.cmd}: ${(e as Error).message}`); }
    });
    this.parser.on('error', (e: Error) => this.close(`malformed packet: ${e.message}`));
    socket.on('data', (chunk: Buffer) => {
      if (this.closed) return;
      const over = this.guard.check(chunk);
      if (over) { this.close(over); return; }
      this.parser.parse(chunk);
    });
    socket.on('drain', () => this.session?.drain());
    socket.on('error', () => { /* the close that follows ends the connection */ });
    socket.on('close', () => this.close('connection lost'));
  }

  get buffered(): number { return this.socket.writableLength; }
  get remote(): string { return `${this.socket.remoteAddress}:${this.socket.remotePort}`; }

  send(packet: Buffer): void {
    if (this.closed) return;
    // Everything sent to this client while one chunk of input is handled leaves in one write (one syscall).
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(() => { this.corked = false; this.socket.uncork(); });
    }
    this.socket.write(packet);
  }

  private onPacket(p: mqtt.Packet): void {
    if (this.closed) return;
    this.timer?.refresh();
    if (!this.session) {
      if (p.cmd !== 'connect') { this.close(`${p.cmd} before CONNECT`); return; }
      this.onConnect(p);
      return;
    }
    switch (p.cmd) {
      case 'publish': this.onPublish(p); break;
      case 'puback': this.session.acknowledged(p.messageId ?? 0); break;
      case 'pubrel':
        this.qos2.delete(p.messageId ?? 0);
        this.send(mqtt.generate({ cmd: 'pubcomp', messageId: p.messageId }));
        break;
      // QoS 2 is granted as QoS 1, so PUBREC/PUBCOMP from the client are not expected; ignored if they come.
      case 'pubrec': case 'pubcomp': break;
      case 'subscribe': {
        const { granted, deliverRetained } = this.broker.subscribe(this.session, p.subscriptions);
        this.send(mqtt.generate({ cmd: 'suback', messageId: p.messageId, granted }));
        deliverRetained();
        break;
      }
      case 'unsubscribe':
        this.broker.unsubscribe(this.session, p.unsubscriptions);
        this.send(mqtt.generate({ cmd: 'unsuback', messageId: p.messageId, granted: [] }));
        break;
      case 'pingreq': this.send(PINGRESP); break;
      case 'disconnect': this.will = null; this.close('DISCONNECT'); break;
      default: this.close(`unexpected ${p.cmd}`);
    }
  }

  private onConnect(p: mqtt.IConnectPacket): void {
    const refuse = (code: number, why: string) => {
      this.socket.end(mqtt.generate({ cmd: 'connack', returnCode: code, sessionPresent: false }));
      this.close(why);
    };
    if (p.protocolVersion !== 4 && p.protocolVersion !== 3) { refuse(1, `protocol level ${p.protocolVersion} (this broker speaks MQTT 3.1 and 3.1.1)`); return; }
    const clean = p.clean !== false;
    let clientId = p.clientId ?? '';
    if (clientId.length > FIXED_LIMITS.maxClientIdLength) { refuse(2, 'client id too long'); return; }
    if (clientId === '') {
      if (!clean) { refuse(2, 'empty client id with clean session 0'); return; }
      clientId = `auto-${Math.random().toString(36).slice(2, 12)}`;
    }
    if (p.will) {
      const err = topicNameError(p.will.topic, this.broker.limits.maxTopicLength);
      if (err) { this.close(`will: ${err}`); return; }
      const payload = typeof p.will.payload === 'string' ? Buffer.from(p.will.payload) : Buffer.from(p.will.payload ?? []);
      this.will = { topic: p.will.topic, payload, qos: p.will.qos === 0 ? 0 : 1, retain: !!p.will.retain };
    }
    const opened = this.broker.open(this, clientId, clean);
    if ('refuse' in opened) { this.will = null; refuse(opened.refuse, 'refused by the broker'); return; }
    this.clientId = clientId;
    this.session = opened.session;
    this.send(mqtt.generate({ cmd: 'connack', returnCode: 0, sessionPresent: opened.present }));
    opened.session.attach(this);
    // Keep-alive 0 means none; otherwise the connect timer becomes the keep-alive cut-off.
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const ka = p.keepalive ?? 0;
    if (ka > 0) {
      const ms = Math.ceil(ka * 1000 * FIXED_LIMITS.keepAliveFactor);
      this.timer = setTimeout(() => this.close(`keep-alive: nothing received for ${ms} ms (1.5 × ${ka} s)`), ms);
    }
  }

  private onPublish(p: mqtt.IPublishPacket): void {
    const err = topicNameError(p.topic, this.broker.limits.maxTopicLength);
    if (err) { this.close(`PUBLISH: ${err}`); return; }
    const payload = typeof p.payload === 'string' ? Buffer.from(p.payload) : p.payload;
    if (p.qos === 2) {
      const id = p.messageId ?? 0;
      this.send(mqtt.generate({ cmd: 'pubrec', messageId: id }));
      if (this.qos2.has(id)) return; // a re-sent QoS 2 message already delivered
      if (this.qos2.size >= FIXED_LIMITS.maxInflight * 2) { this.close('too many unreleased QoS 2 messages'); return; }
      this.qos2.add(id);
    }
    this.broker.publish(p.topic, payload, p.qos === 0 ? 0 : 1, p.retain);
    if (p.qos === 1) this.send(mqtt.generate({ cmd: 'puback', messageId: p.messageId }));
  }

  /** Taken over by a new connection with the same client id: no will (the client is still there). */
  supersede(): void { this.will = null; this.close('taken over by a new connection with the same client id'); }

  /** Ends the connection once; a will still set is published. */
  close(why: string): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    // end() flushes what was written (a CONNACK refusal, the last PUBACK); a peer that never reads is cut after 1 s.
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 1000).unref();
    const will = this.will;
    this.will = null;
    this.broker.closed(this, why);
    if (will) this.broker.publish(will.topic, will.payload, will.qos, will.retain);
  }
}
