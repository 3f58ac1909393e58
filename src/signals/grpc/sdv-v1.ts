// sdv.databroker.v1 served from the embedded store: the API every Velocitas app speaks (`DataPoint.get()` is
// GetDatapoints, `.set()` SetDatapoints, `.subscribe()` Subscribe with a query), with databroker 0.4.4's behaviour
// (shared/kuksa-wire.md). Broker is the app side, Collector the feeder side (values by id).
import type * as grpc from '@grpc/grpc-js';
import { VssError, type SignalMeta, type VssDataType } from '../vss';
import { asStatus, fail, S, type GrpcContext, type Obj, type StreamScope } from './base';
import { checkEntries, GRPC_LIMITS, ReplyBudget, Slicer } from './limits';
import { valueBytes } from './outbox';
import { compileQuery, QueryError, runQuery, type CompiledQuery } from './sdv-query';
import { fromSdvDatapoint, sdvDataType, sdvMetadata, toSdvDatapoint, typedSdvDatapoint, vssTypeOf, type SdvRefusal } from './sdv-values';

/** Estimated bytes of one sdv Datapoint: its one value field (a scalar, or `{values: […]}` for arrays). */
function dpBytes(dp: Obj): number {
  const x = Object.values(dp)[0] as unknown;
  return valueBytes(x && typeof x === 'object' && !Array.isArray(x) ? (x as Obj).values : x);
}

/**
 * A Subscribe's query compiled against the model it is served from (a bad query INVALID_ARGUMENT, naming why), its
 * signals and terms counted against the stream's bounds. The embedded server and the bridge (sdv-bridge.ts) both.
 */
export function subscribedQuery(text: unknown, typeOf: (path: string) => VssDataType | undefined, scope: StreamScope): CompiledQuery {
  try {
    const query = compileQuery(text as string, typeOf);
    scope.hold(query.inputs.length);
    scope.holdQuery(query.nodes);
    return query;
  } catch (e) {
    if (e instanceof QueryError) throw fail(S.INVALID_ARGUMENT, `query: ${e.message}`);
    throw e;
  }
}

export function sdvBroker(ctx: GrpcContext): grpc.UntypedServiceImplementation {
  const store = ctx.store;
  return {
    GetDatapoints: ctx.unary((req: Obj) => {
      const names = (req.datapoints ?? []) as string[];
      if (names.length === 0) throw fail(S.INVALID_ARGUMENT, 'datapoints: name at least one signal');
      checkEntries(names.length, 'datapoints');
      const datapoints: Obj = {};
      for (const n of names) {
        const e = store.get(n);
        datapoints[n] = e ? toSdvDatapoint(e.meta, e.value, e.ts) : { failure_value: 'UNKNOWN_DATAPOINT' };
      }
      return { datapoints };
    }),
    // An app's `.set()`: actuators only, and it sets the target (echoed or forwarded to the provider by the store).
    SetDatapoints: ctx.unary((req: Obj) => {
      const errors: Record<string, SdvRefusal> = {};
      const given = Object.entries((req.datapoints ?? {}) as Obj);
      checkEntries(given.length, 'datapoints');
      for (const [path, dp] of given) {
        const meta = store.meta(path);
        if (!meta) { errors[path] = 'UNKNOWN_DATAPOINT'; continue; }
        if (meta.entryType !== 'actuator') { errors[path] = 'ACCESS_DENIED'; continue; }
        const v = fromSdvDatapoint(meta, dp);
        if (!v.ok) { errors[path] = v.error; continue; }
        const o = store.setTarget(path, v.value, false);
        if (!o.ok) errors[path] = o.code === 'NOT_FOUND' ? 'UNKNOWN_DATAPOINT' : o.code === 'BAD_VALUE' ? 'OUT_OF_BOUNDS' : 'INTERNAL_ERROR';
      }
      return { errors };
    }),
    GetMetadata: ctx.unary((req: Obj, call) => ctx.work(call.getPeer(), async () => {
      const names = (req.names ?? []) as string[];
      checkEntries(names.length, 'names');
      const metas = names.length ? names.map((n) => store.meta(n)).filter((m): m is SignalMeta => !!m) : store.vss.all();
      const budget = new ReplyBudget();
      const slicer = new Slicer();
      const list: Obj[] = [];
      for (const m of metas) {
        if (slicer.due()) await slicer.pause();
        budget.add(m.path.length + 24 + (m.description?.length ?? 0));
        list.push(sdvMetadata(m));
      }
      return { list };
    })),
    // The first reply is the query run on the current values; then one reply per change of a signal it reads, when
    // its WHERE clause holds. A signal the query reads that leaves the model ends the stream NOT_FOUND.
    // While the client does not read, only the newest result is held.
    Subscribe: ctx.stream((call: grpc.ServerWritableStream<Obj, Obj>, scope) => {
      const query = subscribedQuery(call.request.query, (p) => store.meta(p)?.dataType, scope);
      const out = scope.outbox<Obj>(call, {
        build: (held) => ({ fields: held.get('')! }),
        sizeOf: (_k, fields) => { let n = 8; for (const [k, dp] of Object.entries(fields)) n += k.length + 16 + dpBytes(dp as Obj); return n; },
      });
      const send = () => {
        const r = runQuery(query, (p) => store.get(p)?.value ?? null);
        if (!r) return;
        const fields: Obj = {};
        for (const f of r) fields[f.name] = typedSdvDatapoint(f.type, f.value);
        out.offer(new Map([['', fields]]));
      };
      const disposeListen = store.listen(query.inputs, 'value', send);
      const disposeSwap = store.onSwap((rep) => {
        const gone = rep.removedPaths.find((p) => query.inputs.includes(p));
        if (gone) scope.end(fail(S.NOT_FOUND, `${gone}: no longer in the vehicle model`));
      });
      send();
      return () => { disposeListen(); disposeSwap(); };
    }),
  };
}

