// Bounds on the TCP side of the agent's HTTP servers (local API and health), where the bytes arrive:
//   - a request must send its headers within HEADERS_TIMEOUT_MS and be complete within REQUEST_TIMEOUT_MS (checked
//     every second), so a half-sent request (an upgrade that never finishes) holds its socket for seconds, not forever;
//   - at most `maxIdle` sockets may sit without a request in progress (connected, half-sent, or kept alive after a
//     reply): past that the oldest is dropped, so a flood of idle sockets costs the newest ones, not the clients that
//     finish their request at once;
//   - at most `maxConnections` sockets in all (net.Server refuses more), so the agent's file descriptors stay
//     bounded whatever a peer does;
//   - an accept that fails (EMFILE: the agent is out of file descriptors) is logged as what it is, at most once a
//     second, instead of escaping as an unexpected error.
import type * as http from 'node:http';
import type * as net from 'node:net';
import type { Logger } from '../log';

export const HEADERS_TIMEOUT_MS = 5000;
export const REQUEST_TIMEOUT_MS = 10_000;
/** Server options for http.createServer: the timeouts above, checked every second. */
export const SERVER_TIMEOUTS = { headersTimeout: HEADERS_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS, connectionsCheckingInterval: 1000, keepAliveTimeout: 5000 } as const;

export interface ConnectionLimits { maxIdle: number; maxConnections: number; name: string }

export function limitConnections(server: http.Server, limits: ConnectionLimits, log: Logger): void {
  server.maxConnections = limits.maxConnections;
  // Insertion order is age order: the first entry is the oldest idle socket.
  const idle = new Set<net.Socket>();
  const park = (s: net.Socket) => {
    if (s.destroyed) return;
    idle.add(s);
    if (idle.size > limits.maxIdle) {
      const oldest = idle.values().next().value as net.Socket;
      idle.delete(oldest);
      oldest.destroy();
    }
  };
  server.on('connection', (s: net.Socket) => {
    park(s);
    s.once('close', () => idle.delete(s));
  });
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    idle.delete(req.socket);
    res.once('finish', () => { if (!req.socket.destroyed) park(req.socket); });
  });
  // An upgraded socket belongs to the WebSocket layer from here on (it has its own bounds).
  server.on('upgrade', (req: http.IncomingMessage) => { idle.delete(req.socket); });
  let lastReport = 0;
  server.on('error', (e: NodeJS.ErrnoException) => {
    const now = Date.now();
    if (now - lastReport < 1000) return;
    lastReport = now;
    if (e.code === 'EMFILE' || e.code === 'ENFILE') {
      log.error({ server: limits.name, code: e.code }, `${limits.name}: the agent has too many files open (${e.code}); new connections are refused until some close (raise LimitNOFILE, or look for a client holding many sockets)`);
    } else {
      log.error({ server: limits.name, err: e.message }, `${limits.name}: server error`);
    }
  });
}
