// A Kit-Manager written by hand on a bare `ws` server, for fuzzing the agent's Socket.IO side: it speaks just enough
// Engine.IO 4 / Socket.IO 5 to be registered with (open packet, namespace CONNECT, pings) and can then send anything
// at all — mutated messageToKit payloads, packets out of order, garbage, binary frames, raw bytes at full speed.
// Replies are matched to the request_from ids still owed (owed.ts), and kept for the ids a test watches.
import type { Socket } from 'node:net';
import WebSocket from 'ws';
import { ceiling } from '../helpers/scope';
import { loopbackWsServer, type LoopbackServer } from '../helpers/ws-server';
import { OwedReplies } from './owed';

const PING_MS = 2000;

export class RawKitManager {
  private readonly owed = new OwedReplies();
  private regWaiters: Array<() => void> = [];
  private ws: WebSocket | null = null;
  private pinger: NodeJS.Timeout | null = null;
  /** Sessions opened by the agent, and register_kit events received. */
  connections = 0;
  registrations = 0;
  replies = 0;
  /** Engine.IO pongs received (`3…`). */
  pongs = 0;
  internal: Array<{ what: string; error: string }> = [];
  /** The owed replies that arrived, by their errorCode ('' for a reply that is no error). */
  readonly settledBy = new Map<string, number>();
  /** Sessions the agent registered on. */
  private readonly registeredOn = new WeakSet<WebSocket>();
  /** The reply bodies to the request_from ids a test watches (watch()). */
  private readonly watched = new Map<string, Array<Record<string, unknown>>>();
  /** Frames the next session gets before its open packet, and before the CONNECT ack (out-of-order handshakes). */
  nextHandshake: { beforeOpen: Array<string | Buffer>; beforeConnectAck: Array<string | Buffer> } | null = null;

  private constructor(private readonly server: LoopbackServer, private readonly ping: { intervalMs: number; timeoutMs: number }) {
    server.wss.on('connection', (ws) => this.onConnection(ws));
  }

  /** `ping` sets the open packet's pingInterval / pingTimeout (the agent's dead-link window is their sum). */
  static async start(ping: { intervalMs?: number; timeoutMs?: number } = {}): Promise<RawKitManager> {
    return new RawKitManager(await loopbackWsServer(undefined, { maxPayload: 256 * 1024 * 1024 }), { intervalMs: ping.intervalMs ?? PING_MS, timeoutMs: ping.timeoutMs ?? 20_000 });
  }

  /**
   * The current session stops reading from its socket (a Kit-Manager that hangs, or reads nothing on purpose) while
   * it can still write: the agent's frames pile up in the kernel, then in the agent. Returns false with no session.
   */
  stopReading(): boolean {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    // ws's pause() holds the socket paused (its own reader would resume a socket paused underneath it).
    this.ws.pause();
    return true;
  }

  /** True once the agent registered on this session. */
  isRegistered(session: WebSocket): boolean { return this.registeredOn.has(session); }

  /** The current session reads again. */
  resumeReading(): void { this.ws?.resume(); }

  /**
   * Writes raw bytes on the current session's TCP socket, past ws's own framing and queue (a flood of ready-made
   * frames costs this process one Buffer per batch); false without a session.
   */
  sendRaw(bytes: Buffer): boolean {
    const sock = this.rawSocket;
    if (!sock || this.ws?.readyState !== WebSocket.OPEN) return false;
    sock.write(bytes);
    return true;
  }

  /** Bytes this side has not written out yet on the current session (its socket's and ws's). */
  get unsent(): number {
    return (this.rawSocket?.writableLength ?? 0) + (this.ws?.bufferedAmount ?? 0);
  }

  private get rawSocket(): Socket | null {
    return ((this.ws as unknown as { _socket?: Socket } | null)?._socket) ?? null;
  }

  /** Keeps every reply to `requestFrom` from now on; the array fills as they arrive. */
  watch(requestFrom: string): Array<Record<string, unknown>> {
    const list: Array<Record<string, unknown>> = [];
    this.watched.set(requestFrom, list);
    return list;
  }

