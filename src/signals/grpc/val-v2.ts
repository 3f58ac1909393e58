// kuksa.val.v2 served from the embedded store (databroker 0.5+ behaviour, shared/kuksa-wire.md). ActuateStream is
// left out and answers UNIMPLEMENTED: grpc-js does that for handlers not given.
import type * as grpc from '@grpc/grpc-js';
import { VERSION } from '../../version';
import { unknownPath, type WriteOutcome } from '../broker';
import { asStatus, fail, S, type GrpcContext, type Obj, type StreamScope } from './base';
import { checkEntries, chunks, ReplyBudget, Slicer } from './limits';
import { valueBytes } from './outbox';
import { DATA_TYPE_ENUM, ENTRY_TYPE_ENUM, fromWireChecked, toWire, wireNow, type SignalValue } from '../values';
import type { ScalarType, SignalMeta, VssDataType } from '../vss';

function outcomeStatus(o: Exclude<WriteOutcome, { ok: true }>): grpc.status {
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
  /** Subscribe / SubscribeById: the current values, then changes (held per signal while the client does not read). */
  const subscribe = (call: grpc.ServerWritableStream<Obj, Obj>, scope: StreamScope, paths: string[], keyOf: (path: string) => string | number): () => void => {
    if (paths.length === 0) throw fail(S.INVALID_ARGUMENT, 'name at least one signal');
    scope.hold(paths.length);
    const message = (values: Iterable<[string, SignalValue | null]>): Obj => {
      const entries: Obj = {};
      for (const [p, v] of values) { const e = store.get(p); if (e) entries[keyOf(p)] = datapoint(v, e.meta, e.ts); }
      return { entries };
    };
    const out = scope.outbox<SignalValue | null>(call, { build: message, sizeOf: (p, v) => p.length + 32 + valueBytes(v) });
    const dispose = store.listen(paths, 'value', (u) => out.offer(u));
    for (const part of chunks(paths)) out.reply(message(part.map((p) => [p, store.get(p)!.value])), part.length * 64);
    return dispose;
  };
  const actuate = (r: Obj): void => {
    const path = pathOf(r.signal_id);
    const o = store.setTarget(path, typed(path, r.value), true);
    if (!o.ok) throw fail(outcomeStatus(o), o.error);
  };
  return {
    GetServerInfo: ctx.unary(() => ({ name: 'sdv-agent-databroker', version: VERSION, commit_hash: '' })),
    GetValue: ctx.unary((req: Obj) => ({ data_point: getDp(pathOf(req.signal_id)) })),
    GetValues: ctx.unary((req: Obj) => {
      const ids = (req.signal_ids ?? []) as Obj[];
      checkEntries(ids.length, 'signal_ids');
      return { data_points: ids.map((s) => getDp(pathOf(s))) };
    }),
    ListMetadata: ctx.unary((req: Obj, call) => ctx.work(call.getPeer(), async () => {
      const root = (req.root as string) || '**';
      const paths = root === '**' || root === '*' ? store.vss.all().map((m) => m.path) : store.expand(root);
      if (!paths) throw fail(S.NOT_FOUND, `${root}: matches no signal`);
      const budget = new ReplyBudget();
      const slicer = new Slicer();
      const out: Obj[] = [];
      for (const p of paths) {
        if (slicer.due()) await slicer.pause();
        const m = store.meta(p);
        if (!m) continue;
        budget.add(p.length + 32 + (m.description?.length ?? 0) + (m.unit?.length ?? 0) + valueBytes(m.allowed ?? 0));
        out.push(metadata(m));
      }
      return { metadata: out };
    })),
    PublishValue: ctx.unary((req: Obj) => {
      const path = pathOf(req.signal_id);
      const o = store.setValue(path, typed(path, req.data_point?.value));
      if (!o.ok) throw fail(outcomeStatus(o), o.error);
      return {};
    }),
    Actuate: ctx.unary((req: Obj) => { actuate(req); return {}; }),
    BatchActuate: ctx.unary((req: Obj) => {
      const reqs = (req.actuate_requests ?? []) as Obj[];
      checkEntries(reqs.length, 'actuate_requests');
      // all or none: every actuator must be able to take its target before any is set
      for (const r of reqs) { const p = pathOf(r.signal_id); if (!store.canActuate(p)) throw fail(S.UNAVAILABLE, `${p}: no provider serves this actuator`); }
      for (const r of reqs) actuate(r);
      return {};
    }),
    Subscribe: ctx.stream((call: grpc.ServerWritableStream<Obj, Obj>, scope) => {
      const paths = [...new Set((call.request.signal_paths ?? []) as string[])];
      checkEntries(paths.length, 'signal_paths');
      const missing = paths.find((p) => !store.meta(p));
      if (missing !== undefined) throw fail(S.NOT_FOUND, unknownPath(missing));
      return subscribe(call, scope, paths, (p) => p);
    }),
    SubscribeById: ctx.stream((call: grpc.ServerWritableStream<Obj, Obj>, scope) => {
      const ids = [...new Set((call.request.signal_ids ?? []) as number[])];
      checkEntries(ids.length, 'signal_ids');
      return subscribe(call, scope, ids.map((id) => pathOf({ id })), (p) => store.meta(p)!.id);
    }),
    // A provider's claims last while its response stream is open: kuksa-client sends its claim and half-closes its
    // request side at once, so the request side ending must not end the claim. Targets for it are held per actuator
    // while it does not read (the newest target wins) and go out as one batch; its requests are not read meanwhile.
    OpenProviderStream: ctx.stream((call: grpc.ServerDuplexStream<Obj, Obj>, scope) => {
      const disposers: Array<() => void> = [];
      const out = scope.outbox<SignalValue>(call, {
        build: (held) => ({
          batch_actuate_stream_request: { actuate_requests: [...held].map(([path, v]) => ({ signal_id: { path }, value: toWire(store.meta(path)!.dataType, v) })) },
        }),
        sizeOf: (p, v) => p.length + 32 + valueBytes(v),
      });
      call.on('data', (msg: Obj) => {
        try {
          if (msg.provide_actuation_request) {
            const ids = (msg.provide_actuation_request.actuator_identifiers ?? []) as Obj[];
            checkEntries(ids.length, 'actuator_identifiers');
            const paths = ids.map(pathOf);
            scope.hold(paths.length);
            disposers.push(store.provide(paths, (path, v) => out.offer(new Map([[path, v]]))));
            out.reply({ provide_actuation_response: {} }, 8);
          } else if (msg.publish_values_request) {
            const r = publishValues(ctx, msg.publish_values_request);
            out.reply({ publish_values_response: r }, 16 + Object.keys(r.status as Obj).length * 64);
          }
          // batch_actuate_stream_response: acknowledgements; nothing to do.
        } catch (e) { scope.end(asStatus(e)); }
      });
      return () => { for (const d of disposers.splice(0)) d(); };
    }),
  };
}

function publishValues(ctx: GrpcContext, req: Obj): Obj {
  const status: Obj = {};
  checkEntries(Object.keys(req.data_points ?? {}).length, 'data_points');
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
