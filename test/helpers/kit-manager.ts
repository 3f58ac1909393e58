// A stand-in Kit-Manager on the real `socket.io` 4 server package, routing exactly as shared/kit-manager-protocol.md
// describes, and a `socket.io-client` "frontend" like the Autowrx playground's. Used by the kit-* tests and benchmarks.
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { Server, type Socket } from 'socket.io';
import { io as ioClient, type Socket as ClientSocket } from 'socket.io-client';
import { ceiling, deepMerge, startAgent, type AgentHandle, type Scope } from './agent';

export interface KitEntry {
  socket_id: string;
  kit_id: string;
  name: string;
  desc: string;
  support_apis: string[];
  is_online: boolean;
  last_seen: number;
}

/** What the runtime's socket presented when it registered: for the token tests. */
export interface Registration {
  kit: KitEntry;
  auth: Record<string, unknown>;
  authorization: string | undefined;
  at: number;
}

type Rec = Record<string, unknown>;

export class StandInKitManager {
  readonly kits = new Map<string, KitEntry>();
  readonly clients = new Map<string, Rec>();
  readonly registrations: Registration[] = [];
  readonly runtimeStates: Rec[] = [];
  private waiters: Array<{ pred: (r: Registration) => boolean; resolve: (r: Registration) => void }> = [];

  private constructor(readonly io: Server, readonly server: http.Server | https.Server, readonly port: number, readonly secure = false) {}

