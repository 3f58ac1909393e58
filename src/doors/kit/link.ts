// The outbound link to a Socket.IO 4 Kit-Manager over a plain `ws` WebSocket (no socket.io-client at run time).
// One object owns the connection and its reconnection (model: socket.io-client lib/manager.ts): connect, read the
// Engine.IO open packet, join the main namespace, register_kit, answer pings, and start over with jittered backoff
// (redialer.ts) whenever the link is lost or goes quiet. Incoming `messageToKit` payloads go to the frontends
// (frontends.ts), which run them as commands from the one table; their replies go back as
// `messageToKit-kitReply`. The link holds no business state: apps keep running whatever it does. What it sends is
// counted in frames and bytes (send-bound.ts): a Kit-Manager that does not read is not read either, and is left past
// the bound, so the agent's memory does not follow what the peer does.
import fs = require('node:fs');
import type WebSocket from 'ws';
import type { RawData } from 'ws';
import { WS_OPEN, wsModule } from '../ws-module';
import { CAPABILITIES } from '../../capabilities';
import type { Frame } from '../../core/frame';
import type { Parts } from '../../parts';
import { Redialer } from './redialer';
import { systemClock, type Clock } from '../../core/clock';
import type { KitReplies } from './client';
import { KitFrontends } from './frontends';
import { fitToCap } from './frame-cap';
import { PongPacer, SendBound, sendLimits } from '../send-bound';
import { decodeEio, encodeAck, encodeConnect, encodeEvent, encodePong, engineUrl, type SioPacket } from './socketio-wire';

/** The real Kit-Manager accepts frames up to 100 MB (maxHttpBufferSize 1e8); larger ones close the socket (1009). */
const WS_MAX_PAYLOAD = 100 * 1024 * 1024 + 1024;
/** report-runtime-state at most once per this. */
const STATE_REPORT_MS = 1000;
/** Malformed frames are logged at most once per this; the ones in between are counted in the next line. */
const MALFORMED_LOG_MS = 1000;
/**
 * The open packet's pingInterval and pingTimeout are each taken up to this: a Kit-Manager that announces more (even
 * past 2^31 ms, where Node's timers fire at once and the link would flap) is still left after 20 min without a ping.
 */
const MAX_PING_MS = 10 * 60_000;

type ConnState = 'connecting' | 'open' | 'registered';

/** Disposers of one connection's timers and listeners, run together on loss (socket.io-client's `on` + cleanup). */
class Subscriptions {
  private list: Array<() => void> = [];
  add(off: () => void): void { this.list.push(off); }
  on(emitter: WebSocket, event: string, fn: (...args: never[]) => void): void {
    emitter.on(event, fn as (...a: unknown[]) => void);
    this.add(() => emitter.off(event, fn as (...a: unknown[]) => void));
  }
  cleanup(): void {
    const l = this.list;
    this.list = [];
    for (const off of l) { try { off(); } catch { /* already gone */ } }
  }
}

export class KitLink implements KitReplies {
  readonly kitId: string;
  private readonly clock: Clock;
  private readonly redial: Redialer;
  private readonly url: string;
  private readonly headers: Record<string, string> = {};
  private readonly ca: Buffer | undefined;
  private readonly maxRequestBytes: number;
  private ws: WebSocket | null = null;
  /** The current connection's unsent frames and bytes (send-bound.ts). */
  private bound: SendBound | null = null;
  /** The current connection's answers to pings: paced, none while congested (send-bound.ts). */
  private pongs: PongPacer<string> | null = null;
  /** When the current connection last brought a ping (the dead-link timer looks at it when it fires). */
  private lastPingAt = 0;
  /** The Kit-Manager's frame cap, from its open packet's maxPayload (null: none announced); frame-cap.ts. */
  private frameCap: number | null = null;
  private state: ConnState = 'connecting';
  private conn = new Subscriptions();
  private stateTimer: unknown = null;
  private deadTimer: unknown = null;
  /** Why the last attempt that never registered failed: said at warn once, and again only when the reason changes. */
  private lastFailure: string | null = null;
  /** The socket's own error of the current attempt (a TLS or DNS failure), which says more than its close code. */
  private socketError: string | null = null;
  private readonly frontends: KitFrontends;
  /** Times the link came up (registered); for logs and tests. */
  connects = 0;

  constructor(private readonly parts: Parts, opts: { clock?: Clock } = {}) {
    const km = parts.config.kitManager;
    this.clock = opts.clock ?? systemClock;
    this.kitId = parts.runtime.kitId;
    this.redial = new Redialer(this.clock, km.reconnect, () => this.connect());
    const u = engineUrl(km.url);
    if (!u.ok) throw new Error(`kitManager.url: ${u.error}`);
    this.url = u.value;
    if (km.token) this.headers.authorization = `Bearer ${km.token}`;
    // A CA file that cannot be read is a configuration error: better to refuse to start than to connect unverified.
    this.ca = km.caFile ? fs.readFileSync(km.caFile) : undefined;
    this.maxRequestBytes = parts.config.api.maxPayloadBytes;
    this.frontends = new KitFrontends(parts, this);
  }

