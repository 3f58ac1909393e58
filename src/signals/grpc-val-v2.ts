// kuksa.val.v2 served from the embedded store (databroker 0.5+ behaviour, shared/kuksa-wire.md). Rpcs left out
// (SubscribeById, ActuateStream) answer UNIMPLEMENTED: grpc-js does that for handlers not given.
import type * as grpc from '@grpc/grpc-js';
import { VERSION } from '../version';
import { unknownPath, type WriteOutcome } from './broker';
import { asStatus, fail, S, type GrpcContext, type Obj } from './grpc-base';
import { DATA_TYPE_ENUM, ENTRY_TYPE_ENUM, fromWireChecked, toWire, wireNow, type SignalValue } from './values';
import type { ScalarType, SignalMeta, VssDataType } from './vss';

export function outcomeStatus(o: Exclude<WriteOutcome, { ok: true }>): grpc.status {
  return o.code === 'NOT_FOUND' ? S.NOT_FOUND : o.code === 'UNAVAILABLE' ? S.UNAVAILABLE : S.INVALID_ARGUMENT;
}

function datapoint(v: SignalValue | null, meta: SignalMeta, ts: number): Obj {
  return v === null ? { timestamp: wireNow(ts) } : { timestamp: wireNow(ts), value: toWire(meta.dataType, v) };
}

function metadata(m: SignalMeta): Obj {
  const scalar = (m.dataType.endsWith('[]') ? m.dataType.slice(0, -2) : m.dataType) as ScalarType;
  const md: Obj = {
    path: m.path, id: m.id, data_type: DATA_TYPE_ENUM[m.dataType], entry_type: ENTRY_TYPE_ENUM[m.entryType],
    description: m.description ?? '', unit: m.unit ?? '',
  };
  if (m.min !== undefined && scalar !== 'string' && scalar !== 'boolean') md.min = toWire(scalar, m.min);
  if (m.max !== undefined && scalar !== 'string' && scalar !== 'boolean') md.max = toWire(scalar, m.max);
  if (m.allowed?.length) md.allowed_values = toWire(`${scalar}[]` as VssDataType, m.allowed as SignalValue);
  return md;
}

