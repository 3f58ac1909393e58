// The agent as a provider on an external kuksa.val.v2 databroker (the mock provider's claims and values): one
// OpenProviderStream speaking databroker 0.6+'s protocol. It announces before it publishes — provide_actuation_request
// and provide_signal_request first, and no publish_values_request leaves before provide_signal_response has come
// (0.6+ ends the stream ABORTED otherwise; values published meanwhile wait, the newest per signal, at most one per
// signal) — answers batch_actuate_stream_request per signal, get_provider_value_request with the values it last
// published, and takes update_filter_request (the filters are kept; 0.7 wants an answer only for a filter error).
// A refusal of a published value (publish_values_response) is reported per path. The stream's owner (KuksaClient's
// durable streams) re-opens it, claims included, after a reconnect.
import type * as grpc from '@grpc/grpc-js';
import { fromWire, toWire, wireNow, type SignalValue } from './values';
import type { SignalMeta } from './vss';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export interface ProviderClaims {
  /** Actuators whose targets this provider takes (by path). */
  actuators?: SignalMeta[];
  onTarget?: (path: string, v: SignalValue) => void;
  /** Signals whose values this provider publishes, with the sample interval it publishes at. */
  signals?: SignalMeta[];
  intervalMs?: number;
  /** A published value the databroker refused. */
  onRefused?: (path: string, text: string) => void;
}

export class ProviderSession {
  private announced = false;
  private readonly waiting = new Map<number, Obj>();
  private readonly last = new Map<number, Obj>();
  private readonly byId = new Map<number, SignalMeta>();
  private seq = 0;
  /** The filters the databroker sent, per signal path (null: no subscriber asks for an interval). */
  readonly filters = new Map<string, number | null>();

  constructor(private readonly call: grpc.ClientDuplexStream<Obj, Obj>, private readonly claims: ProviderClaims) {
    for (const m of [...(claims.actuators ?? []), ...(claims.signals ?? [])]) this.byId.set(m.id, m);
    call.on('data', (r: Obj) => this.onMessage(r));
    if (claims.actuators?.length) call.write({ provide_actuation_request: { actuator_identifiers: claims.actuators.map((m) => ({ path: m.path })) } });
    if (claims.signals?.length) {
      const intervals: Obj = {};
      for (const m of claims.signals) intervals[m.id] = { interval_ms: claims.intervalMs ?? 0 };
      call.write({ provide_signal_request: { signals_sample_intervals: intervals } });
    }
  }

  /** Publishes current values of announced signals: now, or once the announcement has been answered. */
  publish(values: ReadonlyMap<SignalMeta, SignalValue>): void {
    for (const [m, v] of values) this.waiting.set(m.id, { timestamp: wireNow(), value: toWire(m.dataType, v) });
    if (this.announced) this.flush();
  }

  cancel(): void { this.call.cancel(); }

  private flush(): void {
    if (this.waiting.size === 0) return;
    const data_points: Obj = {};
    for (const [id, dp] of this.waiting) { data_points[id] = dp; this.last.set(id, dp); }
    this.waiting.clear();
    this.call.write({ publish_values_request: { request_id: (this.seq = (this.seq + 1) >>> 0), data_points } });
  }

  private onMessage(r: Obj): void {
    if (r.provide_signal_response) { this.announced = true; this.flush(); return; }
    if (r.batch_actuate_stream_request) {
      for (const a of (r.batch_actuate_stream_request.actuate_requests ?? []) as Obj[]) {
        const sid = a.signal_id ?? {};
        const path = typeof sid.path === 'string' ? sid.path : this.byId.get(Number(sid.id))?.path;
        const v = fromWire(a.value);
        if (path && v !== undefined) this.claims.onTarget?.(path, v);
        this.call.write({ batch_actuate_stream_response: { signal_id: sid, error: { code: path ? 'ERROR_CODE_OK' : 'ERROR_CODE_NOT_FOUND', message: path ? '' : 'not an actuator this provider claimed' } } });
      }
      return;
    }
    if (r.get_provider_value_request) {
      const q = r.get_provider_value_request;
      const entries: Obj = {};
      for (const id of (q.signal_ids ?? []) as number[]) entries[id] = this.last.get(Number(id)) ?? { timestamp: wireNow() };
      this.call.write({ get_provider_value_response: { request_id: q.request_id ?? 0, entries } });
      return;
    }
    if (r.update_filter_request) {
      for (const [id, f] of Object.entries((r.update_filter_request.filters_update ?? {}) as Obj)) {
        const m = this.byId.get(Number(id));
        if (m) this.filters.set(m.path, f?.min_sample_interval ? Number(f.min_sample_interval.interval_ms ?? 0) : null);
      }
      return;
    }
    if (r.publish_values_response) {
      for (const [id, e] of Object.entries((r.publish_values_response.status ?? {}) as Obj)) {
        const path = this.byId.get(Number(id))?.path ?? `signal id ${id}`;
        this.claims.onRefused?.(path, `${path}: ${e?.message || e?.code || 'refused'}`);
      }
    }
    // provide_actuation_response: the claim is in force; nothing to do.
  }
}
