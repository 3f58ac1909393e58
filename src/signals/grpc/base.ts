// What the three gRPC APIs served from the embedded store (kuksa.val v1, v2, sdv.databroker.v1) share: the token
// check, unary handlers that turn throws into statuses, server streams that end with their status, the registry of
// open streams with its bounds per server and per peer (limits.ts), each stream's backpressured outbox
// (outbox.ts), and the id → signal index.
import * as grpc from '@grpc/grpc-js';
import type { SignalStore } from '../embedded';
import { GRPC_LIMITS } from './limits';
import { Outbox, type OutboxOptions, type OutStream } from './outbox';
import { asStatus, fail, S, type Obj } from './status';
import type { SignalMeta } from '../vss';

export { asStatus, fail, S, type Obj } from './status';

/** Shuts a server down: its sessions close once their calls end, and are cut after graceMs. */
export function shutdownServer(server: grpc.Server, graceMs = 2000): Promise<void> {
  return new Promise<void>((resolve) => {
    const t = setTimeout(() => { server.forceShutdown(); resolve(); }, graceMs);
    server.tryShutdown(() => { clearTimeout(t); resolve(); });
  });
}

const UNAUTHENTICATED = 'authorization: a valid "Bearer <token>" is required';

type ServerStream = grpc.ServerWritableStream<Obj, Obj> | grpc.ServerDuplexStream<Obj, Obj>;

/**
 * Ends a server stream with a status, at once. grpc-js sends a stream's status from its 'error' handler (it records
 * the status, then ends the stream); `call.destroy(err)` tears the stream down without sending one, and the client
 * waits for its deadline.
 */
function endWithStatus(call: ServerStream, err: grpc.ServiceError): void {
  call.emit('error', err);
}

/** What a stream's opener gets: its end, its peer, the leaf accounting and an outbox wired to both. */
export interface StreamScope {
  /** Ends the stream: with a status on error, or OK. */
  readonly end: (err?: grpc.ServiceError) => void;
  /** The connection it came on (address:port), the unit of the per-peer bounds. */
  readonly peer: string;
  /**
   * Counts signals this stream subscribes against the bounds per stream, per peer and per server; throws
   * RESOURCE_EXHAUSTED naming the bound. Released when the stream ends.
   */
  hold(leaves: number): void;
  /** Counts a query's terms against the bounds per peer and per server, as hold() does signals. */
  holdQuery(nodes: number): void;
  /** A backpressured sender for this stream (outbox.ts), closed when the stream ends. */
  outbox<V>(call: OutStream, opts: Pick<OutboxOptions<V>, 'build' | 'sizeOf' | 'keep'>): Outbox<V>;
}

/**
 * Opens a stream's subscriptions; returns (or resolves to) their disposer, or throws a ServiceError to refuse the
 * call.
 */
export type StreamOpener<C extends ServerStream> = (call: C, scope: StreamScope) => (() => void) | Promise<() => void>;

interface PeerUse { streams: number; leaves: number; nodes: number; requests: number }

export class GrpcContext {
  /** Open streams → their end function (stop() ends each with UNAVAILABLE). */
  private readonly streams = new Set<(err?: grpc.ServiceError) => void>();
  /** Per connection: its streams (open, or ended and not yet closed by the client), their leaves, big requests. */
  private readonly peers = new Map<string, PeerUse>();
  /** Streams not yet closed by their clients (ended ones included). */
  private held = 0;
  private leaves = 0;
  private nodes = 0;

  constructor(readonly store: SignalStore, private readonly token: string, private readonly stallMs = 30_000) {}

  authorized(md: grpc.Metadata): boolean {
    if (!this.token) return true;
    const got = md.get('authorization')[0];
    return typeof got === 'string' && got === `Bearer ${this.token}`;
  }

  /** A unary handler; `fn` may be async (requests that expand patterns work in slices). Throws become statuses. */
  unary<Req, Res>(fn: (req: Req, call: grpc.ServerUnaryCall<Req, Res>) => Res | Promise<Res>): grpc.handleUnaryCall<Req, Res> {
    return (call, cb) => {
      if (!this.authorized(call.metadata)) return cb(fail(S.UNAUTHENTICATED, UNAUTHENTICATED));
      let res: Res | Promise<Res>;
      try { res = fn(call.request, call); } catch (e) { return cb(asStatus(e)); }
      if (res instanceof Promise) res.then((r) => cb(null, r), (e: unknown) => cb(asStatus(e)));
      else cb(null, res);
    };
  }

  private use(peer: string): PeerUse {
    let u = this.peers.get(peer);
    if (!u) this.peers.set(peer, (u = { streams: 0, leaves: 0, nodes: 0, requests: 0 }));
    return u;
  }

  private release(peer: string, u: PeerUse): void {
    if (u.streams === 0 && u.leaves === 0 && u.nodes === 0 && u.requests === 0) this.peers.delete(peer);
  }

