// The embedded MQTT 3.1.1 broker (mqtt.mode embedded): the Velocitas SDK connects to it when a vehicle app imports
// velocitas_sdk.vehicle_app, and apps publish and subscribe their events through it. mqtt-packet encodes and decodes;
// this part owns the listener, the sessions by client id, the subscription tree, the retained store and the wills.
//
// PART API: broker.start() → port; broker.stats() (health, get_runtime_info); broker.stop().
// Bounds (MqttLimits): clients (a share kept for the agent's own processes; sockets waiting for CONNECT: slots.ts),
// packet size, bytes and writes queued per client (the outbox of each connection), retained count and bytes,
// subscriptions per client, levels per filter and filter bytes in all, topic length; persistent sessions of clients
// that are away are kept up to maxClients (oldest dropped first), and their filters count while they are kept.
import net = require('node:net');
import { generate } from './codec';
import type { Logger } from '../log';
import { Connection, type BrokerSide, type Opened } from './connection';
import { FIXED_LIMITS, type MqttLimits } from './limits';
import { RetainedStore } from './retained';
import { Session } from './session';
import { Slots, type PeerKind, type Refusal } from './slots';
import { SubscriptionTree, topicFilterError } from './topics';

const SUBACK_FAILURE = 0x80;

/** Tells whether a client is one of the agent's own processes (agent-peers.ts). */
export interface PeerOracle { kindOf(socket: net.Socket): Promise<PeerKind> }

export interface MqttStats {
  readonly up: boolean;
  readonly port: number;
  readonly clients: number;
  readonly sessions: number;
  readonly subscriptions: number;
  readonly retained: number;
  readonly retainedBytes: number;
  readonly messagesIn: number;
  readonly messagesOut: number;
  readonly dropped: number;
  /** The most bytes waiting for any one connected client right now (socket buffer + queue): at most mqtt.maxQueuedBytes plus one packet. */
  readonly largestQueueBytes: number;
  /** Connected clients not read because they do not read what they are owed. */
  readonly notReading: number;
  /** Clients in the slots kept for the agent's own processes, and how many are kept. */
  readonly appClients: number;
  readonly appSlots: number;
  /** Bytes of every filter held (mqtt.maxFilterBytes). */
  readonly filterBytes: number;
  /** Clients refused or let go for want of room since the start, and the last time. */
  readonly refused: number;
  readonly lastRefusal: { readonly at: string; readonly reason: string } | null;
  /** A refusal within the last minute. */
  readonly refusing: boolean;
}

export class MqttBroker implements BrokerSide {
  private server: net.Server | null = null;
  private readonly sockets = new Set<Connection>();
  private readonly online = new Map<string, Connection>();
  private readonly sessions = new Map<string, Session>();
  /** Persistent sessions whose client is away, oldest first. */
  private readonly away = new Set<string>();
  private readonly tree = new SubscriptionTree<Session>();
  private readonly retained: RetainedStore;
  private readonly slots: Slots<Connection>;
  private filterBytes = 0;
  private stopping = false;
  private lastRetainWarn = 0;
  /** Warn lines that a flood could repeat: at most one per kind per FIXED_LIMITS.dropLogIntervalMs, with the count. */
  private readonly warned = new Map<string, { at: number; more: number }>();
  private counts = { in: 0, out: 0, dropped: 0 };
  port = 0;

  constructor(readonly limits: MqttLimits, readonly log: Logger, private readonly peers: PeerOracle | null = null) {
    this.retained = new RetainedStore(limits.maxRetained, limits.maxRetainedBytes);
    this.slots = new Slots(limits.maxClients, limits.appSlotsPercent);
  }