  /** The current session's socket (the newest the agent opened). */
  get session(): WebSocket | null { return this.ws; }

  get url(): string { return `http://127.0.0.1:${this.server.port}`; }

  get registered(): boolean { return this.ws !== null && this.ws.readyState === WebSocket.OPEN && this.registrations > 0; }

  private onConnection(ws: WebSocket): void {
    // The newest session is the one commands go to; an older one the agent left is closed.
    if (this.ws) this.ws.terminate();
    this.ws = ws;
    this.connections++;
    ws.on('error', () => {});
    const odd = this.nextHandshake;
    this.nextHandshake = null;
    for (const f of odd?.beforeOpen ?? []) ws.send(f, { binary: typeof f !== 'string' });
    ws.send(`0${JSON.stringify({ sid: `raw${this.connections}`, upgrades: [], pingInterval: this.ping.intervalMs, pingTimeout: this.ping.timeoutMs, maxPayload: 1e8 })}`);
    if (this.pinger) clearInterval(this.pinger);
    this.pinger = setInterval(() => { if (ws.readyState === WebSocket.OPEN) ws.send('2'); }, this.ping.intervalMs);
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      const s = data.toString();
      if (s[0] === '3') { this.pongs++; return; }
      if (s.startsWith('40')) {
        for (const f of odd?.beforeConnectAck ?? []) ws.send(f, { binary: typeof f !== 'string' });
        ws.send(`40{"sid":"n${this.connections}"}`);
        return;
      }
      if (s.startsWith('42["register_kit"')) {
        this.registrations++;
        this.registeredOn.add(ws);
        for (const w of this.regWaiters.splice(0)) w();
        return;
      }
      if (s.startsWith('42["messageToKit-kitReply"')) this.onReply(s.slice(2));
    });
    ws.on('close', () => { if (this.ws === ws) this.ws = null; });
  }

  private onReply(json: string): void {
    this.replies++;
    let args: unknown;
    try { args = JSON.parse(json); } catch { return; }
    const body = Array.isArray(args) ? args[1] as Record<string, unknown> | undefined : undefined;
    const rf = typeof body?.request_from === 'string' ? body.request_from : null;
    if (rf !== null) this.watched.get(rf)?.push(body!);
    // A push (the runtime state every client gets, a subscription's values) is not the reply to what was sent: a
    // command is done only when its reply came, and the frames sent after it may rely on that.
    const pushed = body?.cmd === 'report-runtime-state' || body?.cmd === 'apis-value';
    const what = rf === null || pushed ? undefined : this.owed.settle(rf);
    if (what !== undefined) {
      const code = typeof body!.errorCode === 'string' ? body!.errorCode : '';
      this.settledBy.set(code, (this.settledBy.get(code) ?? 0) + 1);
    }
    if (what !== undefined && body!.errorCode === 'INTERNAL') this.internal.push({ what, error: String(body!.error).slice(0, 200) });
  }

  /** Resolves once the agent (re-)registered after `since` registrations, or false after at least the suite's ceiling. */
  async waitRegistered(since: number, timeoutMs?: number): Promise<boolean> {
    if (this.registrations > since && this.ws) return true;
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve(false), ceiling(timeoutMs));
      const check = () => {
        if (this.registrations > since) { clearTimeout(t); resolve(true); } else this.regWaiters.push(check);
      };
      this.regWaiters.push(check);
    });
  }

  /** Sends a raw frame on the current session; when requestFrom is given, a reply carrying it is owed. */
  send(frame: string | Buffer, requestFrom: string | null, what: string, binary = false): boolean {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    if (requestFrom !== null) this.owed.add(requestFrom, what);
    ws.send(frame, { binary });
    return true;
  }

  /** Waits until every owed reply arrived or the timeout; returns what is still owed and forgets it. */
  drain(timeoutMs: number): Promise<Array<[string, string]>> { return this.owed.drain(timeoutMs); }

  /** Drops the current session from this side (as a crashed Kit-Manager would). */
  dropSession(): void { this.ws?.terminate(); }

  async close(): Promise<void> {
    if (this.pinger) clearInterval(this.pinger);
    await this.server.close();
  }
}
