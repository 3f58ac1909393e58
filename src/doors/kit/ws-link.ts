// kitManager.protocol 'ws': the agent dials out to a controller that speaks the seed-000 protocol and serves the
// local API's protocol over that outbound WebSocket, so a controller behind NAT gets the same control as a local
// client. Same reconnect policy as the Socket.IO link; the session itself is the local API's LocalSession.
import fs = require('node:fs');
import type WebSocket from 'ws';
import type { RawData } from 'ws';
import { WS_OPEN, wsModule } from '../ws-module';
import type { Parts } from '../../parts';
import { Redialer } from './redialer';
import { systemClock, type Clock } from '../../core/clock';
import { LocalSession } from '../local-session';

/** We ping the controller this often; a connection with no pong by the next ping is dead. */
const PING_EVERY_MS = 25_000;

export class KitWsLink {
  private readonly clock: Clock;
  private readonly redial: Redialer;
  private readonly headers: Record<string, string>;
  private readonly ca: Buffer | undefined;
  private ws: WebSocket | null = null;
  private session: LocalSession | null = null;
  private pingTimer: unknown = null;
  /** Why the agent itself dropped the current connection, for /health (kitManagerLastLoss). */
  private lostWhy: string | null = null;
  connects = 0;

  constructor(private readonly parts: Parts, opts: { clock?: Clock } = {}) {
    const km = parts.config.kitManager;
    this.clock = opts.clock ?? systemClock;
    this.redial = new Redialer(this.clock, km.reconnect, () => this.connect());
    this.headers = { 'x-sdv-kit-id': parts.runtime.kitId, 'x-sdv-runtime-id': parts.runtime.runtimeId };
    if (km.token) this.headers.authorization = `Bearer ${km.token}`;
    this.ca = km.caFile ? fs.readFileSync(km.caFile) : undefined;
  }

  start(): void { this.redial.start(); }

  async stop(): Promise<void> {
    this.redial.stop();
    const ws = this.ws;
    this.lose();
    if (ws && ws.readyState === WS_OPEN) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => { ws.terminate(); resolve(); }, 1000);
        ws.once('close', () => { clearTimeout(t); resolve(); });
        ws.close(1001, 'agent shutting down');
      });
    } else ws?.terminate();
  }

  private connect(): void {
    const { config, log } = this.parts;
    let ws: WebSocket;
    try {
      ws = new (wsModule())(config.kitManager.url, {
        headers: this.headers, ...(this.ca ? { ca: this.ca } : {}), maxPayload: config.api.maxPayloadBytes,
        perMessageDeflate: false, handshakeTimeout: config.kitManager.connectTimeoutMs,
        // Pongs go through the same bound as every other frame (below), not straight into the socket.
        autoPong: false,
      });
    } catch (e) {
      log.warn({ err: (e as Error).message }, 'kit-manager (ws) connect failed');
      this.redial.down();
      return;
    }
    this.ws = ws;
    ws.on('error', (e) => log.debug({ err: e.message }, 'kit-manager (ws) socket error'));
    ws.on('open', () => {
      if (this.ws !== ws) return;
      const session = new LocalSession(ws, this.parts, { door: 'kit-ws', sendBufferBytes: config.api.sendBufferBytes });
      this.session = session;
      this.redial.up();
      this.connects++;
      this.parts.status.kitManager.connected = true;
      log.info({ url: config.kitManager.url, connects: this.connects }, 'kit-manager (ws) connected');
      ws.on('message', (data: RawData, isBinary: boolean) => {
        if (isBinary) session.sendError(null, 'BAD_REQUEST', 'binary frames are not accepted: send JSON text frames');
        else session.handleText(data.toString());
      });
      // A controller that pings and does not read would grow our unsent pongs without bound: they go through the
      // session's bound (frames and bytes), which stops reading it while congested and cuts it off past the bound.
      ws.on('ping', (data: Buffer) => { if (this.ws === ws) session.answerPing(data); });
      let alive = true;
      ws.on('pong', () => { alive = true; });
      const ping = () => {
        if (this.ws !== ws) return;
        if (!alive) {
          // Not read because it does not read what we send: say so, rather than that it stopped answering.
          const stalled = session.bound.stalled;
          this.lostWhy = stalled ? `kit-manager not reading: ${session.bound.unsentFrames} frames and ${session.bound.unsentBytes} bytes unsent` : 'no pong';
          log.warn(stalled ? 'kit-manager (ws) not reading; dropping the link and reconnecting' : 'kit-manager (ws) stopped answering pings; reconnecting');
          ws.terminate();
          return;
        }
        alive = false;
        if (session.bound.overflow() === null) session.bound.control('ping');
        this.pingTimer = this.clock.setTimeout(ping, PING_EVERY_MS);
      };
      this.pingTimer = this.clock.setTimeout(ping, PING_EVERY_MS);
    });
    ws.on('close', (code) => {
      if (this.ws !== ws) return;
      const wasOpen = this.session !== null;
      const cutOff = this.session?.cutOff;
      this.lose();
      if (wasOpen) {
        this.parts.status.kitManager.lastLoss = { reason: this.lostWhy ?? (cutOff ? `kit-manager ${cutOff}` : `socket closed (${code})`), at: new Date().toISOString() };
        log.warn({ code }, 'kit-manager (ws) link lost');
      }
      this.lostWhy = null;
      this.redial.down();
    });
  }

  private lose(): void {
    if (this.pingTimer) this.clock.clearTimeout(this.pingTimer);
    this.pingTimer = null;
    this.session?.dispose();
    this.session = null;
    this.ws = null;
    this.parts.status.kitManager.connected = false;
  }
}
