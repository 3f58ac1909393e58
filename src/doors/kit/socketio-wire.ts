// Engine.IO 4 / Socket.IO 5 packets as text, with no I/O: what the Kit-Manager link reads and writes on its
// WebSocket. Strict and total: every malformed input becomes an error value, nothing here throws.
//
// Engine.IO packet (one text frame): <type digit><data>   0 open, 1 close, 2 ping, 3 pong, 4 message, 5 upgrade, 6 noop
// Socket.IO packet (inside a message): <type digit>[<nsp>,][<ack id>][<JSON>]
//   0 CONNECT, 1 DISCONNECT, 2 EVENT, 3 ACK, 4 CONNECT_ERROR (5/6 binary variants are not supported on this link)

export type Result<T> = { ok: true; value: T } | { ok: false; error: string };

const ok = <T>(value: T): Result<T> => ({ ok: true, value });
const fail = <T>(error: string): Result<T> => ({ ok: false, error });

/** The server's handshake (`0{…}`). */
export interface OpenInfo {
  sid: string;
  upgrades: string[];
  pingInterval: number;
  pingTimeout: number;
  /** Largest payload the server accepts, when it says so. */
  maxPayload: number | null;
}

export type SioPacket =
  | { type: 'connect'; nsp: string; data: Record<string, unknown> | null }
  | { type: 'disconnect'; nsp: string }
  | { type: 'event'; nsp: string; id: number | null; name: string; args: unknown[] }
  | { type: 'ack'; nsp: string; id: number; args: unknown[] }
  | { type: 'connect_error'; nsp: string; message: string; data: unknown };

export type EioPacket =
  | { kind: 'open'; open: OpenInfo }
  | { kind: 'close' }
  | { kind: 'ping'; data: string }
  | { kind: 'pong'; data: string }
  | { kind: 'noop' }
  | { kind: 'message'; packet: SioPacket };

/** Ack ids are JS integers; 16 digits keeps them exact. */
const MAX_ID_DIGITS = 15;
const MAX_NSP_LENGTH = 256;
const MAX_EVENT_NAME = 256;
/** Ping probe payloads are short (`probe` during upgrades); anything longer is not a ping. */
const MAX_PING_DATA = 64;

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const isPosInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v > 0;

function parseJson(text: string): Result<unknown> {
  try { return ok(JSON.parse(text) as unknown); } catch (e) { return fail(`invalid JSON: ${(e as Error).message}`); }
}

function stringifyJson(v: unknown): Result<string> {
  try {
    const s = JSON.stringify(v);
    return typeof s === 'string' ? ok(s) : fail('value cannot be written as JSON');
  } catch (e) { return fail(`value cannot be written as JSON: ${(e as Error).message}`); }
}

/** Reads one Engine.IO text frame. */
export function decodeEio(frame: unknown): Result<EioPacket> {
  if (typeof frame !== 'string') return fail('expected a text frame');
  if (frame.length === 0) return fail('empty frame');
  const data = frame.slice(1);
  switch (frame[0]) {
    case '0': return decodeOpen(data);
    case '1': return data === '' ? ok({ kind: 'close' }) : fail('close packet with data');
    case '2':
    case '3':
      if (data.length > MAX_PING_DATA) return fail('ping/pong data too long');
      return ok({ kind: frame[0] === '2' ? 'ping' : 'pong', data });
    case '4': {
      const p = decodeSio(data);
      return p.ok ? ok({ kind: 'message', packet: p.value }) : p;
    }
    case '6': return data === '' ? ok({ kind: 'noop' }) : fail('noop packet with data');
    case '5': return fail('upgrade packet on a websocket-only connection');
    case 'b': return fail('binary Engine.IO payloads are not supported');
    default: return fail(`unknown Engine.IO packet type ${JSON.stringify(frame[0])}`);
  }
}

function decodeOpen(data: string): Result<EioPacket> {
  const j = parseJson(data);
  if (!j.ok) return fail(`open packet: ${j.error}`);
  const o = j.value;
  if (!isObject(o)) return fail('open packet: expected a JSON object');
  if (typeof o.sid !== 'string' || o.sid.length === 0 || o.sid.length > 256) return fail('open packet: sid must be a non-empty string');
  if (!isPosInt(o.pingInterval)) return fail('open packet: pingInterval must be a positive integer');
  if (!isPosInt(o.pingTimeout)) return fail('open packet: pingTimeout must be a positive integer');
  const upgrades = o.upgrades ?? [];
  if (!Array.isArray(upgrades) || !upgrades.every((u) => typeof u === 'string')) return fail('open packet: upgrades must be an array of strings');
  const maxPayload = o.maxPayload === undefined ? null : o.maxPayload;
  if (maxPayload !== null && !isPosInt(maxPayload)) return fail('open packet: maxPayload must be a positive integer');
  return ok({ kind: 'open', open: { sid: o.sid, upgrades: upgrades as string[], pingInterval: o.pingInterval, pingTimeout: o.pingTimeout, maxPayload } });
}