  /**
   * Runs a request's expensive part (pattern expansion over the model) under the per-peer bound of such requests
   * in progress at once; past it the request is refused RESOURCE_EXHAUSTED.
   */
  async work<T>(peer: string, fn: () => Promise<T>): Promise<T> {
    const u = this.use(peer);
    if (u.requests >= GRPC_LIMITS.maxRequestsPerPeer) {
      throw fail(S.RESOURCE_EXHAUSTED, `more than ${GRPC_LIMITS.maxRequestsPerPeer} requests naming signal patterns in progress on this connection: wait for their replies`);
    }
    u.requests++;
    try { return await fn(); } finally { u.requests--; this.release(peer, u); }
  }

  /**
   * A server-streaming or bidi handler: the token and the stream bounds (per server, per peer) are checked, then
   * `open` runs. Whatever fails, now or later through `end(err)`, reaches the client as its status; the disposer
   * runs exactly once, when the stream ends for any reason (client cancel, end, server stop). A stream ended by the
   * server keeps counting against its peer until the client has closed it: its last messages and its status still
   * wait in the connection for a client that does not read.
   */
  stream<C extends ServerStream>(open: StreamOpener<C>): (call: C) => void {
    return (call: C) => {
      if (!this.authorized(call.metadata)) return endWithStatus(call, fail(S.UNAUTHENTICATED, UNAUTHENTICATED));
      const peer = call.getPeer();
      const u = this.use(peer);
      const refuse = this.held >= GRPC_LIMITS.maxStreams ? `more than ${GRPC_LIMITS.maxStreams} streams open on this server`
        : u.streams >= GRPC_LIMITS.maxStreamsPerPeer ? `more than ${GRPC_LIMITS.maxStreamsPerPeer} streams open on this connection: close one first` : null;
      if (refuse) { this.release(peer, u); return endWithStatus(call, fail(S.RESOURCE_EXHAUSTED, refuse)); }
      u.streams++;
      this.held++;
      let dispose: (() => void) | null = null;
      let done = false;
      let closed = false;
      let held = 0;
      let heldNodes = 0;
      const outboxes: Array<Outbox<unknown>> = [];
      const finish = () => {
        if (done) return;
        done = true;
        this.streams.delete(end);
        for (const o of outboxes) o.close();
        u.leaves -= held;
        this.leaves -= held;
        held = 0;
        u.nodes -= heldNodes;
        this.nodes -= heldNodes;
        heldNodes = 0;
        dispose?.();
      };
      const closedByClient = () => {
        finish();
        if (closed) return;
        closed = true;
        u.streams--;
        this.held--;
        this.release(peer, u);
      };
      const end = (err?: grpc.ServiceError) => {
        const wasOpen = !done;
        finish();
        if (!wasOpen) return;
        if (err) endWithStatus(call, err); else call.end();
      };
      this.streams.add(end);
      call.on('cancelled', closedByClient);
      call.on('close', closedByClient);
      const scope: StreamScope = {
        end, peer,
        hold: (n) => {
          const bound = held + n > GRPC_LIMITS.maxLeavesPerStream ? `more than ${GRPC_LIMITS.maxLeavesPerStream} signals in one stream`
            : u.leaves + n > GRPC_LIMITS.maxLeavesPerPeer ? `more than ${GRPC_LIMITS.maxLeavesPerPeer} signals subscribed on this connection: close a stream first`
            : this.leaves + n > GRPC_LIMITS.maxLeaves ? `more than ${GRPC_LIMITS.maxLeaves} signals subscribed on this server` : null;
          if (bound) throw fail(S.RESOURCE_EXHAUSTED, bound);
          held += n;
          u.leaves += n;
          this.leaves += n;
        },
        holdQuery: (n) => {
          const bound = u.nodes + n > GRPC_LIMITS.maxQueryNodesPerPeer ? `the queries open on this connection would have more than ${GRPC_LIMITS.maxQueryNodesPerPeer} terms: close a stream first`
            : this.nodes + n > GRPC_LIMITS.maxQueryNodes ? `the queries open on this server would have more than ${GRPC_LIMITS.maxQueryNodes} terms` : null;
          if (bound) throw fail(S.RESOURCE_EXHAUSTED, bound);
          heldNodes += n;
          u.nodes += n;
          this.nodes += n;
        },
        outbox: <V>(c: OutStream, opts: Pick<OutboxOptions<V>, 'build' | 'sizeOf' | 'keep'>) => {
          const o = new Outbox<V>(c, { ...opts, stallMs: this.stallMs, cut: (why) => end(fail(S.RESOURCE_EXHAUSTED, why)) });
          outboxes.push(o as Outbox<unknown>);
          return o;
        },
      };
      const opened = (d: () => void) => { if (done) d(); else dispose = d; };
      try {
        const d = open(call, scope);
        if (d instanceof Promise) d.then(opened, (e: unknown) => end(asStatus(e)));
        else opened(d);
      } catch (e) { end(asStatus(e)); }
    };
  }

  /** The signal with this id in the current model (ids are the model's, stable until the next swap). */
  metaById(id: number): SignalMeta | undefined {
    return this.store.vss.byId(id);
  }

  /** Ends every open stream (the server is stopping), so that shutdown need not wait for clients. */
  endAll(): void {
    for (const end of [...this.streams]) end(fail(S.UNAVAILABLE, 'the databroker is shutting down'));
  }
}