export function valV2(ctx: GrpcContext): grpc.UntypedServiceImplementation {
  const store = ctx.store;
  const pathOf = (sid: Obj | undefined): string => {
    if (!sid) throw fail(S.INVALID_ARGUMENT, 'signal_id: required');
    if (typeof sid.path === 'string') {
      if (!store.meta(sid.path)) throw fail(S.NOT_FOUND, unknownPath(sid.path));
      return sid.path;
    }
    if (typeof sid.id === 'number') {
      const m = ctx.metaById(sid.id);
      if (!m) throw fail(S.NOT_FOUND, `signal id ${sid.id}: no such signal`);
      return m.path;
    }
    throw fail(S.INVALID_ARGUMENT, 'signal_id: give a path or an id');
  };
  const typed = (path: string, wire: Obj | undefined): SignalValue => {
    try { return fromWireChecked(store.meta(path)!, wire); } catch (e) { throw fail(S.INVALID_ARGUMENT, `${path}: ${(e as Error).message}`); }
  };
  const getDp = (path: string): Obj => { const e = store.get(path)!; return datapoint(e.value, e.meta, e.ts); };
  const actuate = (r: Obj): void => {
    const path = pathOf(r.signal_id);
    const o = store.setTarget(path, typed(path, r.value), true);
    if (!o.ok) throw fail(outcomeStatus(o), o.error);
  };
  return {
    GetServerInfo: ctx.unary(() => ({ name: 'sdv-agent-databroker', version: VERSION, commit_hash: '' })),
    GetValue: ctx.unary((req: Obj) => ({ data_point: getDp(pathOf(req.signal_id)) })),
    GetValues: ctx.unary((req: Obj) => ({ data_points: ((req.signal_ids ?? []) as Obj[]).map((s) => getDp(pathOf(s))) })),
    ListMetadata: ctx.unary((req: Obj) => {
      const root = (req.root as string) || '**';
      const paths = root === '**' || root === '*' ? store.vss.all().map((m) => m.path) : store.expand(root);
      if (!paths) throw fail(S.NOT_FOUND, `${root}: matches no signal`);
      return { metadata: paths.map((p) => metadata(store.meta(p)!)) };
    }),
    PublishValue: ctx.unary((req: Obj) => {
      const path = pathOf(req.signal_id);
      const o = store.setValue(path, typed(path, req.data_point?.value));
      if (!o.ok) throw fail(outcomeStatus(o), o.error);
      return {};
    }),
    Actuate: ctx.unary((req: Obj) => { actuate(req); return {}; }),
    BatchActuate: ctx.unary((req: Obj) => {
      const reqs = (req.actuate_requests ?? []) as Obj[];
      // all or none: every actuator must be able to take its target before any is set
      for (const r of reqs) { const p = pathOf(r.signal_id); if (!store.canActuate(p)) throw fail(S.UNAVAILABLE, `${p}: no provider serves this actuator`); }
      for (const r of reqs) actuate(r);
      return {};
    }),
    Subscribe: ctx.stream((call: grpc.ServerWritableStream<Obj, Obj>) => {
      const paths = (call.request.signal_paths ?? []) as string[];
      const missing = paths.find((p) => !store.meta(p));
      if (missing !== undefined) throw fail(S.NOT_FOUND, unknownPath(missing));
      if (paths.length === 0) throw fail(S.INVALID_ARGUMENT, 'signal_paths: at least one path');
      const dispose = store.listen(paths, 'value', (u) => {
        const entries: Obj = {};
        for (const [p, v] of u) { const e = store.get(p); if (e) entries[p] = datapoint(v, e.meta, e.ts); }
        call.write({ entries });
      });
      const entries: Obj = {};
      for (const p of paths) entries[p] = getDp(p);
      call.write({ entries });
      return dispose;
    }),
    // A provider's claims last while its response stream is open: kuksa-client sends its claim and half-closes its
    // request side at once, so the request side ending must not end the claim.
    OpenProviderStream: ctx.stream((call: grpc.ServerDuplexStream<Obj, Obj>, end) => {
      const disposers: Array<() => void> = [];
      call.on('data', (msg: Obj) => {
        try {
          if (msg.provide_actuation_request) {
            const paths = ((msg.provide_actuation_request.actuator_identifiers ?? []) as Obj[]).map(pathOf);
            disposers.push(store.provide(paths, (path, v) => {
              call.write({ batch_actuate_stream_request: { actuate_requests: [{ signal_id: { path }, value: toWire(store.meta(path)!.dataType, v) }] } });
            }));
            call.write({ provide_actuation_response: {} });
          } else if (msg.publish_values_request) {
            call.write({ publish_values_response: publishValues(ctx, msg.publish_values_request) });
          }
          // batch_actuate_stream_response: acknowledgements; nothing to do.
        } catch (e) { end(asStatus(e)); }
      });
      return () => { for (const d of disposers.splice(0)) d(); };
    }),
  };
}

function publishValues(ctx: GrpcContext, req: Obj): Obj {
  const status: Obj = {};
  for (const [id, dp] of Object.entries((req.data_points ?? {}) as Obj)) {
    const m = ctx.metaById(Number(id));
    if (!m) { status[id] = { code: 'ERROR_CODE_NOT_FOUND', message: `signal id ${id}: no such signal` }; continue; }
    try {
      const o = ctx.store.setValue(m.path, fromWireChecked(m, dp.value));
      if (!o.ok) status[id] = { code: 'ERROR_CODE_INVALID_ARGUMENT', message: o.error };
    } catch (e) { status[id] = { code: 'ERROR_CODE_INVALID_ARGUMENT', message: (e as Error).message }; }
  }
  return { request_id: req.request_id ?? 0, status };
}
