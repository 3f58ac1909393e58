// kuksa.val.v2 OpenProviderStream on the embedded server: the provider protocol of databroker 0.6+ as 0.7.0 serves
// it (eclipse-kuksa/kuksa-databroker, databroker/src/grpc/kuksa_val_v2/val.rs). On one stream a provider
//   - claims actuators (provide_actuation_request → provide_actuation_response; Actuate/BatchActuate/ActuateStream
//     targets reach it as batch_actuate_stream_request, one per batch of targets, signals by id);
//   - announces the signals it publishes with their sample intervals (provide_signal_request →
//     provide_signal_response; a later one adds signals), and only then publishes them (publish_values_request,
//     answered only when a value is refused: publish_values_response with the request's id and an Error per id);
//   - gets update_filter_request when the lowest min_sample_interval its subscribers ask for changes, and
//     get_provider_value_request when a client's GetValue reads one of its signals (answered with
//     get_provider_value_response, or the stored value after PROVIDER_LIMITS.askTimeoutMs);
//   - reports its own failure (provider_error_indication): its signals then read as having no value.
// Strict cases end the stream with their status, as 0.7 does: a claim of an unknown signal NOT_FOUND, of a signal
// another provider holds ALREADY_EXISTS, a publish (or a filter answer, an error indication) before any
// provide_signal_request ABORTED, a publish of a signal this stream did not announce ALREADY_EXISTS.
// A claim lasts while the response stream is open, also after the provider half-closes its request side
// (kuksa-client sends its claim and half-closes at once).
import type * as grpc from '@grpc/grpc-js';
import { asStatus, fail, S, type GrpcContext, type Obj, type StreamOpener } from './base';
import { checkEntries } from './limits';
import { valueBytes } from './outbox';
import type { SignalProvider, SignalProviders } from './v2-providers';
import { fromWireChecked, toWire, type SignalValue } from '../values';

export const PROVIDER_LIMITS = {
  /** A GetValue of a provided signal waits this long for its provider's answer, then reads the stored value (0.7: 1 s). */
  askTimeoutMs: 1000,
  /** get_provider_value_requests a provider may leave unanswered; past it GetValue reads the stored value at once. */
  maxAsksInFlight: 64,
} as const;

type Resolve = (sid: Obj | undefined) => string;

