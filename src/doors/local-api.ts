// The local WebSocket API (seed 000) on api.host:api.port at api.path: accept, authenticate, enforce limits, and
// hand each connection to a SeedSession. Close codes: 1001 going away, 1009 too big (ws), 4001 no auth in time,
// 4002 wrong token, 1013 too many clients.
import * as crypto from 'node:crypto';
import * as http from 'node:http';
import { WebSocketServer, type WebSocket, type RawData } from 'ws';
import type { Parts } from '../parts';
import { SeedSession } from './seed-session';

export const AUTH_TIMEOUT_MS = 5000;
export const CLOSE_NO_AUTH = 4001;
export const CLOSE_BAD_TOKEN = 4002;
const CLOSE_TRY_AGAIN = 1013;

/** Constant-time token comparison; the lengths leak nothing since both sides are hashed first. */
export function tokenMatches(given: string, expected: string): boolean {
  const a = crypto.createHash('sha256').update(given).digest();
  const b = crypto.createHash('sha256').update(expected).digest();
  return crypto.timingSafeEqual(a, b);
}

export function bearer(header: string | undefined): string | null {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return m ? m[1]! : null;
}

export class LocalApi {
  private server: http.Server | null = null;
  private wss: WebSocketServer | null = null;
  private readonly sessions = new Set<SeedSession>();

  constructor(private readonly parts: Parts) {}

  get clientCount(): number { return this.sessions.size; }

  async start(): Promise<number> {
    const { api } = this.parts.config;
    const server = http.createServer((_req, res) => { res.writeHead(426, { 'content-type': 'text/plain' }).end(`WebSocket endpoint: ${api.path}\n`); });
    const wss = new WebSocketServer({ noServer: true, maxPayload: api.maxPayloadBytes, perMessageDeflate: false });
    server.on('upgrade', (req, socket, head) => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.pathname !== api.path) {
        socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, req));
    });
    server.on('clientError', (_e, socket) => socket.destroy());
    this.server = server;
    this.wss = wss;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(api.port, api.host, () => { server.off('error', reject); resolve(); });
    });
    const port = (server.address() as { port: number }).port;
    this.parts.log.info({ host: api.host, port, path: api.path, auth: api.token ? 'token' : 'none' }, 'local API listening');
    return port;
  }

  private accept(ws: WebSocket, req: http.IncomingMessage): void {
    const { api } = this.parts.config;
    if (this.sessions.size >= api.maxClients) {
      ws.close(CLOSE_TRY_AGAIN, `too many clients (limit ${api.maxClients})`);
      return;
    }
    const session = new SeedSession(ws, this.parts, { door: 'local', sendBufferBytes: api.sendBufferBytes });
    this.sessions.add(session);
    ws.on('close', () => this.sessions.delete(session));
    ws.on('error', (e) => this.parts.log.debug({ err: e.message, client: session.id }, 'local client error'));

    let authed = !api.token;
    let timer: NodeJS.Timeout | null = null;
    if (api.token) {
      const header = bearer(req.headers.authorization);
      if (header !== null) {
        if (!tokenMatches(header, api.token)) { ws.close(CLOSE_BAD_TOKEN, 'wrong token'); return; }
        authed = true;
      } else {
        timer = setTimeout(() => ws.close(CLOSE_NO_AUTH, 'no auth frame within 5 s'), AUTH_TIMEOUT_MS);
        ws.on('close', () => { if (timer) clearTimeout(timer); });
      }
    }

    ws.on('message', (data: RawData, isBinary: boolean) => {
      if (isBinary) {
        if (authed) session.sendError(null, 'BAD_REQUEST', 'binary frames are not accepted: send JSON text frames');
        else ws.close(CLOSE_NO_AUTH, 'expected an auth frame');
        return;
      }
      const text = data.toString();
      if (!authed) {
        let token: unknown;
        let id: unknown = null;
        try { const f = JSON.parse(text); if (f && f.type === 'auth') { token = f.token; id = f.id ?? null; } } catch { /* not JSON */ }
        if (typeof token !== 'string') { ws.close(CLOSE_NO_AUTH, 'expected {"type":"auth","token":…} first'); return; }
        if (!tokenMatches(token, api.token)) { ws.close(CLOSE_BAD_TOKEN, 'wrong token'); return; }
        authed = true;
        if (timer) clearTimeout(timer);
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
