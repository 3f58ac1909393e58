// The local WebSocket API (seed 000) on api.host:api.port at api.path: accept, authenticate, enforce limits, and
// hand each connection to a LocalSession. Close codes: 1001 going away, 1009 too big (ws), 4001 no auth in time,
// 4002 wrong token, 1013 too many clients.
//
// Bounds before authentication (api.token set, no valid Authorization header on the upgrade): a socket may send at
// most PRE_AUTH_MAX_BYTES until its auth frame is accepted, and at most api.maxClients sockets wait to authenticate
// (a new one drops the oldest). Only authenticated clients count against api.maxClients, so idle or reconnecting
// strangers cannot lock out the token holder. A socket that breaks a rule before authenticating gets its close code
// and is terminated a moment later, without waiting for the peer's closing handshake; one that floods is terminated
// at once. The TCP side (timeouts for half-sent requests, idle sockets, a cap on connections) is in http-limits.ts.
import { cryptoModule } from '../core/crypto-module';
import http = require('node:http');
import type * as net from 'node:net';
import type { WebSocketServer, WebSocket, RawData } from 'ws';
import { wsModule } from './ws-module';
import type { Parts } from '../parts';
import { ListenError } from '../core/errors';
import { limitConnections, SERVER_TIMEOUTS } from './http-limits';
import { LocalSession } from './local-session';

export const AUTH_TIMEOUT_MS = 5000;
export const CLOSE_NO_AUTH = 4001;
export const CLOSE_BAD_TOKEN = 4002;
const CLOSE_TRY_AGAIN = 1013;
/** Bytes an unauthenticated socket may send: an auth frame is a few hundred. */
export const PRE_AUTH_MAX_BYTES = 4096;
/** After a close frame to a rule breaker, its socket is gone this much later whatever the peer does. */
const REFUSE_GRACE_MS = 1000;
/** Sockets whose HTTP request (the upgrade) is not complete yet, or idle on the HTTP side. */
const MAX_IDLE_HTTP = 64;

/** Constant-time token comparison; the lengths leak nothing since both sides are hashed first. */
function tokenMatches(given: string, expected: string): boolean {
  const crypto = cryptoModule();
  const a = crypto.createHash('sha256').update(given).digest();
  const b = crypto.createHash('sha256').update(expected).digest();
  return crypto.timingSafeEqual(a, b);
}

export function bearer(header: string | undefined): string | null {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return m ? m[1]! : null;
}

/** Close with a code, then terminate: a stranger's socket is not kept for the 30 s closing handshake. */
function refuse(ws: WebSocket, code: number, reason: string): void {
  ws.close(code, reason);
  setTimeout(() => ws.terminate(), REFUSE_GRACE_MS).unref();
}

export class LocalApi {
  private server: http.Server | null = null;
  private wss: WebSocketServer | null = null;
  /** Every open session, authenticated or not (closed with 1001 at shutdown). */
  private readonly sessions = new Set<LocalSession>();
  /** The ones that count against api.maxClients. */
  private readonly authed = new Set<LocalSession>();
  /** Waiting to authenticate, oldest first. */
  private readonly pending = new Set<WebSocket>();

  constructor(private readonly parts: Parts) {
    // The status board reads the count from here (report_runtime_state): no copy to keep in step.
    const authed = this.authed;
    parts.status.localApi = { get clients(): number { return authed.size; } };
  }

  /** Authenticated clients now (/metrics). */
  get clientCount(): number { return this.authed.size; }

