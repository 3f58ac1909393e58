// kuksa.val.v2 client (databroker 0.5 and later): GetValues, Subscribe, PublishValue for sensors and attributes,
// Actuate for actuators, ListMetadata for wildcards and the metadata cache, OpenProviderStream for the mock provider.
import * as grpc from '@grpc/grpc-js';
import type { ProvideOptions, SignalPublisher, SignalUpdate, WriteOutcome } from './broker';
import { unknownPath } from './broker';
import { KuksaClient, type ClientOptions, type Obj } from './kuksa-client';
import { ProviderSession } from './kuksa-v2-provider';
import { grpcText } from './failure';
import { coerce, DATA_TYPE_FROM_ENUM, ENTRY_TYPE_FROM_ENUM, fromWire, toWire, wireNow, type SignalValue } from './values';
import type { SignalMeta } from './vss';

export class KuksaV2Client extends KuksaClient {
  readonly kind = 'kuksa-v2';

  constructor(opts: ClientOptions) { super(opts, 'v2'); }

  protected async rawList(pattern: string): Promise<SignalMeta[]> {
    const r = await this.unary<Obj>(this.client, 'ListMetadata', { root: pattern, filter: '' });
    return ((r.metadata ?? []) as Obj[]).map((m) => {
      const num = (v: Obj | undefined) => { const x = fromWire(v); return typeof x === 'number' ? x : undefined; };
      const allowed = fromWire(m.allowed_values);
      return {
        path: m.path, id: m.id ?? 0, entryType: ENTRY_TYPE_FROM_ENUM[m.entry_type] ?? 'sensor',
        dataType: DATA_TYPE_FROM_ENUM[m.data_type] ?? 'string',
        ...(m.unit ? { unit: m.unit } : {}), ...(m.description ? { description: m.description } : {}),
        ...(num(m.min) !== undefined ? { min: num(m.min) } : {}), ...(num(m.max) !== undefined ? { max: num(m.max) } : {}),
        ...(Array.isArray(allowed) && allowed.length ? { allowed: allowed as (string | number)[] } : {}),
      } as SignalMeta;
    });
  }

  protected async rawGet(paths: string[]): Promise<Record<string, SignalValue | null>> {
    const r = await this.unary<Obj>(this.client, 'GetValues', { signal_ids: paths.map((path) => ({ path })) });
    const out: Record<string, SignalValue | null> = {};
    ((r.data_points ?? []) as Obj[]).forEach((dp, i) => { out[paths[i]!] = fromWire(dp?.value) ?? null; });
    return out;
  }

  protected async rawWrite(items: Array<{ meta: SignalMeta; value: SignalValue; target: boolean }>): Promise<Record<string, WriteOutcome>> {
    const out: Record<string, WriteOutcome> = {};
    await Promise.all(items.map(async (it) => {
      const value = toWire(it.meta.dataType, it.value);
      try {
        if (it.target) await this.unary(this.client, 'Actuate', { signal_id: { path: it.meta.path }, value });
        else await this.unary(this.client, 'PublishValue', { signal_id: { path: it.meta.path }, data_point: { timestamp: wireNow(), value } });
      } catch (e) {
        const code = (e as grpc.ServiceError).code;
        out[it.meta.path] = {
          ok: false, code: code === grpc.status.NOT_FOUND ? 'NOT_FOUND' : code === grpc.status.UNAVAILABLE ? 'UNAVAILABLE' : 'REFUSED',
          error: withPath(it.meta.path, grpcText(e) + (code === grpc.status.UNAVAILABLE && it.target && !/provider/i.test(grpcText(e)) ? ' (no provider serves this actuator: start the mock service in an echo mode)' : '')),
        };
      }
    }));
    return out;
  }

