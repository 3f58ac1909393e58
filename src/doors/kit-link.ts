// The outbound link to a Socket.IO 4 Kit-Manager over a plain `ws` WebSocket (no socket.io-client at run time).
// One object owns the connection and its reconnection (model: socket.io-client lib/manager.ts): connect, read the
// Engine.IO open packet, join the main namespace, register_kit, answer pings, and start over with jittered backoff
// whenever the link is lost or goes quiet. Incoming `messageToKit` payloads become commands from the one table; their
// replies go back as `messageToKit-kitReply`. The link holds no business state: apps keep running whatever it does.
import * as fs from 'node:fs';
import WebSocket, { type RawData } from 'ws';
import { CAPABILITIES } from '../capabilities';
import { dispatch } from '../commands/dispatch';
import type { ErrorCode } from '../commands/errors';
import { runtimeState } from '../commands/legacy';
import type { Frame } from '../commands/types';
import { isPlainObject } from '../commands/validate';
import type { Parts } from '../parts';
import { Redialer, systemClock, type LinkClock } from './backoff';
import { cmdEnvelope, errorReply, KitClient, typeEnvelope, type KitReplies } from './kit-client';
import { decodeEio, encodeAck, encodeConnect, encodeEvent, encodePong, engineUrl, type SioPacket } from './socketio-wire';

/** The real Kit-Manager accepts frames up to 100 MB (maxHttpBufferSize 1e8); larger ones close the socket (1009). */
const WS_MAX_PAYLOAD = 100 * 1024 * 1024 + 1024;
/** Frontend clients (request_from ids) remembered; beyond this the least recently used is closed. */
export const MAX_KIT_CLIENTS = 256;
/** Commands being handled at once; more wait in a bounded queue, and beyond it are answered with LIMIT. */
const MAX_IN_FLIGHT = 64;
const MAX_WAITING = 1024;
/** report-runtime-state at most once per this. */
const STATE_REPORT_MS = 1000;
const MAX_REQUEST_FROM = 256;

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

/** Reads `"key":"value"` from a payload too big to parse, to echo it in the error reply. */
function peekString(text: string, key: string, max: number): string | null {
  const m = new RegExp(`"${key}"\\s*:\\s*"([^"\\\\]{1,${max}})"`).exec(text);
  return m ? m[1]! : null;
}

export class KitLink implements KitReplies {
  readonly kitId: string;
  private readonly clock: LinkClock;
  private readonly redial: Redialer;
  private readonly url: string;
  private readonly headers: Record<string, string> = {};
  private readonly ca: Buffer | undefined;
  private readonly maxRequestBytes: number;
  private readonly hardSendLimit: number;
  private ws: WebSocket | null = null;
  private state: ConnState = 'connecting';
  private conn = new Subscriptions();
  private stateTimer: unknown = null;
  private deadTimer: unknown = null;
  private lastStateKey = '';
  private readonly clients = new Map<string, KitClient>();
  private inFlight = 0;
  private readonly waiting: Array<{ client: KitClient; payload: Frame; nameKey: 'cmd' | 'type' }> = [];
  /** Times the link came up (registered); for logs and tests. */
  connects = 0;

  constructor(private readonly parts: Parts, opts: { clock?: LinkClock } = {}) {
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
    this.hardSendLimit = parts.config.api.sendBufferBytes * 2;
  }

  start(): void { this.redial.start(); }