  /**
   * port 0 picks a free one; pass the old port to restart "the same" Kit-Manager. Small ping timings for tests.
   * maxHttpBufferSize: the frame cap (the real one's default 1e8; sdv-runtime's newest Kit-Manager reads
   * KIT_MAX_HTTP_BUFFER_SIZE), which the server announces as maxPayload and enforces by closing the socket.
   */
  static async start(port = 0, opts: { pingInterval?: number; pingTimeout?: number; maxHttpBufferSize?: number; tls?: { key: string; cert: string } } = {}): Promise<StandInKitManager> {
    const { tls, maxHttpBufferSize = 1e8, ...timing } = opts;
    const server = tls ? https.createServer({ key: tls.key, cert: tls.cert }) : http.createServer();
    const io = new Server(server, { maxHttpBufferSize, cors: { origin: '*' }, ...timing });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => { server.off('error', reject); resolve(); });
    });
    const km = new StandInKitManager(io, server, (server.address() as AddressInfo).port, !!tls);
    io.on('connection', (socket) => km.onConnection(socket));
    return km;
  }

  get url(): string { return `${this.secure ? 'https' : 'http'}://127.0.0.1:${this.port}`; }

  private announce(): void {
    for (const id of this.clients.keys()) this.io.to(id).emit('list-all-kits-result', [...this.kits.values()]);
  }

  private onConnection(socket: Socket): void {
    socket.on('register_kit', (payload: Rec) => {
      if (!payload || typeof payload.kit_id !== 'string') return;
      const kit: KitEntry = {
        socket_id: socket.id, kit_id: payload.kit_id, name: String(payload.name ?? ''), desc: String(payload.desc ?? ''),
        support_apis: Array.isArray(payload.support_apis) ? payload.support_apis as string[] : [], is_online: true, last_seen: Date.now(),
      };
      this.kits.set(kit.kit_id, kit);
      const reg: Registration = { kit, auth: socket.handshake.auth as Rec, authorization: socket.handshake.headers.authorization, at: Date.now() };
      this.registrations.push(reg);
      for (const w of [...this.waiters]) if (w.pred(reg)) { this.waiters.splice(this.waiters.indexOf(w), 1); w.resolve(reg); }
      this.announce();
    });
    socket.on('register_client', (payload: Rec) => {
      this.clients.set(socket.id, { ...(payload ?? {}), is_online: true, last_seen: Date.now() });
      socket.emit('list-all-kits-result', [...this.kits.values()]);
    });
    socket.on('list-all-kits', () => socket.emit('list-all-kits-result', [...this.kits.values()]));
    socket.on('messageToKit', (payload: Rec) => {
      if (!payload || typeof payload !== 'object' || typeof payload.to_kit_id !== 'string') return;
      const kit = this.kits.get(payload.to_kit_id);
      if (!kit) return;
      const out: Rec = { request_from: socket.id, ...payload };
      if (payload.cmd === 'deploy_request' || payload.cmd === 'deploy_n_run') {
        // The real one converts the prototype into a Velocitas app; the stand-in marks the code so tests can tell.
        out.convertedCode = payload.disable_code_convert ? payload.code : `# converted by the Kit-Manager\n${String(payload.code ?? '')}`;
      }
      this.io.to(kit.socket_id).emit('messageToKit', out);
    });
    socket.on('messageToKit-kitReply', (payload: Rec) => {
      if (!payload || typeof payload.request_from !== 'string') return;
      this.io.to(payload.request_from).emit('messageToKit-kitReply', payload);
    });
    socket.on('report-runtime-state', (payload: Rec) => { this.runtimeStates.push(payload); });
    socket.on('disconnect', () => {
      this.clients.delete(socket.id);
      let changed = false;
      for (const [id, kit] of this.kits) if (kit.socket_id === socket.id) { this.kits.delete(id); changed = true; }
      if (changed) this.announce();
    });
  }

  /** Resolves with the first registration (past or future) that matches. */
  waitRegistration(pred: (r: Registration) => boolean = () => true, atLeastMs?: number): Promise<Registration> {
    const timeoutMs = ceiling(atLeastMs);
    const found = this.registrations.find(pred);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no matching register_kit in ${timeoutMs} ms (${this.registrations.length} so far)`)), timeoutMs);
      this.waiters.push({ pred, resolve: (r) => { clearTimeout(t); resolve(r); } });
    });
  }

  /** Closes every socket and the port, as a crashing or restarting Kit-Manager does. */
  async close(): Promise<void> {
    this.io.disconnectSockets(true);
    await new Promise<void>((resolve) => {
      this.io.close(() => resolve());
      this.server.closeAllConnections?.();
    });
  }
}

/** The playground's side: a socket.io-client that registers, lists runtimes and sends commands to one kit. */
export class Frontend {
  readonly replies: Rec[] = [];
  kits: Rec[] = [];
  private waiters: Array<{ pred: (r: Rec) => boolean; resolve: (r: Rec) => void; reject: (e: Error) => void }> = [];
  private kitWaiters: Array<() => void> = [];

  private constructor(readonly socket: ClientSocket) {
    socket.on('messageToKit-kitReply', (r: Rec) => {
      this.replies.push(r);
      for (const w of [...this.waiters]) if (w.pred(r)) { this.waiters.splice(this.waiters.indexOf(w), 1); w.resolve(r); }
    });
    socket.on('list-all-kits-result', (kits: Rec[]) => {
      this.kits = Array.isArray(kits) ? kits : [];
      for (const w of this.kitWaiters.splice(0)) w();
    });
  }

  static async connect(url: string): Promise<Frontend> {
    const socket = ioClient(url, { transports: ['websocket'], reconnectionDelay: 50, reconnectionDelayMax: 200 });
    const f = new Frontend(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('connect_error', reject);
    });
    socket.on('connect', () => socket.emit('register_client', { username: 'test', user_id: 'test', domain: 'domain' }));
    socket.emit('register_client', { username: 'test', user_id: 'test', domain: 'domain' });
    return f;
  }

  get id(): string { return this.socket.id ?? ''; }

  /** Kits the playground would list: online, and kit_id starting with `runtime-` in any case. */
  runtimes(): Rec[] {
    return this.kits.filter((k) => k.is_online === true && typeof k.kit_id === 'string' && /^runtime-/i.test(k.kit_id));
  }

  async waitRuntime(kitId: string, atLeastMs?: number): Promise<Rec> {
    const timeoutMs = ceiling(atLeastMs);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const k = this.runtimes().find((x) => x.kit_id === kitId);
      if (k) return k;
      if (Date.now() > deadline) throw new Error(`runtime ${kitId} not listed in ${timeoutMs} ms; kits: ${JSON.stringify(this.kits)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 200);
        this.kitWaiters.push(() => { clearTimeout(t); resolve(); });
        this.socket.emit('list-all-kits');
      });
    }
  }

  send(kitId: string, payload: Rec): void {
    this.socket.emit('messageToKit', { ...payload, to_kit_id: kitId });
  }

  waitFor(pred: (r: Rec) => boolean, atLeastMs?: number): Promise<Rec> {
    const timeoutMs = ceiling(atLeastMs);
    const found = this.replies.find(pred);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`reply not seen in ${timeoutMs} ms; last: ${JSON.stringify(this.replies.slice(-5)).slice(0, 2000)}`)), timeoutMs);
      this.waiters.push({ pred, resolve: (r) => { clearTimeout(t); resolve(r); }, reject });
    });
  }

  /** Sends a command and resolves with its first reply arriving after the send (matched on cmd). */
  async command(kitId: string, payload: Rec, match: (r: Rec) => boolean = (r) => r.cmd === payload.cmd, timeoutMs?: number): Promise<Rec> {
    const before = this.replies.length;
    this.send(kitId, payload);
    return this.waitFor((r) => this.replies.indexOf(r) >= before && match(r), timeoutMs);
  }

  close(): void { this.socket.close(); }
}

/**
 * A stand-in Kit-Manager, an agent registered with it as runtime `name` (quick reconnects; `config` merged over that),
 * and a frontend that already sees the runtime (kit id `RunTime-<name>`); all three are torn down with t.
 */
export async function agentBehindKitManager(t: Scope, name: string, config: Rec = {}): Promise<{ km: StandInKitManager; agent: AgentHandle; fe: Frontend }> {
  const km = await StandInKitManager.start();
  t.teardown(() => km.close());
  const agent = await startAgent(t, { config: deepMerge({ runtime: { name }, kitManager: { url: km.url, reconnect: { minMs: 50, maxMs: 500 } } }, config) });
  const fe = await Frontend.connect(km.url);
  t.teardown(() => fe.close());
  await fe.waitRuntime(`RunTime-${name}`);
  return { km, agent, fe };
}
