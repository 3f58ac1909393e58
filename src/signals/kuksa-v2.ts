// kuksa.val.v2 client (databroker 0.5 and later): GetValues, Subscribe, PublishValue for sensors and attributes,
// Actuate for actuators, ListMetadata for wildcards and the metadata cache, OpenProviderStream for the mock provider.
import * as grpc from '@grpc/grpc-js';
import type { SignalUpdate, WriteOutcome } from './broker';
import { KuksaClient, type ClientOptions, type Obj } from './kuksa-client';
import { grpcText } from './failure';
import { DATA_TYPE_FROM_ENUM, ENTRY_TYPE_FROM_ENUM, fromWire, toWire, wireNow, type SignalValue } from './values';
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

  protected openProvider(paths: string[], onTarget: (p: string, v: SignalValue) => void, onEnd: (e: Error) => void): () => void {
    const call = (this.client as unknown as { OpenProviderStream(md: grpc.Metadata): grpc.ClientDuplexStream<Obj, Obj> }).OpenProviderStream(this.callMeta());
    let cancelled = false;
    call.on('data', (r: Obj) => {
      const reqs = (r.batch_actuate_stream_request?.actuate_requests ?? []) as Obj[];
      for (const a of reqs) {
        const path = a.signal_id?.path ?? [...this.meta.values()].find((m) => m.id === a.signal_id?.id)?.path;
        const v = fromWire(a.value);
        if (path && v !== undefined) onTarget(path, v);
        if (a.signal_id) call.write({ batch_actuate_stream_response: { signal_id: a.signal_id, error: { code: 'ERROR_CODE_OK', message: '' } } });
      }
    });
    call.on('error', (e: grpc.ServiceError) => { if (!cancelled) onEnd(e); });
    call.on('end', () => { if (!cancelled) onEnd(new Error('provider stream ended by the server')); });
    call.write({ provide_actuation_request: { actuator_identifiers: paths.map((path) => ({ path })) } });
    return () => { cancelled = true; call.cancel(); };
  }
}

/** Prefixes the path unless the server's text already starts with it. */
function withPath(path: string, text: string): string { return text.startsWith(path) ? text : `${path}: ${text}`; }