  async stop(): Promise<void> {
    this.redial.stop();
    const ws = this.ws;
    this.lose('agent stopping');
    if (ws && ws.readyState === WebSocket.OPEN) {
      try { ws.send('41'); } catch { /* closing anyway */ }
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => { ws.terminate(); resolve(); }, 1000);
        ws.once('close', () => { clearTimeout(t); resolve(); });
        ws.close(1000, 'agent stopping');
      });
    } else ws?.terminate();
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }

  // ---- connection ---------------------------------------------------------------------------------------------

  private connect(): void {
    this.state = 'connecting';
    let ws: WebSocket;
    try {
      ws = new WebSocket(this.url, {
        headers: this.headers,
        ...(this.ca ? { ca: this.ca } : {}),
        maxPayload: WS_MAX_PAYLOAD,
        perMessageDeflate: false,
        handshakeTimeout: this.parts.config.kitManager.connectTimeoutMs,
      });
    } catch (e) {
      this.parts.log.warn({ err: (e as Error).message }, 'kit-manager connect failed');
      this.retry(false);
      return;
    }
    this.ws = ws;
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
    conn.on(ws, 'error', (e: Error) => this.parts.log.debug({ err: e.message }, 'kit-manager socket error'));
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
    this.conn.cleanup();
    this.ws = null;
    this.state = 'connecting';
    if (this.deadTimer) this.clock.clearTimeout(this.deadTimer);
    if (this.stateTimer) this.clock.clearTimeout(this.stateTimer);
    this.deadTimer = this.stateTimer = null;
    this.parts.status.kitManager.connected = false;
    if (wasRegistered && !this.redial.stopped) this.parts.log.warn({ why }, 'kit-manager link lost');
    return wasRegistered;
  }

  private lost(why: string): void {
    const wasRegistered = this.lose(why);
    if (!wasRegistered) this.parts.log.debug({ why }, 'kit-manager connect attempt failed');
    this.retry(wasRegistered);
  }

  private retry(wasRegistered: boolean): void {
    const delay = this.redial.down(wasRegistered);
    if (delay !== null) this.parts.log.debug({ delayMs: delay, attempt: this.redial.attempts }, 'kit-manager reconnect scheduled');
  }

  private armDeadTimer(ms: number, ws: WebSocket): void {
    if (this.deadTimer) this.clock.clearTimeout(this.deadTimer);
    this.deadTimer = this.clock.setTimeout(() => {
      if (this.ws !== ws) return;
      this.parts.log.warn({ silentMs: ms }, 'kit-manager stopped pinging; reconnecting');
      this.fail(ws, 'no ping');
    }, ms);
  }

  private send(ws: WebSocket, text: string): void {
    try { ws.send(text); } catch { /* the close event follows */ }
  }

  // ---- frames -------------------------------------------------------------------------------------------------

  private pingWindowMs = 0;

  private onFrame(ws: WebSocket, text: string): void {
    if (this.ws !== ws) return;
    // Before parsing: an oversized command is answered, not parsed, and the link stays up.
    if (text.length > this.maxRequestBytes && text.startsWith('42')) {
      this.answerOversized(text);
      return;
    }
    const d = decodeEio(text);
    if (!d.ok) {
      this.parts.log.warn({ err: d.error, head: text.slice(0, 80) }, 'kit-manager sent a malformed frame; ignored');
      // A broken event may still say who sent it: answer that client rather than leave it waiting.
      const requestFrom = text.startsWith('42') && this.state === 'registered' ? peekString(text, 'request_from', MAX_REQUEST_FROM) : null;
      if (requestFrom) this.replyError(requestFrom, peekString(text, 'cmd', 64), 'BAD_REQUEST', `malformed Socket.IO event: ${d.error}`);
      return;
    }
    const p = d.value;
    switch (p.kind) {
      case 'open': {
        if (this.state !== 'connecting') { this.fail(ws, 'second open packet'); return; }
        this.state = 'open';
        this.pingWindowMs = p.open.pingInterval + p.open.pingTimeout;
        this.armDeadTimer(this.pingWindowMs, ws);
        const c = encodeConnect(this.parts.config.kitManager.token ? { token: this.parts.config.kitManager.token } : null);
        if (c.ok) this.send(ws, c.value);
        return;
      }
      case 'ping':
        this.send(ws, encodePong(p.data));
        if (this.pingWindowMs) this.armDeadTimer(this.pingWindowMs, ws);
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
          // Nothing the Kit-Manager sends today asks for an ack; acknowledge receipt so it never waits on us.
          const a = encodeAck(p.id, []);
          if (a.ok) this.send(ws, a.value);
        }
        if (p.name === 'messageToKit') this.onMessageToKit(p.args[0]);
        else this.parts.log.debug({ event: p.name }, 'kit-manager event ignored');
        return;
    }
  }

  private register(ws: WebSocket): void {
    const { runtime } = this.parts;
    const e = encodeEvent('register_kit', [{ kit_id: runtime.kitId, name: runtime.name, desc: this.parts.config.kitManager.desc, support_apis: [...CAPABILITIES] }]);
    if (!e.ok) { this.fail(ws, e.error); return; }
    this.send(ws, e.value);
    this.state = 'registered';
    this.redial.up();
    this.connects++;
    this.parts.status.kitManager.connected = true;
    this.lastStateKey = '';
    this.parts.log.info({ kitId: runtime.kitId, url: this.parts.config.kitManager.url, connects: this.connects }, 'kit-manager registered');
    this.scheduleStateReport();
  }

  // ---- outgoing -----------------------------------------------------------------------------------------------

  /** True while the socket holds more unsent bytes than a client may queue: producers hold back. */
  congested(): boolean {
    return (this.ws?.bufferedAmount ?? 0) > this.parts.config.api.sendBufferBytes;
  }

  /** Emits an event while registered; otherwise (or when the socket is backed up) the event is dropped and counted. */
  emitEvent(name: string, payload: Frame): boolean {
    const ws = this.ws;
    if (!ws || this.state !== 'registered' || ws.readyState !== WebSocket.OPEN || ws.bufferedAmount > this.hardSendLimit) {
      this.parts.status.kitManager.droppedReplies++;
      return false;
    }
    const e = encodeEvent(name, [payload]);
    if (!e.ok) {
      this.parts.log.error({ event: name, err: e.error }, 'reply cannot be encoded; dropped');
      this.parts.status.kitManager.droppedReplies++;
      return false;
    }
    this.send(ws, e.value);
    return true;
  }

  /** report-runtime-state when the runner or subscriber lists changed, checked once a second while registered. */
  private scheduleStateReport(): void {
    if (this.stateTimer) this.clock.clearTimeout(this.stateTimer);
    this.stateTimer = this.clock.setTimeout(() => {
      this.stateTimer = null;
      if (this.state !== 'registered') return;
      this.reportState();
      this.scheduleStateReport();
    }, STATE_REPORT_MS);
  }

  private reportState(): void {
    let data;
    try { data = runtimeState(this.parts); } catch (e) {
      this.parts.log.error({ err: e }, 'runtime state unavailable');
      return;
    }
    const key = JSON.stringify(data);
    if (key === this.lastStateKey) return;
    this.lastStateKey = key;
    this.emitEvent('report-runtime-state', { kit_id: this.kitId, data });
    for (const c of this.clients.values()) c.send({ cmd: 'report-runtime-state', data });
  }

  // ---- incoming commands --------------------------------------------------------------------------------------

  private clientFor(id: string): KitClient {
    let c = this.clients.get(id);
    if (c && !c.closed) {
      // Map order is recency order: move to the end.
      this.clients.delete(id);
      this.clients.set(id, c);
      return c;
    }
    c = new KitClient(id, this);
    this.clients.set(id, c);
    if (this.clients.size > MAX_KIT_CLIENTS) {
      const [oldestId, oldest] = this.clients.entries().next().value as [string, KitClient];
      this.clients.delete(oldestId);
      oldest.close();
    }
    return c;
  }

  /** Sends an error reply for a request that never reached the table. */
  private replyError(requestFrom: string, cmd: unknown, code: ErrorCode, message: string): void {
    this.emitEvent('messageToKit-kitReply', errorReply(cmd, code, message, requestFrom, this.kitId));
  }

  private answerOversized(text: string): void {
    const requestFrom = peekString(text, 'request_from', MAX_REQUEST_FROM);
    const cmd = peekString(text, 'cmd', 64);
    this.parts.log.warn({ bytes: text.length, cmd, requestFrom }, 'oversized messageToKit refused');
    if (requestFrom) this.replyError(requestFrom, cmd, 'LIMIT', `payload of ${text.length} bytes exceeds the limit of ${this.maxRequestBytes} bytes (api.maxPayloadBytes)`);
  }

  private onMessageToKit(payload: unknown): void {
    if (!isPlainObject(payload)) {
      this.parts.log.warn('messageToKit without an object payload; ignored (no request_from to answer)');
      return;
    }
    const rf = payload.request_from;
    if (typeof rf !== 'string' || rf.length === 0 || rf.length > MAX_REQUEST_FROM) {
      this.parts.log.warn({ cmd: typeof payload.cmd === 'string' ? payload.cmd.slice(0, 64) : null }, 'messageToKit without a usable request_from; cannot answer');
      return;
    }
    let nameKey: 'cmd' | 'type';
    if (payload.cmd !== undefined) nameKey = 'cmd';
    else if (typeof payload.type === 'string') nameKey = 'type';
    else {
      this.replyError(rf, null, 'BAD_REQUEST', 'messageToKit needs "cmd" (a Kit-Manager command) or "type" (a seed-000 request)');
      return;
    }
    const client = this.clientFor(rf);
    if (this.inFlight >= MAX_IN_FLIGHT) {
      if (this.waiting.length >= MAX_WAITING) {
        this.replyError(rf, payload[nameKey], 'LIMIT', `too many commands queued (limit ${MAX_WAITING}); wait for replies`);
        return;
      }
      this.waiting.push({ client, payload, nameKey });
      return;
    }
    this.run(client, payload, nameKey);
  }

  private run(client: KitClient, payload: Frame, nameKey: 'cmd' | 'type'): void {
    this.inFlight++;
    void dispatch(this.parts, client, payload, nameKey, nameKey === 'cmd' ? cmdEnvelope(client, payload.cmd) : typeEnvelope(client)).finally(() => {
      this.inFlight--;
      while (this.inFlight < MAX_IN_FLIGHT && this.waiting.length > 0) {
        const w = this.waiting.shift()!;
        this.run(w.client, w.payload, w.nameKey);
      }
    });
  }
}