/** Reads one Socket.IO packet (the data of an Engine.IO message). */
export function decodeSio(text: string): Result<SioPacket> {
  if (text.length === 0) return fail('empty Socket.IO packet');
  const t = text[0];
  if (t === '5' || t === '6') return fail('binary Socket.IO packets are not supported');
  if (t === undefined || t < '0' || t > '4') return fail(`unknown Socket.IO packet type ${JSON.stringify(t)}`);
  let i = 1;
  let nsp = '/';
  if (text[i] === '/') {
    const comma = text.indexOf(',', i);
    const end = comma < 0 ? text.length : comma;
    if (end - i > MAX_NSP_LENGTH) return fail('namespace too long');
    nsp = text.slice(i, end);
    i = comma < 0 ? text.length : comma + 1;
  }
  let idText = '';
  while (i < text.length && text[i]! >= '0' && text[i]! <= '9') idText += text[i++];
  if (idText.length > MAX_ID_DIGITS) return fail('ack id too long');
  const id = idText === '' ? null : Number(idText);
  const rest = text.slice(i);
  let payload: unknown = undefined;
  if (rest !== '') {
    const j = parseJson(rest);
    if (!j.ok) return fail(`Socket.IO payload: ${j.error}`);
    payload = j.value;
  }
  switch (t) {
    case '0':
      if (id !== null) return fail('CONNECT with an ack id');
      if (payload !== undefined && !isObject(payload)) return fail('CONNECT payload must be an object');
      return ok({ type: 'connect', nsp, data: (payload as Record<string, unknown> | undefined) ?? null });
    case '1':
      if (id !== null || payload !== undefined) return fail('DISCONNECT with data');
      return ok({ type: 'disconnect', nsp });
    case '2': {
      if (!Array.isArray(payload) || payload.length === 0) return fail('EVENT payload must be a non-empty array');
      const [name, ...args] = payload as unknown[];
      if (typeof name !== 'string' || name.length === 0 || name.length > MAX_EVENT_NAME) return fail('EVENT name must be a non-empty string');
      return ok({ type: 'event', nsp, id, name, args });
    }
    case '3':
      if (id === null) return fail('ACK without an id');
      if (!Array.isArray(payload)) return fail('ACK payload must be an array');
      return ok({ type: 'ack', nsp, id, args: payload });
    default: {
      // Socket.IO 4 sends {message, data?}; older servers sent a bare string.
      if (id !== null) return fail('CONNECT_ERROR with an ack id');
      if (typeof payload === 'string') return ok({ type: 'connect_error', nsp, message: payload, data: null });
      if (!isObject(payload) || typeof payload.message !== 'string') return fail('CONNECT_ERROR payload must be {message}');
      return ok({ type: 'connect_error', nsp, message: payload.message, data: payload.data ?? null });
    }
  }
}

const nspPrefix = (nsp: string): string => (nsp === '/' ? '' : `${nsp},`);

function checkNsp(nsp: string): string | null {
  if (nsp !== '/' && (!nsp.startsWith('/') || nsp.includes(',') || nsp.length > MAX_NSP_LENGTH)) return 'namespace must start with "/" and contain no ","';
  return null;
}

export const encodePong = (data = ''): string => `3${data}`;

/** Join a namespace, optionally with auth data (`40{"token":…}`). */
export function encodeConnect(auth?: Record<string, unknown> | null, nsp = '/'): Result<string> {
  const bad = checkNsp(nsp);
  if (bad) return fail(bad);
  if (auth === undefined || auth === null) return ok(`40${nsp === '/' ? '' : nsp + ','}`);
  if (!isObject(auth)) return fail('auth must be an object');
  const j = stringifyJson(auth);
  return j.ok ? ok(`40${nspPrefix(nsp)}${j.value}`) : j;
}

export function encodeDisconnect(nsp = '/'): Result<string> {
  const bad = checkNsp(nsp);
  if (bad) return fail(bad);
  return ok(`41${nsp === '/' ? '' : nsp + ','}`);
}

/** An event, `42["name",…args]`, or with an ack id `42N["name",…]`. */
export function encodeEvent(name: string, args: unknown[], ackId: number | null = null, nsp = '/'): Result<string> {
  const bad = checkNsp(nsp);
  if (bad) return fail(bad);
  if (typeof name !== 'string' || name.length === 0 || name.length > MAX_EVENT_NAME) return fail('event name must be a non-empty string');
  if (ackId !== null && !(Number.isSafeInteger(ackId) && ackId >= 0)) return fail('ack id must be a non-negative integer');
  const j = stringifyJson([name, ...args]);
  return j.ok ? ok(`42${nspPrefix(nsp)}${ackId ?? ''}${j.value}`) : j;
}

/** The answer to an event that carried ack id N: `43N[…]`. */
export function encodeAck(ackId: number, args: unknown[], nsp = '/'): Result<string> {
  const bad = checkNsp(nsp);
  if (bad) return fail(bad);
  if (!(Number.isSafeInteger(ackId) && ackId >= 0)) return fail('ack id must be a non-negative integer');
  const j = stringifyJson(args);
  return j.ok ? ok(`43${nspPrefix(nsp)}${ackId}${j.value}`) : j;
}

/** The Socket.IO endpoint for a Kit-Manager base URL: http→ws, https→wss, path /socket.io/, EIO=4, websocket. */
export function engineUrl(base: string): Result<string> {
  let u: URL;
  try { u = new URL(base); } catch { return fail(`not a URL: ${base.slice(0, 100)}`); }
  const proto = { 'http:': 'ws:', 'https:': 'wss:', 'ws:': 'ws:', 'wss:': 'wss:' }[u.protocol];
  if (!proto) return fail(`unsupported scheme ${u.protocol} (expected http, https, ws or wss)`);
  u.protocol = proto;
  const basePath = u.pathname.endsWith('/') ? u.pathname : `${u.pathname}/`;
  u.pathname = basePath === '/' ? '/socket.io/' : `${basePath}socket.io/`;
  u.searchParams.set('EIO', '4');
  u.searchParams.set('transport', 'websocket');
  u.hash = '';
  return ok(u.toString());
}
