// What the three gRPC APIs served from the embedded store (kuksa.val v1, v2, sdv.databroker.v1) share: the token
// check, unary handlers that turn throws into statuses, server streams that end with their status, the registry of
// open streams, and the id → signal index.
import * as grpc from '@grpc/grpc-js';
import type { SignalStore } from './embedded';
import type { SignalMeta, VssModel } from './vss';

export type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
export const S = grpc.status;

/** Streams per server: each holds store listeners; past the bound a new stream is refused RESOURCE_EXHAUSTED. */
export const MAX_STREAMS = 1024;

export function fail(code: grpc.status, details: string): grpc.ServiceError {
  return Object.assign(new Error(details), { code, details, metadata: new grpc.Metadata() }) as grpc.ServiceError;
}

/** A thrown ServiceError as it is; anything else is INTERNAL with its message. */
export function asStatus(e: unknown): grpc.ServiceError {
  return typeof (e as grpc.ServiceError)?.code === 'number' ? (e as grpc.ServiceError) : fail(S.INTERNAL, (e as Error)?.message ?? String(e));
}

const UNAUTHENTICATED = 'authorization: a valid "Bearer <token>" is required';

type ServerStream = grpc.ServerWritableStream<Obj, Obj> | grpc.ServerDuplexStream<Obj, Obj>;

/**
 * Ends a server stream with a status, at once. grpc-js sends a stream's status from its 'error' handler (it records
 * the status, then ends the stream); `call.destroy(err)` tears the stream down without sending one, and the client
 * waits for its deadline.
 */
export function endWithStatus(call: ServerStream, err: grpc.ServiceError): void {
  call.emit('error', err);
}

/**
 * Opens a stream's subscriptions; returns their disposer, or throws a ServiceError to refuse the call. `end` closes
 * the stream later: with a status on error, or OK.
 */
export type StreamOpener<C extends ServerStream> = (call: C, end: (err?: grpc.ServiceError) => void) => () => void;

export class GrpcContext {
  /** Open streams → their end function (stop() ends each with UNAVAILABLE). */
  private readonly streams = new Set<(err?: grpc.ServiceError) => void>();
  private idIndex: { model: VssModel; byId: Map<number, SignalMeta> } | null = null;

  constructor(readonly store: SignalStore, private readonly token: string) {}

  authorized(md: grpc.Metadata): boolean {
    if (!this.token) return true;
    const got = md.get('authorization')[0];
    return typeof got === 'string' && got === `Bearer ${this.token}`;
  }

  unary<Req, Res>(fn: (req: Req) => Res): grpc.handleUnaryCall<Req, Res> {
    return (call, cb) => {
      if (!this.authorized(call.metadata)) return cb(fail(S.UNAUTHENTICATED, UNAUTHENTICATED));
      let res: Res;
      try { res = fn(call.request); } catch (e) { return cb(asStatus(e)); }
      cb(null, res);
    };
  }

  /**
   * A server-streaming or bidi handler: the token and the stream bound are checked, then `open` runs. Whatever
   * fails, now or later through `end(err)`, reaches the client as its status; the disposer runs exactly once, when
   * the stream ends for any reason (client cancel, end, server stop).
   */
  stream<C extends ServerStream>(open: StreamOpener<C>): (call: C) => void {
    return (call: C) => {
      if (!this.authorized(call.metadata)) return endWithStatus(call, fail(S.UNAUTHENTICATED, UNAUTHENTICATED));
      if (this.streams.size >= MAX_STREAMS) return endWithStatus(call, fail(S.RESOURCE_EXHAUSTED, `more than ${MAX_STREAMS} streams`));
      let dispose: (() => void) | null = null;
      let done = false;
      const finish = () => {
        if (done) return;
        done = true;
        this.streams.delete(end);
        dispose?.();
      };
      const end = (err?: grpc.ServiceError) => {
        const wasOpen = !done;
        finish();
        if (!wasOpen) return;
        if (err) endWithStatus(call, err); else call.end();
      };
      this.streams.add(end);
      call.on('cancelled', finish);
      call.on('close', finish);
      try {
        const d = open(call, end);
        if (done) d(); else dispose = d;
      } catch (e) { end(asStatus(e)); }
    };
  }

  /** The signal with this id in the current model (ids are the model's, stable until the next swap). */
  metaById(id: number): SignalMeta | undefined {
    const model = this.store.vss;
    if (this.idIndex?.model !== model) this.idIndex = { model, byId: new Map(model.all().map((m) => [m.id, m])) };
    return this.idIndex.byId.get(id);
  }

  /** Ends every open stream (the server is stopping), so that shutdown need not wait for clients. */
  endAll(): void {
    for (const end of [...this.streams]) end(fail(S.UNAVAILABLE, 'the databroker is shutting down'));
  }
}