  async start(): Promise<number> {
    const { api } = this.parts.config;
    const server = http.createServer(SERVER_TIMEOUTS, (_req, res) => { res.writeHead(426, { 'content-type': 'text/plain' }).end(`WebSocket endpoint: ${api.path}\n`); });
    server.on('upgrade', (req, socket, head) => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.pathname !== api.path) {
        socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
        return;
      }
      this.wss ??= new (wsModule().WebSocketServer)({ noServer: true, maxPayload: api.maxPayloadBytes, perMessageDeflate: false });
      this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, req, socket as net.Socket, head.length));
    });
    server.on('clientError', (_e, socket) => socket.destroy());
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      const failed = (e: Error) => reject(ListenError.from('api.port', `${api.host}:${api.port}`, e));
      server.once('error', failed);
      server.listen(api.port, api.host, () => { server.off('error', failed); resolve(); });
    });
    // Authenticated clients, as many waiting to authenticate, and the sockets still on the HTTP side.
    // (at least as many on the HTTP side as may connect at once).
    const maxIdle = Math.max(MAX_IDLE_HTTP, api.maxClients);
    limitConnections(server, { name: 'local API', maxIdle, maxConnections: 2 * api.maxClients + maxIdle }, this.parts.log);
    const port = (server.address() as { port: number }).port;
    this.parts.log.info({ host: api.host, port, path: api.path, auth: api.token ? 'token' : 'none' }, 'local API listening');
    return port;
  }

  private accept(ws: WebSocket, req: http.IncomingMessage, socket: net.Socket, headBytes: number): void {
    const { api } = this.parts.config;
    let authed = !api.token;
    if (api.token) {
      const header = bearer(req.headers.authorization);
      if (header !== null) {
        if (!tokenMatches(header, api.token)) { refuse(ws, CLOSE_BAD_TOKEN, 'wrong token'); return; }
        authed = true;
      }
    }
    if (authed && this.authed.size >= api.maxClients) { ws.close(CLOSE_TRY_AGAIN, `too many clients (limit ${api.maxClients})`); return; }
    const session = new LocalSession(ws, this.parts, { door: 'local', sendBufferBytes: api.sendBufferBytes });
    this.sessions.add(session);
    if (authed) this.authed.add(session);
    ws.on('close', () => { this.sessions.delete(session); this.authed.delete(session); this.pending.delete(ws); });
    ws.on('error', (e) => this.parts.log.debug({ err: e.message, client: session.id }, 'local client error'));

    let stopGuard = () => {};
    if (!authed) {
      // Waiting to authenticate: bounded in number (the oldest makes room), in time and in bytes.
      this.pending.add(ws);
      if (this.pending.size > api.maxClients) {
        const oldest = this.pending.values().next().value as WebSocket;
        this.pending.delete(oldest);
        oldest.terminate();
      }
      const timer = setTimeout(() => refuse(ws, CLOSE_NO_AUTH, 'no auth frame within 5 s'), AUTH_TIMEOUT_MS);
      let received = headBytes;
      const guard = (chunk: Buffer) => {
        received += chunk.length;
        if (received > PRE_AUTH_MAX_BYTES) { stopGuard(); ws.terminate(); }
      };
      socket.on('data', guard);
      stopGuard = () => { clearTimeout(timer); socket.off('data', guard); this.pending.delete(ws); };
      ws.on('close', stopGuard);
    }

    ws.on('message', (data: RawData, isBinary: boolean) => {
      if (isBinary) {
        if (authed) session.sendError(null, 'BAD_REQUEST', 'binary frames are not accepted: send JSON text frames');
        else refuse(ws, CLOSE_NO_AUTH, 'expected an auth frame');
        return;
      }
      const text = data.toString();
      if (!authed) {
        let token: unknown;
        let id: unknown = null;
        try { const f = JSON.parse(text); if (f && f.type === 'auth') { token = f.token; id = f.id ?? null; } } catch { /* not JSON */ }
        if (typeof token !== 'string') { refuse(ws, CLOSE_NO_AUTH, 'expected {"type":"auth","token":…} first'); return; }
        if (!tokenMatches(token, api.token)) { refuse(ws, CLOSE_BAD_TOKEN, 'wrong token'); return; }
        stopGuard();
        if (this.authed.size >= api.maxClients) { ws.close(CLOSE_TRY_AGAIN, `too many clients (limit ${api.maxClients})`); return; }
        authed = true;
        this.authed.add(session);
        session.send({ type: 'auth-response', id: typeof id === 'string' || typeof id === 'number' ? id : null, authenticated: true, clientId: session.id, timestamp: new Date().toISOString() });
        return;
      }
      session.handleText(text);
    });
  }

  /** Stop accepting, close every client with 1001. */
  async stop(): Promise<void> {
    for (const s of this.sessions) s.dispose();
    if (this.wss) for (const ws of this.wss.clients) ws.close(1001, 'agent shutting down');
    const server = this.server;
    this.server = null;
    if (!server) return;
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => { for (const ws of this.wss?.clients ?? []) ws.terminate(); resolve(); }, 1000);
      server.close(() => { clearTimeout(force); resolve(); });
      server.closeAllConnections?.();
    });
  }
}