export function sdvCollector(ctx: GrpcContext): grpc.UntypedServiceImplementation {
  const store = ctx.store;
  /** Current values by id, sensors and actuators alike; errors only where a value was refused. */
  const update = (datapoints: Obj | undefined): Record<string, SdvRefusal> => {
    const errors: Record<string, SdvRefusal> = {};
    const given = Object.entries(datapoints ?? {});
    checkEntries(given.length, 'datapoints');
    for (const [id, dp] of given) {
      const meta = ctx.metaById(Number(id));
      if (!meta) { errors[id] = 'UNKNOWN_DATAPOINT'; continue; }
      const v = fromSdvDatapoint(meta, dp as Obj);
      if (!v.ok) { errors[id] = v.error; continue; }
      const o = store.setValue(meta.path, v.value);
      if (!o.ok) errors[id] = o.code === 'NOT_FOUND' ? 'UNKNOWN_DATAPOINT' : 'OUT_OF_BOUNDS';
    }
    return errors;
  };
  return {
    // Known names answer their id when the type matches; new ones become sensors until the next model swap. All
    // or none: one bad entry refuses the request. The signals one connection may add are a share of the server's,
    // so one feeder cannot take them all.
    RegisterDatapoints: ctx.unary((req: Obj, call) => {
      const results: Record<string, number> = {};
      const fresh: Array<Omit<SignalMeta, 'id'>> = [];
      const named = new Set<string>();
      const list = (req.list ?? []) as Obj[];
      checkEntries(list.length, 'list');
      for (const r of list) {
        const name = String(r.name ?? '');
        let dataType;
        try { dataType = vssTypeOf(r.data_type ?? 'STRING'); } catch (e) { throw fail(S.INVALID_ARGUMENT, `${name}: ${(e as Error).message}`); }
        if (typeof r.change_type === 'number') throw fail(S.INVALID_ARGUMENT, `${name}: change type ${r.change_type} is not supported`);
        const known = store.meta(name);
        if (known) {
          if (known.dataType !== dataType) throw fail(S.INVALID_ARGUMENT, `${name}: is ${sdvDataType(known.dataType)}, registered as ${sdvDataType(dataType)}`);
          results[name] = known.id;
        } else if (!named.has(name)) {
          named.add(name);
          fresh.push({ path: name, entryType: 'sensor', dataType, ...(r.description ? { description: String(r.description) } : {}) });
        }
      }
      if (fresh.length) {
        const peer = call.getPeer();
        const { maxRegistered, maxRegisteredPerPeer } = GRPC_LIMITS;
        if (store.registeredCount(peer) + fresh.length > maxRegisteredPerPeer) {
          throw fail(S.RESOURCE_EXHAUSTED, `more than ${maxRegisteredPerPeer} signals registered beyond the vehicle model from this connection (${store.registeredCount(peer)} so far, ${fresh.length} new in this request)`);
        }
        if (store.registeredCount() + fresh.length > maxRegistered) throw fail(S.RESOURCE_EXHAUSTED, `more than ${maxRegistered} signals registered beyond the vehicle model on this server`);
        try {
          for (const m of store.addLeaves(fresh, peer)) results[m.path] = m.id;
        } catch (e) {
          if (e instanceof VssError) throw fail(S.INVALID_ARGUMENT, e.message);
          throw e;
        }
      }
      return { results };
    }),
    UpdateDatapoints: ctx.unary((req: Obj) => ({ errors: update(req.datapoints) })),
    // Ends OK when the feeder half-closes, as databroker 0.4 does. A feeder that does not read its error replies is
    // no longer read either (its outbox pauses the request side).
    StreamDatapoints: ctx.stream((call: grpc.ServerDuplexStream<Obj, Obj>, scope) => {
      const out = scope.outbox<never>(call, { build: () => null, sizeOf: () => 0 });
      call.on('data', (req: Obj) => {
        let errors: Record<string, SdvRefusal>;
        try { errors = update(req.datapoints); } catch (e) { scope.end(asStatus(e)); return; }
        const n = Object.keys(errors).length;
        if (n) out.reply({ errors }, n * 48);
      });
      call.on('end', () => scope.end());
      return () => {};
    }),
  };
}
