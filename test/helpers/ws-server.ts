// A bare `ws` server on a free loopback port, for tests that play a peer by hand (a Kit-Manager that misbehaves).
import { WebSocketServer, type ServerOptions } from 'ws';
import type { AddressInfo } from 'node:net';

export interface LoopbackServer { wss: WebSocketServer; port: number; close(): Promise<void> }

/** Listening when it resolves; close() drops every client and the server. Pass t to have it closed with the test. */
export async function loopbackWsServer(t?: { teardown(fn: () => unknown): void }, opts: ServerOptions = {}): Promise<LoopbackServer> {
  const wss = new WebSocketServer({ ...opts, port: 0, host: '127.0.0.1' });
  await new Promise<void>((r) => wss.once('listening', () => r()));
  const close = () => new Promise<void>((r) => { for (const c of wss.clients) c.terminate(); wss.close(() => r()); });
  t?.teardown(close);
  return { wss, port: (wss.address() as AddressInfo).port, close };
}
