// kuksa.val.v1 client (databroker 0.4.x, today's sdv-runtime image): Get, Set with FIELD_VALUE for sensors and
// attributes and FIELD_ACTUATOR_TARGET for actuators, Subscribe for values; the mock provider subscribes to targets.
import * as grpc from '@grpc/grpc-js';
import type { SignalUpdate, WriteOutcome } from './broker';
import { KuksaClient, type ClientOptions, type Obj } from './kuksa-client';
import { SignalError } from '../core/errors';
import { DATA_TYPE_FROM_ENUM, ENTRY_TYPE_FROM_ENUM, fromWire, toWire, wireNow, ValueError, type SignalValue } from './values';
import type { SignalMeta } from './vss';

export class KuksaV1Client extends KuksaClient {
  readonly kind = 'kuksa-v1';

  constructor(opts: ClientOptions) { super(opts, 'v1'); }

  private static errorText(r: Obj): string | null {
    const errs = (r.errors ?? []) as Obj[];
    if (errs.length) return errs.map((e) => e.error?.message || `${e.path}: error ${e.error?.code}`).join('; ');
    if (r.error && r.error.code && r.error.code !== 200) return r.error.message || `error ${r.error.code}`;
    return null;
  }

  protected async rawList(pattern: string): Promise<SignalMeta[]> {
    const r = await this.unary<Obj>(this.client, 'Get', { entries: [{ path: pattern, view: 'VIEW_METADATA', fields: ['FIELD_METADATA'] }] });
    const errText = KuksaV1Client.errorText(r);
    if (errText && !(r.entries ?? []).length) throw new SignalError('not-found', errText);
    return ((r.entries ?? []) as Obj[]).map((e) => {
      const m = (e.metadata ?? {}) as Obj;
      const vr = m.value_restriction ?? {};
      const r2 = vr.signed ?? vr.unsigned ?? vr.floating_point ?? vr.string ?? {};
      const allowed = (r2.allowed_values ?? []) as unknown[];
      return {
        path: e.path, id: 0, entryType: ENTRY_TYPE_FROM_ENUM[m.entry_type] ?? 'sensor', dataType: DATA_TYPE_FROM_ENUM[m.data_type] ?? 'string',
        ...(m.unit ? { unit: m.unit } : {}), ...(m.description ? { description: m.description } : {}),
        ...(r2.min !== undefined && r2.min !== null ? { min: Number(r2.min) } : {}), ...(r2.max !== undefined && r2.max !== null ? { max: Number(r2.max) } : {}),
        ...(allowed.length ? { allowed: allowed.map((a) => (vr.string ? String(a) : Number(a))) } : {}),
      } as SignalMeta;
    });
  }

  protected async rawGet(paths: string[]): Promise<Record<string, SignalValue | null>> {
    const r = await this.unary<Obj>(this.client, 'Get', { entries: paths.map((path) => ({ path, view: 'VIEW_CURRENT_VALUE', fields: ['FIELD_VALUE'] })) });
    const errText = KuksaV1Client.errorText(r);
    if (errText) throw new ValueError(errText);
    const out: Record<string, SignalValue | null> = {};
    for (const e of (r.entries ?? []) as Obj[]) out[e.path] = fromWire(e.value) ?? null;
    return out;
  }

  protected async rawWrite(items: Array<{ meta: SignalMeta; value: SignalValue; target: boolean }>): Promise<Record<string, WriteOutcome>> {
    const updates = items.map((it) => {
      const dp = { timestamp: wireNow(), ...toWire(it.meta.dataType, it.value) };
      return it.target
        ? { entry: { path: it.meta.path, actuator_target: dp }, fields: ['FIELD_ACTUATOR_TARGET'] }
        : { entry: { path: it.meta.path, value: dp }, fields: ['FIELD_VALUE'] };
    });
    const r = await this.unary<Obj>(this.client, 'Set', { updates });
    const out: Record<string, WriteOutcome> = {};
    for (const e of (r.errors ?? []) as Obj[]) {
      out[e.path] = { ok: false, code: e.error?.code === 404 ? 'NOT_FOUND' : 'REFUSED', error: e.error?.message || `${e.path}: refused (${e.error?.code})` };
    }
    if (!(r.errors ?? []).length && r.error?.code && r.error.code !== 200) {
      for (const it of items) out[it.meta.path] = { ok: false, code: 'REFUSED', error: `${it.meta.path}: ${r.error.message || r.error.code}` };
    }
    return out;
  }

  private stream(entries: Obj[], onUpdates: (updates: Obj[]) => void, onEnd: (e: Error) => void): () => void {
    const call = (this.client as unknown as { Subscribe(req: Obj, md: grpc.Metadata): grpc.ClientReadableStream<Obj> }).Subscribe({ entries }, this.callMeta());
    let cancelled = false;
    call.on('data', (r: Obj) => onUpdates((r.updates ?? []) as Obj[]));
    call.on('error', (e: grpc.ServiceError) => { if (!cancelled) onEnd(e); });
    call.on('end', () => { if (!cancelled) onEnd(new Error('subscription ended by the server')); });
    return () => { cancelled = true; call.cancel(); };
  }

  protected openSubscribe(paths: string[], onUpdate: (u: SignalUpdate) => void, onEnd: (e: Error) => void): () => void {
    return this.stream(paths.map((path) => ({ path, view: 'VIEW_CURRENT_VALUE', fields: ['FIELD_VALUE'] })), (updates) => {
      const u: SignalUpdate = new Map();
      for (const up of updates) if (up.entry?.path) u.set(up.entry.path, fromWire(up.entry.value) ?? null);
      if (u.size) onUpdate(u);
    }, onEnd);
  }

  /** v1 has no provider stream: the provider subscribes to actuator targets (the first response is the snapshot). */
  protected openProvider(paths: string[], onTarget: (p: string, v: SignalValue) => void, onEnd: (e: Error) => void): () => void {
    let first = true;
    return this.stream(paths.map((path) => ({ path, view: 'VIEW_TARGET_VALUE', fields: ['FIELD_ACTUATOR_TARGET'] })), (updates) => {
      if (first) { first = false; return; }
      for (const up of updates) {
        const v = fromWire(up.entry?.actuator_target);
        if (up.entry?.path && v !== undefined) onTarget(up.entry.path, v);
      }
    }, onEnd);
  }
}