  /** Listens on host:port; rejects with a sentence naming the address (a port in use is the usual cause). */
  async start(host: string, port: number): Promise<number> {
    const server = net.createServer((socket) => this.accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e: NodeJS.ErrnoException) => reject(new Error(e.code === 'EADDRINUSE'
        ? `${host}:${port} is in use (another MQTT broker, e.g. mosquitto, already listens there: set mqtt.mode external to use it, or another mqtt.address)`
        : `cannot listen on ${host}:${port}: ${e.message}`)));
      server.listen(port, host, () => resolve());
    });
    server.on('error', (e) => this.log.error({ err: e.message }, 'mqtt listener error'));
    this.server = server;
    this.port = (server.address() as net.AddressInfo).port;
    return this.port;
  }

  private accept(socket: net.Socket): void {
    if (this.stopping) { socket.destroy(); return; }
    const conn = new Connection(socket, this);
    this.sockets.add(conn);
    socket.once('close', () => this.slots.gone(conn));
    this.slots.accepted(conn);
  }

  connecting(conn: Connection): void { this.slots.connecting(conn); }

  open(conn: Connection, clientId: string, clean: boolean, peer?: PeerKind): Opened {
    const previous = this.online.get(clientId);
    const slot = this.slots.choose(peer ?? null, previous?.slot ?? null);
    if (slot === 'identify') {
      this.slots.identifyStart();
      const asked = this.peers ? this.peers.kindOf(conn.socket) : Promise.resolve<PeerKind>('other');
      return { identify: asked.catch((): PeerKind => 'other').finally(() => this.slots.identifyEnd()) };
    }
    if (slot === 'full') {
      const { shared, reserved } = this.slots;
      this.slots.refuse(`client ${clientId} refused: mqtt.maxClients reached (${shared} slots for anyone taken${reserved ? `, ${reserved} kept for the agent's apps` : ''})`);
      this.warn('refused', { clientId, remote: conn.remote, maxClients: this.limits.maxClients, appSlots: reserved, peer },
        'mqtt connection refused: mqtt.maxClients reached (the slots kept for the agent\'s own apps are not for this client)');
      return { refuse: 3 };
    }
    if (previous) {
      this.log.info({ clientId }, 'mqtt client id reconnected: the older connection is closed');
      previous.supersede();
    }
    let session = this.sessions.get(clientId);
    let present = false;
    if (session && (clean || session.clean)) { this.forget(session); session = undefined; }
    if (session) present = true;
    else {
      session = new Session(clientId, clean, this.limits.maxQueuedBytes);
      this.sessions.set(clientId, session);
    }
    this.away.delete(clientId);
    this.online.set(clientId, conn);
    conn.slot = slot;
    this.slots.take(slot);
    this.log.debug({ clientId, remote: conn.remote, clean, present, slot }, 'mqtt client connected');
    return { session, present };
  }

  /** A warn line a flood could repeat: the first at once, then at most one per interval with how many were left out. */
  private warn(kind: string, fields: Record<string, unknown>, msg: string): void {
    const now = Date.now();
    const w = this.warned.get(kind);
    if (w && now - w.at < FIXED_LIMITS.dropLogIntervalMs) { w.more++; return; }
    this.warned.set(kind, { at: now, more: 0 });
    this.log.warn(w?.more ? { ...fields, alsoSinceLastLine: w.more } : fields, msg);
  }

  /** Drops a session and its subscriptions. */
  private forget(session: Session): void {
    for (const filter of session.subscriptions.keys()) this.dropFilter(filter, session);
    session.subscriptions.clear();
    if (this.sessions.get(session.clientId) === session) this.sessions.delete(session.clientId);
    this.away.delete(session.clientId);
  }

  closed(conn: Connection, why: string): void {
    this.sockets.delete(conn);
    this.slots.ending(conn);
    if (conn.slot) { this.slots.release(conn.slot); conn.slot = null; }
    const session = conn.session;
    if (!session) return;
    if (this.online.get(conn.clientId) === conn) this.online.delete(conn.clientId);
    if (session.outlet === conn) session.detach();
    this.logDrops(session, true);
    this.log.debug({ clientId: conn.clientId, why }, 'mqtt client disconnected');
    if (session.outlet) return; // already attached to the connection that took over
    if (session.clean) { this.forget(session); return; }
    this.away.add(session.clientId);
    while (this.away.size > this.limits.maxClients) {
      const oldest = this.away.values().next().value as string;
      const s = this.sessions.get(oldest);
      if (s) this.forget(s); else this.away.delete(oldest);
      this.log.info({ clientId: oldest }, 'mqtt persistent session dropped: more sessions kept than mqtt.maxClients');
    }
  }

  publish(topic: string, payload: Buffer, qos: 0 | 1, retain: boolean): void {
    if (this.stopping) return;
    this.counts.in++;
    if (retain && this.retained.put(topic, payload, qos) === 'refused') {
      const now = Date.now();
      if (now - this.lastRetainWarn >= FIXED_LIMITS.dropLogIntervalMs) {
        this.lastRetainWarn = now;
        this.log.warn({ topic, retained: this.retained.size, retainedBytes: this.retained.totalBytes }, 'mqtt retained message not kept: mqtt.maxRetained or mqtt.maxRetainedBytes reached (it was still delivered)');
      }
    }
    let encoded0: Buffer | null = null;
    for (const [session, subQos] of this.tree.match(topic)) {
      let ok: boolean;
      if (Math.min(qos, subQos) === 0) {
        encoded0 ??= generate({ cmd: 'publish', topic, payload, qos: 0, retain: false, dup: false });
        ok = session.sendQos0(encoded0);
      } else {
        ok = session.sendQos1({ topic, payload, retain: false });
      }
      if (ok) this.counts.out++;
      else if (session.outlet || !session.clean) { this.counts.dropped++; this.logDrops(session, false); }
    }
  }

  /** The slow-subscriber line: the first drop at once, then at most one line per interval with the counts. */
  private logDrops(session: Session, final: boolean): void {
    const d = session.dropped;
    if (d.qos0 + d.qos1 === 0) return;
    const now = Date.now();
    if (!final && now - session.lastDropLog < FIXED_LIMITS.dropLogIntervalMs) return;
    session.lastDropLog = now;
    this.log.warn({ clientId: session.clientId, droppedQos0: d.qos0, droppedQos1: d.qos1, sinceMs: now - d.since, maxQueuedBytes: this.limits.maxQueuedBytes },
      'mqtt subscriber is not reading fast enough: messages to it were dropped (mqtt.maxQueuedBytes)');
    session.dropped = { qos0: 0, qos1: 0, since: 0 };
  }

  subscribe(session: Session, subs: ReadonlyArray<{ topic: string; qos: number }>): { granted: number[]; deliverRetained(): void } {
    const accepted: Array<{ filter: string; qos: 0 | 1 }> = [];
    const granted = subs.map(({ topic: filter, qos }) => {
      const err = topicFilterError(filter, this.limits.maxTopicLength, FIXED_LIMITS.maxFilterLevels);
      if (err) { this.log.debug({ clientId: session.clientId, filter: filter.slice(0, 200), err }, 'mqtt subscription refused'); return SUBACK_FAILURE; }
      if (!session.subscriptions.has(filter)) {
        if (session.subscriptions.size >= this.limits.maxSubscriptions) {
          this.warn('maxSubscriptions', { clientId: session.clientId, maxSubscriptions: this.limits.maxSubscriptions }, 'mqtt subscription refused: mqtt.maxSubscriptions reached for this client');
          return SUBACK_FAILURE;
        }
        const bytes = Buffer.byteLength(filter);
        if (this.filterBytes + bytes > this.limits.maxFilterBytes) {
          this.warn('maxFilterBytes', { clientId: session.clientId, filterBytes: this.filterBytes, maxFilterBytes: this.limits.maxFilterBytes }, 'mqtt subscription refused: mqtt.maxFilterBytes reached (the filters of every session, kept ones too)');
          return SUBACK_FAILURE;
        }
        this.filterBytes += bytes;
      }
      const q: 0 | 1 = qos >= 1 ? 1 : 0; // QoS 2 is granted as QoS 1
      session.subscriptions.set(filter, q);
      this.tree.add(filter, session, q);
      accepted.push({ filter, qos: q });
      return q;
    });
    const deliverRetained = () => {
      for (const { filter, qos } of accepted) {
        for (const m of this.retained.match(filter)) {
          if (Math.min(qos, m.qos) === 0) session.sendQos0(generate({ cmd: 'publish', topic: m.topic, payload: m.payload, qos: 0, retain: true, dup: false }));
          else session.sendQos1({ topic: m.topic, payload: m.payload, retain: true });
        }
      }
    };
    return { granted, deliverRetained };
  }

  unsubscribe(session: Session, filters: readonly string[]): void {
    for (const f of filters) if (session.subscriptions.delete(f)) this.dropFilter(f, session);
  }

  private dropFilter(filter: string, session: Session): void {
    this.tree.remove(filter, session);
    this.filterBytes -= Buffer.byteLength(filter);
  }

  stats(): MqttStats {
    let largest = 0;
    let notReading = 0;
    for (const c of this.online.values()) {
      largest = Math.max(largest, c.buffered + (c.session?.pendingBytes ?? 0));
      if (c.paused) notReading++;
    }
    const last: Refusal | null = this.slots.lastRefusal;
    return {
      largestQueueBytes: largest, notReading,
      up: this.server !== null && !this.stopping, port: this.port, clients: this.online.size, sessions: this.sessions.size,
      subscriptions: this.tree.size, retained: this.retained.size, retainedBytes: this.retained.totalBytes,
      messagesIn: this.counts.in, messagesOut: this.counts.out, dropped: this.counts.dropped,
      appClients: this.slots.clients.app, appSlots: this.slots.reserved, filterBytes: this.filterBytes,
      refused: this.slots.refused, lastRefusal: last ? { at: new Date(last.at).toISOString(), reason: last.reason } : null,
      refusing: this.slots.refusing(),
    };
  }

  async stop(): Promise<void> {
    this.stopping = true;
    const server = this.server;
    for (const c of [...this.sockets]) c.close('the agent is stopping');
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    this.server = null;
  }
}