  start(): void { this.redial.start(); }

  async stop(): Promise<void> {
    this.redial.stop();
    const ws = this.ws;
    this.lose('agent stopping');
    if (ws && ws.readyState === WS_OPEN) {
      try { ws.send('41'); } catch { /* closing anyway */ }
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => { ws.terminate(); resolve(); }, 1000);
        ws.once('close', () => { clearTimeout(t); resolve(); });
        ws.close(1000, 'agent stopping');
      });
    } else ws?.terminate();
    this.frontends.closeAll();
  }

  // ---- connection ---------------------------------------------------------------------------------------------

  private connect(): void {
    this.state = 'connecting';
    let ws: WebSocket;
    try {
      ws = new (wsModule())(this.url, {
        headers: this.headers,
        ...(this.ca ? { ca: this.ca } : {}),
        maxPayload: WS_MAX_PAYLOAD,
        perMessageDeflate: false,
        handshakeTimeout: this.parts.config.kitManager.connectTimeoutMs,
      });
    } catch (e) {
      this.parts.log.warn({ err: (e as Error).message }, 'kit-manager connect failed');
      this.retry();
      return;
    }
    this.ws = ws;
    this.socketError = null;
    const bound = new SendBound(ws, sendLimits(this.parts.config.api.sendBufferBytes), () => this.pongs?.flush());
    this.bound = bound;
    this.pongs = new PongPacer(bound, this.clock, (data: string) => this.send(ws, encodePong(data)));
    // Stays after cleanup: a socket being torn down may still report an error, and an unheard one would crash us.
    ws.on('error', () => {});
    const conn = this.conn;
    // From dialling to registered: a server that accepts and never sends the open packet is left after this.
    const handshake = this.clock.setTimeout(() => {
      if (this.ws === ws && this.state !== 'registered') this.fail(ws, 'no Socket.IO handshake in time (kitManager.connectTimeoutMs)');
    }, this.parts.config.kitManager.connectTimeoutMs);
    conn.add(() => this.clock.clearTimeout(handshake));
    conn.on(ws, 'message', (data: RawData, isBinary: boolean) => {
      if (isBinary) { this.parts.log.debug('kit-manager sent a binary frame; ignored'); return; }
      this.onFrame(ws, data.toString());
    });
    conn.on(ws, 'error', (e: Error) => { this.socketError = e.message; this.parts.log.debug({ err: e.message }, 'kit-manager socket error'); });
    conn.on(ws, 'unexpected-response', (_req: unknown, res: { statusCode?: number }) => {
      this.parts.log.warn({ status: res.statusCode }, 'kit-manager refused the WebSocket upgrade');
      this.fail(ws, `HTTP ${res.statusCode}`);
    });
    conn.on(ws, 'close', (code: number) => {
      if (this.ws === ws) this.lost(`socket closed (${code})`);
    });
  }

  /** Drop this connection and try again later. */
  private fail(ws: WebSocket, why: string): void {
    if (this.ws !== ws) return;
    this.lost(why);
    ws.terminate();
  }

  /** Forget the current connection: listeners and timers off, status down. Returns whether it was registered. */
  private lose(why: string): boolean {
    const wasRegistered = this.state === 'registered';
    if (wasRegistered && !this.redial.stopped) this.parts.status.kitManager.lastLoss = { reason: why, at: new Date().toISOString() };
    this.conn.cleanup();
    this.ws = null;
    this.bound = null;
    this.pongs?.dispose();
    this.pongs = null;
    this.state = 'connecting';
    if (this.deadTimer) this.clock.clearTimeout(this.deadTimer);
    if (this.stateTimer) this.clock.clearTimeout(this.stateTimer);
    this.deadTimer = this.stateTimer = null;
    this.parts.status.kitManager.connected = false;
    if (wasRegistered && !this.redial.stopped) this.parts.log.warn({ why }, 'kit-manager link lost');
    return wasRegistered;
  }

  private lost(why: string): void {
    const reason = this.socketError ?? why;
    const wasRegistered = this.lose(reason);
    if (wasRegistered) this.lastFailure = null;
    else {
      // A Kit-Manager the box never reaches (a wrong URL, an untrusted certificate) must show in the log without a
      // line per retry: once, and again when the reason changes.
      const level = reason === this.lastFailure ? 'debug' : 'warn';
      this.parts.log[level]({ why: reason, url: this.parts.config.kitManager.url }, 'kit-manager connect attempt failed; retrying');
      this.lastFailure = reason;
    }
    this.retry();
  }

  private retry(): void {
    const delay = this.redial.down();
    if (delay !== null) this.parts.log.debug({ delayMs: delay, attempt: this.redial.attempts }, 'kit-manager reconnect scheduled');
  }

  /**
   * The dead-link timer: fires `ms` after the last ping. Pings only note their time (a flood of them must not cost a
   * timer each); the timer, when it fires early, waits for the rest.
   */
  private armDeadTimer(ms: number, ws: WebSocket): void {
    if (this.deadTimer) this.clock.clearTimeout(this.deadTimer);
    this.deadTimer = this.clock.setTimeout(() => {
      this.deadTimer = null;
      if (this.ws !== ws) return;
      const silentMs = this.clock.now() - this.lastPingAt;
      if (silentMs < this.pingWindowMs) { this.armDeadTimer(this.pingWindowMs - silentMs, ws); return; }
      // Not read because it does not read what we send: say so, rather than that it stopped pinging.
      if (this.bound?.stalled) this.notReading(ws, `${this.bound.unsentFrames} frames and ${this.bound.unsentBytes} bytes unsent, nothing read for ${silentMs} ms`);
      else {
        this.parts.log.warn({ silentMs }, 'kit-manager stopped pinging; reconnecting');
        this.fail(ws, 'no ping');
      }
    }, ms);
  }

  /**
   * Every frame to the Kit-Manager goes here: pongs, acks, the handshake and events alike, counted in frames and bytes
   * until written out (send-bound.ts). While that is above api.sendBufferBytes or 1 000 frames the Kit-Manager is not
   * read (its pings then go unread and the dead-link timer ends a link that never drains); past twice that, or 10 000
   * frames, the link is dropped and redialled at once, as a local client is cut off (local-session.ts).
   */
  private send(ws: WebSocket, text: string): boolean {
    const bound = this.bound;
    if (this.ws !== ws || !bound) return false;
    const over = bound.overflow();
    if (over) { this.notReading(ws, over); return false; }
    bound.send(text);
    return true;
  }

  private notReading(ws: WebSocket, why: string): void {
    this.parts.log.warn({ unsentFrames: this.bound?.unsentFrames, unsentBytes: this.bound?.unsentBytes, why }, 'kit-manager not reading; dropping the link and reconnecting');
    this.fail(ws, `kit-manager not reading: ${why}`);
  }

  // ---- frames -------------------------------------------------------------------------------------------------

  private pingWindowMs = 0;
  /** When a malformed frame was last logged, and how many were not logged since. */
  private malformed = { at: -Infinity, suppressed: 0 };

  private onFrame(ws: WebSocket, text: string): void {
    if (this.ws !== ws) return;
    // Before parsing: an oversized command is answered, not parsed, and the link stays up.
    if (text.length > this.maxRequestBytes && text.startsWith('42')) {
      this.frontends.answerOversized(text, this.maxRequestBytes);
      return;
    }
    const d = decodeEio(text);
    if (!d.ok) {
      // A flood of garbage must not become a flood of log lines (stdout, the journal, pino's buffer behind them).
      const now = this.clock.now();
      if (now - this.malformed.at >= MALFORMED_LOG_MS) {
        this.parts.log.warn({ err: d.error, head: text.slice(0, 80), alsoIgnored: this.malformed.suppressed }, 'kit-manager sent a malformed frame; ignored');
        this.malformed = { at: now, suppressed: 0 };
      } else this.malformed.suppressed++;
      // A broken event may still say who sent it: answer that client rather than leave it waiting.
      if (text.startsWith('42') && this.state === 'registered') this.frontends.answerMalformed(text, d.error);
      return;
    }
    const p = d.value;
    switch (p.kind) {
      case 'open': {
        if (this.state !== 'connecting') { this.fail(ws, 'second open packet'); return; }
        this.state = 'open';
        this.frameCap = p.open.maxPayload;
        this.pingWindowMs = Math.min(p.open.pingInterval, MAX_PING_MS) + Math.min(p.open.pingTimeout, MAX_PING_MS);
        if (p.open.pingInterval > MAX_PING_MS || p.open.pingTimeout > MAX_PING_MS) {
          this.parts.log.warn({ pingInterval: p.open.pingInterval, pingTimeout: p.open.pingTimeout, takenMs: this.pingWindowMs }, 'kit-manager ping timings over 10 min; a link without a ping is left after the clamped window');
        }
        this.lastPingAt = this.clock.now();
        this.armDeadTimer(this.pingWindowMs, ws);
        const c = encodeConnect(this.parts.config.kitManager.token ? { token: this.parts.config.kitManager.token } : null);
        if (c.ok) this.send(ws, c.value);
        return;
      }
      case 'ping':
        this.lastPingAt = this.clock.now();
        // Paced: a flood of pings is a few pongs, and none while the link is congested (send-bound.ts).
        this.pongs?.ping(p.data);
        return;
      case 'close':
        this.fail(ws, 'server closed the session');
        return;
      case 'pong':
      case 'noop':
        return;
      case 'message':
        this.onPacket(ws, p.packet);
        return;
    }
  }

  private onPacket(ws: WebSocket, p: SioPacket): void {
    if (p.nsp !== '/') return;
    switch (p.type) {
      case 'connect':
        if (this.state !== 'open') return;
        this.register(ws);
        return;
      case 'connect_error':
        this.parts.log.warn({ message: p.message }, 'kit-manager refused the connection');
        this.fail(ws, `connect error: ${p.message}`);
        return;
      case 'disconnect':
        this.fail(ws, 'server disconnected the namespace');
        return;
      case 'ack':
        return;
      case 'event':
        if (this.state !== 'registered') return;
        if (p.id !== null) {
          // Nothing the Kit-Manager sends today asks for an ack; acknowledge receipt so it never waits on us. Not while
          // congested: an ack put off would be one more frame per event; it is dropped and counted instead.
          if (this.bound?.congested()) this.dropped();
          else {
            const a = encodeAck(p.id, []);
            if (a.ok) this.send(ws, a.value);
          }
        }
        if (p.name === 'messageToKit') this.frontends.onMessageToKit(p.args[0]);
        else this.parts.log.debug({ event: p.name }, 'kit-manager event ignored');
        return;
    }
  }

  private register(ws: WebSocket): void {
    const { runtime } = this.parts;
    // name = the kit id, as the Python runtime sends it: the dashboard lists kits by name (runtime-public-…, an asset's name).
    const e = encodeEvent('register_kit', [{ kit_id: runtime.kitId, name: runtime.kitId, desc: this.parts.config.kitManager.desc, support_apis: [...CAPABILITIES] }]);
    if (!e.ok) { this.fail(ws, e.error); return; }
    this.send(ws, e.value);
    this.state = 'registered';
    this.redial.up();
    this.connects++;
    this.parts.status.kitManager.connected = true;
    this.frontends.forgetReportedState();
    this.lastFailure = null;
    this.parts.log.info({ kitId: runtime.kitId, url: this.parts.config.kitManager.url, connects: this.connects }, 'kit-manager registered');
    this.scheduleStateReport();
  }

  // ---- outgoing -----------------------------------------------------------------------------------------------

  /** True while the socket holds more unsent than a client may queue (bytes or frames): producers hold back. */
  congested(): boolean {
    return this.bound?.congested() ?? false;
  }

  /** A reply that could not be delivered (its frontend gone, the link down): counted for /health. */
  dropped(): void { this.parts.status.kitManager.droppedReplies++; }

  /** Emits an event while registered; otherwise (or when the socket is backed up) the event is dropped and counted. */
  emitEvent(name: string, payload: Frame): boolean {
    const ws = this.ws;
    if (!ws || this.state !== 'registered' || ws.readyState !== WS_OPEN) {
      this.dropped();
      return false;
    }
    const e = encodeEvent(name, [payload]);
    if (!e.ok) {
      this.parts.log.error({ event: name, err: e.error }, 'reply cannot be encoded; dropped');
      this.dropped();
      return false;
    }
    // Never a frame above the Kit-Manager's cap: it would close the link and the reply would be lost (frame-cap.ts).
    if (this.frameCap !== null && Buffer.byteLength(e.value) > this.frameCap) {
      const frames = fitToCap(payload, e.value, this.frameCap, (f) => { const x = encodeEvent(name, [f]); return x.ok ? x.value : null; });
      this.parts.log.warn({ event: name, cmd: payload.cmd, bytes: Buffer.byteLength(e.value), cap: this.frameCap, frames: frames.length }, 'reply larger than the kit-manager\'s frame cap; sent as fits');
      if (frames.length === 0) { this.dropped(); return false; }
      for (const f of frames) if (!this.send(ws, f)) { this.dropped(); return false; }
      return true;
    }
    if (this.send(ws, e.value)) return true;
    this.dropped();
    return false;
  }

  /** report-runtime-state when the runner or subscriber lists changed, checked once a second while registered. */
  private scheduleStateReport(): void {
    if (this.stateTimer) this.clock.clearTimeout(this.stateTimer);
    this.stateTimer = this.clock.setTimeout(() => {
      this.stateTimer = null;
      if (this.state !== 'registered') return;
      this.frontends.reportState();
      this.scheduleStateReport();
    }, STATE_REPORT_MS);
  }
}
