// kuksa.val.v2 served from the embedded store, as databroker 0.7.0 serves it (shared/kuksa-wire.md; the release's
// databroker/src/grpc/kuksa_val_v2/val.rs read for behaviour): Subscribe and SubscribeById with buffer_size (at most
// 1000) and filter.min_sample_interval (sampling.ts), BatchActuate all or none, ActuateStream, GetValue of a provided
// signal asked of its provider, and the provider protocol (OpenProviderStream: v2-provider.ts, the registry of
// signal providers and filters: v2-providers.ts).
import type * as grpc from '@grpc/grpc-js';
import { VERSION } from '../../version';
import { unknownPath, type WriteOutcome } from '../broker';
import { asStatus, fail, S, type GrpcContext, type Obj, type StreamScope } from './base';
import { checkEntries, chunks, ReplyBudget, Slicer } from './limits';
import { valueBytes } from './outbox';
import { providerStream } from './v2-provider';
import { SignalProviders } from './v2-providers';
import { Sampler } from './sampling';
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

/** 0.7: a longer path in a request is INVALID_ARGUMENT ("The provided path is too long"). */
export const MAX_PATH_LENGTH = 1000;
/** 0.7: Subscribe's buffer_size is at most this (MAX_SUBSCRIBE_BUFFER_SIZE). */
export const MAX_BUFFER_SIZE = 1000;