  protected openSubscribe(paths: string[], onUpdate: (u: SignalUpdate) => void, onEnd: (e: Error) => void): () => void {
    const call = (this.client as unknown as { Subscribe(req: Obj, md: grpc.Metadata): grpc.ClientReadableStream<Obj> })
      .Subscribe({ signal_paths: paths, buffer_size: 0 }, this.callMeta());
    let cancelled = false;
    call.on('data', (r: Obj) => {
      const u: SignalUpdate = new Map();
      for (const [p, dp] of Object.entries((r.entries ?? {}) as Obj)) u.set(p, fromWire(dp?.value) ?? null);
      if (u.size) onUpdate(u);
    });
    call.on('error', (e: grpc.ServiceError) => { if (!cancelled) onEnd(e); });
    call.on('end', () => { if (!cancelled) onEnd(new Error('subscription ended by the server')); });
    return () => { cancelled = true; call.cancel(); };
  }

  private openStream(): grpc.ClientDuplexStream<Obj, Obj> {
    return (this.client as unknown as { OpenProviderStream(md: grpc.Metadata): grpc.ClientDuplexStream<Obj, Obj> }).OpenProviderStream(this.callMeta());
  }

  /** One provider stream, ended with onEnd unless cancelled: the durable streams re-open it after a reconnect. */
  private session(claims: ConstructorParameters<typeof ProviderSession>[1], onEnd: (e: Error) => void): ProviderSession {
    const call = this.openStream();
    let cancelled = false;
    call.on('error', (e: grpc.ServiceError) => { if (!cancelled) onEnd(e); });
    call.on('end', () => { if (!cancelled) onEnd(new Error('provider stream ended by the server')); });
    const s = new ProviderSession(call, claims);
    const cancel = s.cancel.bind(s);
    s.cancel = () => { cancelled = true; cancel(); };
    return s;
  }

  protected openProvider(paths: string[], onTarget: (p: string, v: SignalValue) => void, onEnd: (e: Error) => void): () => void {
    const actuators = paths.map((p) => this.meta.get(p)).filter((m): m is SignalMeta => !!m);
    const s = this.session({ actuators, onTarget }, onEnd);
    return () => s.cancel();
  }

  /**
   * Announces the signals on a provider stream of their own (provide_signal_request with the interval), and publishes
   * on it once the databroker has answered. Re-announced after every reconnect; ended by dispose.
   */
  override async provideSignals(paths: string[], opts: ProvideOptions = {}): Promise<SignalPublisher> {
    const metas = await this.metaOf(paths);
    const signals = [...metas.values()].filter((m): m is SignalMeta => !!m);
    let current: ProviderSession | null = null;
    const dispose = this.durable((onEnd) => {
      const s = this.session({ signals, intervalMs: opts.intervalMs ?? 0, ...(opts.onRefused ? { onRefused: opts.onRefused } : {}) }, onEnd);
      current = s;
      return () => { if (current === s) current = null; s.cancel(); };
    });
    return {
      publish: async (values) => {
        const out: Record<string, WriteOutcome> = {};
        const typed = new Map<SignalMeta, SignalValue>();
        for (const [p, raw] of Object.entries(values)) {
          const m = metas.get(p);
          if (!m) { out[p] = { ok: false, code: 'NOT_FOUND', error: metas.has(p) ? unknownPath(p) : `${p}: not announced by this provider` }; continue; }
          try { typed.set(m, coerce(m, raw)); out[p] = { ok: true }; } catch (e) { out[p] = { ok: false, code: 'BAD_VALUE', error: `${p}: ${(e as Error).message}` }; }
        }
        const s = current as ProviderSession | null;
        if (!s) for (const m of typed.keys()) out[m.path] = { ok: false, code: 'UNAVAILABLE', error: `${m.path}: the databroker is not reachable` };
        else if (typed.size) s.publish(typed);
        return out;
      },
      dispose,
    };
  }
}

/** Prefixes the path unless the server's text already starts with it. */
function withPath(path: string, text: string): string { return text.startsWith(path) ? text : `${path}: ${text}`; }