export function providerStream(ctx: GrpcContext, providers: SignalProviders, pathOf: Resolve): StreamOpener<grpc.ServerDuplexStream<Obj, Obj>> {
  const store = ctx.store;
  const idOf = (path: string): number => store.meta(path)!.id;
  return (call, scope) => {
    const disposers: Array<() => void> = [];
    /** Signals announced with provide_signal_request (null until the first). */
    let provided: Set<string> | null = null;
    let filterSeq = 0;
    let askSeq = 0;
    const asks = new Map<number, { paths: string[]; done: (v: Map<string, SignalValue | null> | null) => void; timer: NodeJS.Timeout }>();
    const out = scope.outbox<SignalValue>(call, {
      build: (held) => ({
        batch_actuate_stream_request: { actuate_requests: [...held].map(([path, v]) => ({ signal_id: { id: idOf(path) }, value: toWire(store.meta(path)!.dataType, v) })) },
      }),
      sizeOf: (p, v) => p.length + 32 + valueBytes(v),
    });
    // Targets set in one tick (a BatchActuate) go to the provider as one request.
    let targets: Map<string, SignalValue> | null = null;
    const onTarget = (path: string, v: SignalValue) => {
      if (targets) { targets.set(path, v); return; }
      targets = new Map([[path, v]]);
      queueMicrotask(() => { const t = targets!; targets = null; out.offer(t); });
    };
    const handle: SignalProvider = {
      updateFilters: (filters) => {
        const filters_update: Obj = {};
        for (const [p, ms] of filters) filters_update[idOf(p)] = ms === null ? {} : { min_sample_interval: { interval_ms: ms } };
        out.reply({ update_filter_request: { request_id: ++filterSeq, filters_update } }, 16 + filters.size * 16);
      },
      askValues: (paths) => new Promise((resolve) => {
        if (asks.size >= PROVIDER_LIMITS.maxAsksInFlight) return resolve(null);
        const request_id = ++askSeq;
        const timer = setTimeout(() => { asks.delete(request_id); resolve(null); }, PROVIDER_LIMITS.askTimeoutMs);
        timer.unref?.();
        asks.set(request_id, { paths, done: resolve, timer });
        out.reply({ get_provider_value_request: { request_id, signal_ids: paths.map(idOf) } }, 16 + paths.length * 8);
      }),
    };
    const notClaimed = () => fail(S.ABORTED, 'Provider has not claimed yet the signals, please call ProvideSignalRequest first');

    const provideActuation = (req: Obj) => {
      const ids = (req.actuator_identifiers ?? []) as Obj[];
      checkEntries(ids.length, 'actuator_identifiers');
      const paths = [...new Set(ids.map(pathOf))];
      scope.hold(paths.length);
      const claim = store.provide(paths, onTarget, true);
      if (claim.taken.length) throw fail(S.ALREADY_EXISTS, `Providers for the following signals already registered: ${claim.taken.slice(0, 20).join(', ')}`);
      disposers.push(claim.dispose);
      out.reply({ provide_actuation_response: {} }, 8);
    };
    const provideSignal = (req: Obj) => {
      const given = Object.entries((req.signals_sample_intervals ?? {}) as Obj);
      checkEntries(given.length, 'signals_sample_intervals');
      const intervals = new Map<string, number>();
      for (const [id, si] of given) intervals.set(pathOf({ id: Number(id) }), Number(si?.interval_ms ?? 0));
      scope.hold(intervals.size);
      const taken = providers.claim(handle, intervals);
      if (taken.length) throw fail(S.ALREADY_EXISTS, `Providers for the following signals already registered: ${taken.slice(0, 20).join(', ')}`);
      provided ??= new Set();
      for (const p of intervals.keys()) provided.add(p);
      out.reply({ provide_signal_response: {} }, 8);
    };
    const publishValues = (req: Obj) => {
      if (!provided) throw notClaimed();
      const given = Object.entries((req.data_points ?? {}) as Obj);
      checkEntries(given.length, 'data_points');
      const foreign = given.map(([id]) => id).filter((id) => { const m = ctx.metaById(Number(id)); return !m || !provided!.has(m.path); });
      if (foreign.length) throw fail(S.ALREADY_EXISTS, `Signals already registered by another provider, or not announced on this stream with provide_signal_request: ids ${foreign.slice(0, 20).join(', ')}`);
      const status: Obj = {};
      for (const [id, dp] of given) {
        const m = ctx.metaById(Number(id))!;
        try {
          const o = store.setValue(m.path, fromWireChecked(m, (dp as Obj)?.value));
          if (!o.ok) status[id] = { code: o.code === 'NOT_FOUND' ? 'ERROR_CODE_NOT_FOUND' : 'ERROR_CODE_INVALID_ARGUMENT', message: o.error };
        } catch (e) { status[id] = { code: 'ERROR_CODE_INVALID_ARGUMENT', message: `${m.path}: ${(e as Error).message}` }; }
      }
      const n = Object.keys(status).length;
      if (n) out.reply({ publish_values_response: { request_id: req.request_id ?? 0, status } }, 16 + n * 64);
    };
    const providerValues = (res: Obj) => {
      const id = Number(res.request_id ?? 0);
      // 0.7 asks with request_id 0 and takes the next answer: an answer with id 0 goes to the oldest question.
      const key = asks.has(id) ? id : id === 0 ? asks.keys().next().value : undefined;
      const ask = key === undefined ? undefined : asks.get(key);
      if (!ask || key === undefined) return;
      asks.delete(key);
      clearTimeout(ask.timer);
      const entries = (res.entries ?? {}) as Obj;
      const got = new Map<string, SignalValue | null>();
      for (const p of ask.paths) {
        const dp = entries[idOf(p)] as Obj | undefined;
        if (!dp) continue;
        try { got.set(p, dp.value ? fromWireChecked(store.meta(p)!, dp.value) : null); } catch { /* a value the signal cannot hold: the stored one is read */ }
      }
      ask.done(got);
    };

    call.on('data', (msg: Obj) => {
      try {
        if (msg.provide_actuation_request) provideActuation(msg.provide_actuation_request);
        else if (msg.provide_signal_request) provideSignal(msg.provide_signal_request);
        else if (msg.publish_values_request) publishValues(msg.publish_values_request);
        else if (msg.get_provider_value_response) providerValues(msg.get_provider_value_response);
        else if (msg.update_filter_response) { if (!provided) throw notClaimed(); }
        else if (msg.provider_error_indication) { if (!provided) throw notClaimed(); store.clearValues(provided); }
        // batch_actuate_stream_response: the provider's acknowledgement; 0.7 only logs it.
      } catch (e) { scope.end(asStatus(e)); }
    });
    return () => {
      for (const d of disposers.splice(0)) d();
      providers.release(handle);
      for (const a of asks.values()) { clearTimeout(a.timer); a.done(null); }
      asks.clear();
    };
  };
}