export function valV2(ctx: GrpcContext): grpc.UntypedServiceImplementation {
  const store = ctx.store;
  const providers = new SignalProviders();
  const pathOf = (sid: Obj | undefined): string => {
    if (!sid) throw fail(S.INVALID_ARGUMENT, 'signal_id: required');
    if (typeof sid.path === 'string') {
      if (sid.path.length > MAX_PATH_LENGTH) throw fail(S.INVALID_ARGUMENT, `The provided path is too long (${sid.path.length} characters, at most ${MAX_PATH_LENGTH})`);
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
  /** Datapoints of these paths: a provided signal as its provider answers (in time), the others as stored. */
  const getDps = async (paths: string[]): Promise<Obj[]> => {
    const asked = paths.some((p) => providers.ownerOf(p)) ? await providers.values(paths) : null;
    return paths.map((p) => {
      const e = store.get(p);
      if (!e) throw fail(S.NOT_FOUND, unknownPath(p)); // the model changed while the provider was asked
      return asked?.has(p) ? datapoint(asked.get(p)!, e.meta, Date.now()) : datapoint(e.value, e.meta, e.ts);
    });
  };
  /**
   * Subscribe / SubscribeById: the current values, then changes — at most one message per filter.min_sample_interval
   * when one is given, and up to buffer_size messages held in order for a client that does not read (0: the newest
   * value per signal).
   */
  const subscribe = (call: grpc.ServerWritableStream<Obj, Obj>, scope: StreamScope, paths: string[], keyOf: (path: string) => string | number): () => void => {
    if (paths.length === 0) throw fail(S.INVALID_ARGUMENT, 'name at least one signal');
    const keep = Number(call.request.buffer_size ?? 0);
    if (keep > MAX_BUFFER_SIZE) throw fail(S.INVALID_ARGUMENT, `Subscription buffer_size max allowed value is ${MAX_BUFFER_SIZE} (got ${keep})`);
    const intervalMs = Number(call.request.filter?.min_sample_interval?.interval_ms ?? 0);
    scope.hold(paths.length);
    const message = (values: Iterable<[string, SignalValue | null]>): Obj => {
      const entries: Obj = {};
      for (const [p, v] of values) { const e = store.get(p); if (e) entries[keyOf(p)] = datapoint(v, e.meta, e.ts); }
      return { entries };
    };
    const out = scope.outbox<SignalValue | null>(call, { build: message, sizeOf: (p, v) => p.length + 32 + valueBytes(v), keep });
    const sampler = intervalMs > 0 ? new Sampler<SignalValue | null>(intervalMs, (b) => out.offer(b)) : null;
    const dispose = store.listen(paths, 'value', (u) => (sampler ? sampler.offer(u) : out.offer(u)));
    const unfilter = providers.subscribe(paths, intervalMs > 0 ? intervalMs : null);
    for (const part of chunks(paths)) out.reply(message(part.map((p) => [p, store.get(p)!.value])), part.length * 64);
    sampler?.mark(); // the current values count as the first sample
    return () => { dispose(); sampler?.close(); unfilter(); };
  };
  /** An actuation request checked as 0.7 checks it before anything is set: the signal, an actuator, the value. */
  const actuation = (r: Obj): { path: string; value: SignalValue } => {
    const path = pathOf(r.signal_id);
    if (!r.value) throw fail(S.INVALID_ARGUMENT, `${path}: no value provided`);
    if (store.meta(path)!.entryType !== 'actuator') throw fail(S.INVALID_ARGUMENT, `${path}: is a ${store.meta(path)!.entryType}, only actuators take a target`);
    return { path, value: typed(path, r.value) };
  };
  const actuate = (a: { path: string; value: SignalValue }): void => {
    const o = store.setTarget(a.path, a.value, true);
    if (!o.ok) throw fail(outcomeStatus(o), o.error);
  };
  return {
    GetServerInfo: ctx.unary(() => ({ name: 'sdv-agent-databroker', version: VERSION, commit_hash: '' })),
    GetValue: ctx.unary(async (req: Obj) => ({ data_point: (await getDps([pathOf(req.signal_id)]))[0] })),
    GetValues: ctx.unary(async (req: Obj) => {
      const ids = (req.signal_ids ?? []) as Obj[];
      if (ids.length === 0) throw fail(S.INVALID_ARGUMENT, 'signal_ids: name at least one signal');
      checkEntries(ids.length, 'signal_ids');
      return { data_points: await getDps(ids.map(pathOf)) };
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
      if (!req.data_point) throw fail(S.INVALID_ARGUMENT, 'No datapoint provided for publish_value');
      const o = store.setValue(path, typed(path, req.data_point?.value));
      if (!o.ok) throw fail(outcomeStatus(o), o.error);
      return {};
    }),
    Actuate: ctx.unary((req: Obj) => { actuate(actuation(req)); return {}; }),
    // All or none (0.7: "If any error occurs, the entire operation will be aborted"): every request is checked, and
    // every actuator must have a provider (or be echoed), before any target is set; a provider gets its targets of
    // the batch in one batch_actuate_stream_request.
    BatchActuate: ctx.unary((req: Obj) => {
      const reqs = (req.actuate_requests ?? []) as Obj[];
      checkEntries(reqs.length, 'actuate_requests');
      const checked = reqs.map(actuation);
      const idle = checked.find((a) => !store.canActuate(a.path));
      if (idle) throw fail(S.UNAVAILABLE, `${idle.path}: no provider serves this actuator`);
      for (const a of checked) actuate(a);
      return {};
    }),
    // Each request as an Actuate; the first refused one ends the call with its status (the rest are not read), the
    // client's half-close ends it OK.
    ActuateStream: (call: grpc.ServerReadableStream<Obj, Obj>, cb: grpc.sendUnaryData<Obj>) => {
      if (!ctx.authorized(call.metadata)) return cb(fail(S.UNAUTHENTICATED, 'authorization: a valid "Bearer <token>" is required'));
      let done = false;
      const finish = (err: grpc.ServiceError | null) => { if (done) return; done = true; call.removeAllListeners('data'); if (err) call.pause(); cb(err, err ? undefined : {}); };
      call.on('data', (r: Obj) => { try { actuate(actuation(r)); } catch (e) { finish(asStatus(e)); } });
      call.on('end', () => finish(null));
      call.on('error', () => { done = true; });
    },
    Subscribe: ctx.stream((call: grpc.ServerWritableStream<Obj, Obj>, scope) => {
      const paths = [...new Set((call.request.signal_paths ?? []) as string[])];
      checkEntries(paths.length, 'signal_paths');
      for (const p of paths) pathOf({ path: p }); // NOT_FOUND, or a path too long
      return subscribe(call, scope, paths, (p) => p);
    }),
    SubscribeById: ctx.stream((call: grpc.ServerWritableStream<Obj, Obj>, scope) => {
      const ids = [...new Set((call.request.signal_ids ?? []) as number[])];
      checkEntries(ids.length, 'signal_ids');
      return subscribe(call, scope, ids.map((id) => pathOf({ id })), (p) => store.meta(p)!.id);
    }),
    OpenProviderStream: ctx.stream(providerStream(ctx, providers, pathOf)),
  };
}
