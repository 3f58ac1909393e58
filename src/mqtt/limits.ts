// The embedded MQTT broker's bounds, and the guard that enforces the packet size where the bytes arrive: the remaining
// length of each packet is read from its fixed header before the parser buffers a single byte of its body, so an
// oversized packet costs its header, not its size.
import type { Config } from '../config';

export interface MqttLimits {
  /** Connected clients at once; one more gets CONNACK 3 (server unavailable) and is closed. */
  readonly maxClients: number;
  /** The share of maxClients (percent, rounded down) only the agent's own processes may take once the rest is taken. */
  readonly appSlotsPercent: number;
  /** Whole packet (fixed header included); a bigger one closes the connection. */
  readonly maxPacketBytes: number;
  /**
   * Bytes waiting for one client (unsent replies and messages, each queued write counted WRITE_COST more, + queued
   * QoS 1); beyond it QoS 0 is dropped, then QoS 1, and the client's input is not read until half of it has gone.
   */
  readonly maxQueuedBytes: number;
  /** A client whose input stays paused this long with nothing of what it is owed taken is dropped. */
  readonly stallMs: number;
  readonly maxRetained: number;
  readonly maxRetainedBytes: number;
  /** Topic filters per client; more are refused in the SUBACK (0x80). */
  readonly maxSubscriptions: number;
  /** Bytes of a topic name or filter. */
  readonly maxTopicLength: number;
  /** Bytes of every filter held, by every session (online or kept); a filter past it is refused (0x80). */
  readonly maxFilterBytes: number;
}

/** Bounds that need no knob. */
export const FIXED_LIMITS = {
  /** A socket that sends no CONNECT within this is closed: a real client sends it at once. */
  connectTimeoutMs: 2_000,
  /** Sockets waiting for their CONNECT at once; a new one makes the oldest give way. */
  maxWaiting: 64,
  /** CONNECTs waiting to know whether the client is one of the agent's processes; more are refused (CONNACK 3). */
  maxIdentifying: 32,
  /** Sockets ended and not yet closed (a CONNACK refusal on its way); past it the oldest is cut at once. */
  maxClosing: 64,
  /** Packets a client may send before its CONNACK while it is being identified; more close it. */
  maxEarlyPackets: 256,
  /**
   * Levels of a topic filter. Each level is a node of the subscription tree, and empty levels are valid, so a
   * 1 024-byte filter could be 1 021 nodes. 32 is the depth the agent's vehicle model allows (VSS paths mirrored as
   * topics fit) and four times what hosted brokers allow (AWS IoT: 8 levels); no Velocitas topic comes near it.
   */
  maxFilterLevels: 32,
  /** /health is degraded while a client was refused for want of room within this. */
  refusalWindowMs: 60_000,
  /** QoS 1 messages sent and not yet acknowledged, per client; more wait in the client's queue. */
  maxInflight: 32,
  maxClientIdLength: 256,
  /** A client silent for this many keep-alive periods is cut off (spec 3.1.2.10). */
  keepAliveFactor: 1.5,
  /** A slow subscriber's drops are logged at most this often (the first drop at once). */
  dropLogIntervalMs: 10_000,
} as const;

export function limitsFrom(config: Config): MqttLimits {
  const m = config.mqtt;
  return {
    maxClients: m.maxClients, appSlotsPercent: m.appSlotsPercent, maxPacketBytes: m.maxPacketBytes,
    maxQueuedBytes: m.maxQueuedBytes, stallMs: m.stallMs, maxRetained: m.maxRetained, maxRetainedBytes: m.maxRetainedBytes,
    maxSubscriptions: m.maxSubscriptions, maxTopicLength: m.maxTopicLength, maxFilterBytes: m.maxFilterBytes,
  };
}

/** Follows packet boundaries in the byte stream (fixed header, remaining length, body) without keeping any bytes. */
export class PacketSizeGuard {
  private state: 'type' | 'length' | 'body' = 'type';
  private length = 0;
  private lengthBytes = 0;
  private multiplier = 1;
  private remaining = 0;

  constructor(private readonly maxPacketBytes: number) {}

  /** null while every packet so far fits, else the error that must close the connection. */
  check(chunk: Buffer): string | null {
    let i = 0;
    while (i < chunk.length) {
      if (this.state === 'body') {
        const n = Math.min(this.remaining, chunk.length - i);
        this.remaining -= n;
        i += n;
        if (this.remaining === 0) this.state = 'type';
        continue;
      }
      if (this.state === 'type') {
        i++;
        this.state = 'length';
        this.length = 0; this.lengthBytes = 0; this.multiplier = 1;
        continue;
      }
      const b = chunk[i++]!;
      this.length += (b & 0x7f) * this.multiplier;
      this.multiplier *= 128;
      this.lengthBytes++;
      if (b & 0x80) {
        if (this.lengthBytes >= 4) return 'malformed remaining length';
        continue;
      }
      const total = 1 + this.lengthBytes + this.length;
      if (total > this.maxPacketBytes) return `packet of ${total} bytes is over mqtt.maxPacketBytes (${this.maxPacketBytes})`;
      this.remaining = this.length;
      this.state = this.remaining > 0 ? 'body' : 'type';
    }
    return null;
  }
}
