// The ws library, loaded by the first WebSocket the agent opens (a Kit-Manager link) or accepts (the local API), not
// at start: with it come Node's tls, https and zlib, which a standalone box that no local client has reached yet
// does not need (issue 30).
import type WsModule from 'ws';

/** WebSocket.OPEN, without loading ws to read it. */
export const WS_OPEN = 1;

let loaded: typeof WsModule | null = null;

export function wsModule(): typeof WsModule {
  return (loaded ??= require('ws') as typeof WsModule);
}
