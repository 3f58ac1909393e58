// kuksa.val.v2 and kuksa.val.v1 served from the embedded store on kuksa.address, so Velocitas and kuksa-client apps
// connect to the box as to a real databroker. Covers the rpcs the agent's own clients use; the rest answer
// UNIMPLEMENTED (grpc-js does that for handlers left out). Behaviour follows shared/kuksa-wire.md.
import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../log';
import { VERSION } from '../version';
import { unknownPath, type WriteOutcome } from './broker';
import type { SignalStore } from './embedded';
import { kuksaServices } from './protos';
import { DATA_TYPE_ENUM, ENTRY_TYPE_ENUM, fromWireChecked, toWire, ValueError, wireNow, type SignalValue } from './values';
import type { ScalarType, SignalMeta, VssDataType } from './vss';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const S = grpc.status;

/** Streams per server: each holds store listeners; past the bound a new stream is refused RESOURCE_EXHAUSTED. */
export const MAX_STREAMS = 1024;

function fail(code: grpc.status, details: string): grpc.ServiceError {
  return Object.assign(new Error(details), { code, details, metadata: new grpc.Metadata() }) as grpc.ServiceError;
}

function outcomeStatus(o: Exclude<WriteOutcome, { ok: true }>): grpc.status {
  return o.code === 'NOT_FOUND' ? S.NOT_FOUND : o.code === 'UNAVAILABLE' ? S.UNAVAILABLE : S.INVALID_ARGUMENT;
}

function datapointV2(v: SignalValue | null, meta: SignalMeta, ts: number): Obj {
  return v === null ? { timestamp: wireNow(ts) } : { timestamp: wireNow(ts), value: toWire(meta.dataType, v) };
}

function metadataV2(m: SignalMeta): Obj {
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

function metadataV1(m: SignalMeta): Obj {
  const scalar = m.dataType.endsWith('[]') ? m.dataType.slice(0, -2) : m.dataType;
  const md: Obj = { data_type: DATA_TYPE_ENUM[m.dataType], entry_type: ENTRY_TYPE_ENUM[m.entryType], description: m.description ?? '' };
  if (m.unit) md.unit = m.unit;
  md[m.entryType] = {};
  const r: Obj = {};
  if (m.min !== undefined) r.min = m.min;
  if (m.max !== undefined) r.max = m.max;
  if (m.allowed?.length) r.allowed_values = m.allowed;
  if (Object.keys(r).length) {
    if (scalar === 'string') md.value_restriction = { string: { allowed_values: m.allowed ?? [] } };
    else if (scalar.startsWith('int')) md.value_restriction = { signed: map64(r) };
    else if (scalar.startsWith('uint')) md.value_restriction = { unsigned: map64(r) };
    else if (scalar === 'float' || scalar === 'double') md.value_restriction = { floating_point: r };
  }
  return md;
}
const map64 = (r: Obj): Obj => ({
  ...(r.min !== undefined ? { min: String(r.min) } : {}), ...(r.max !== undefined ? { max: String(r.max) } : {}),
  ...(r.allowed_values ? { allowed_values: (r.allowed_values as unknown[]).map(String) } : {}),
});

function datapointV1(v: SignalValue | null, meta: SignalMeta, ts: number): Obj {
  return v === null ? { timestamp: wireNow(ts) } : { timestamp: wireNow(ts), ...toWire(meta.dataType, v) };
}

export class KuksaGrpcServer {
  private server: grpc.Server | null = null;
  private streams = new Set<() => void>();
  port = 0;

  constructor(private readonly store: SignalStore, private readonly opts: { address: string; token: string; log: Logger }) {}

  private authorized(md: grpc.Metadata): boolean {
    if (!this.opts.token) return true;
    const got = md.get('authorization')[0];
    return typeof got === 'string' && got === `Bearer ${this.opts.token}`;
  }

  private unary<Req, Res>(fn: (req: Req) => Res): grpc.handleUnaryCall<Req, Res> {
    return (call, cb) => {
      if (!this.authorized(call.metadata)) return cb(fail(S.UNAUTHENTICATED, 'authorization: a valid "Bearer <token>" is required'));
      try { cb(null, fn(call.request)); } catch (e) {
        cb((e as grpc.ServiceError).code !== undefined ? (e as grpc.ServiceError) : fail(S.INTERNAL, (e as Error).message));
      }
    };
  }

  private trackStream(dispose: () => void): boolean {
    if (this.streams.size >= MAX_STREAMS) return false;
    this.streams.add(dispose);
    return true;
  }

  private pathOf(sid: Obj | undefined): string {
    if (!sid) throw fail(S.INVALID_ARGUMENT, 'signal_id: required');
    if (typeof sid.path === 'string') {
      if (!this.store.meta(sid.path)) throw fail(S.NOT_FOUND, unknownPath(sid.path));
      return sid.path;
    }
    if (typeof sid.id === 'number') {
      const m = this.store.vss.all().find((x) => x.id === sid.id);
      if (!m) throw fail(S.NOT_FOUND, `signal id ${sid.id}: no such signal`);
      return m.path;
    }
    throw fail(S.INVALID_ARGUMENT, 'signal_id: give a path or an id');
  }

  private v2(): grpc.UntypedServiceImplementation {
    const store = this.store;
    const getDp = (path: string): Obj => { const e = store.get(path)!; return datapointV2(e.value, e.meta, e.ts); };
    const actuate = (r: Obj): void => {
      const path = this.pathOf(r.signal_id);
      let v: SignalValue;
      try { v = fromWireChecked(store.meta(path)!, r.value); } catch (e) { throw fail(S.INVALID_ARGUMENT, `${path}: ${(e as Error).message}`); }
      const o = store.setTarget(path, v, true);
      if (!o.ok) throw fail(outcomeStatus(o), o.error);
    };
    return {
      GetServerInfo: this.unary(() => ({ name: 'sdv-agent-databroker', version: VERSION, commit_hash: '' })),
      GetValue: this.unary((req: Obj) => ({ data_point: getDp(this.pathOf(req.signal_id)) })),
      GetValues: this.unary((req: Obj) => ({ data_points: ((req.signal_ids ?? []) as Obj[]).map((s) => getDp(this.pathOf(s))) })),
      ListMetadata: this.unary((req: Obj) => {
        const root = (req.root as string) || '**';
        const paths = root === '**' || root === '*' ? store.vss.all().map((m) => m.path) : store.expand(root);
        if (!paths) throw fail(S.NOT_FOUND, `${root}: matches no signal`);
        return { metadata: paths.map((p) => metadataV2(store.meta(p)!)) };
      }),
      PublishValue: this.unary((req: Obj) => {
        const path = this.pathOf(req.signal_id);
        let v: SignalValue;
        try { v = fromWireChecked(store.meta(path)!, req.data_point?.value); } catch (e) { throw fail(S.INVALID_ARGUMENT, `${path}: ${(e as Error).message}`); }
        const o = store.setValue(path, v);
        if (!o.ok) throw fail(outcomeStatus(o), o.error);
        return {};
      }),
      Actuate: this.unary((req: Obj) => { actuate(req); return {}; }),
      BatchActuate: this.unary((req: Obj) => {
        const reqs = (req.actuate_requests ?? []) as Obj[];
        for (const r of reqs) { const p = this.pathOf(r.signal_id); if (!store.hasProvider(p)) throw fail(S.UNAVAILABLE, `${p}: no provider serves this actuator`); }
        for (const r of reqs) actuate(r);
        return {};
      }),
      Subscribe: (call: grpc.ServerWritableStream<Obj, Obj>) => {
        if (!this.authorized(call.metadata)) return call.destroy(fail(S.UNAUTHENTICATED, 'authorization: a valid "Bearer <token>" is required'));
        const paths = (call.request.signal_paths ?? []) as string[];
        const missing = paths.find((p) => !store.meta(p));
        if (missing !== undefined) return call.destroy(fail(S.NOT_FOUND, unknownPath(missing)));
        if (paths.length === 0) return call.destroy(fail(S.INVALID_ARGUMENT, 'signal_paths: at least one path'));
        const dispose = store.listen(paths, 'value', (u) => {
          const entries: Obj = {};
          for (const [p, v] of u) { const e = store.get(p); if (e) entries[p] = datapointV2(v, e.meta, e.ts); }
          call.write({ entries });
        });
        if (!this.trackStream(dispose)) { dispose(); return call.destroy(fail(S.RESOURCE_EXHAUSTED, `more than ${MAX_STREAMS} streams`)); }
        const entries: Obj = {};
        for (const p of paths) entries[p] = getDp(p);
        call.write({ entries });
        call.on('cancelled', () => { dispose(); this.streams.delete(dispose); });
        call.on('close', () => { dispose(); this.streams.delete(dispose); });
      },
      OpenProviderStream: (call: grpc.ServerDuplexStream<Obj, Obj>) => {
        if (!this.authorized(call.metadata)) return call.destroy(fail(S.UNAUTHENTICATED, 'authorization: a valid "Bearer <token>" is required'));
        const disposers: Array<() => void> = [];
        const dispose = () => { for (const d of disposers.splice(0)) d(); };
        if (!this.trackStream(dispose)) return call.destroy(fail(S.RESOURCE_EXHAUSTED, `more than ${MAX_STREAMS} streams`));
        const end = () => { dispose(); this.streams.delete(dispose); };
        call.on('data', (msg: Obj) => {
          try {
            if (msg.provide_actuation_request) {
              const paths = ((msg.provide_actuation_request.actuator_identifiers ?? []) as Obj[]).map((s) => this.pathOf(s));
              disposers.push(store.provide(paths, (path, v) => {
                call.write({ batch_actuate_stream_request: { actuate_requests: [{ signal_id: { path }, value: toWire(store.meta(path)!.dataType, v) }] } });
              }));
              call.write({ provide_actuation_response: {} });
            } else if (msg.publish_values_request) {
              const status: Obj = {};
              const byId = new Map(store.vss.all().map((m) => [m.id, m]));
              for (const [id, dp] of Object.entries((msg.publish_values_request.data_points ?? {}) as Obj)) {
                const m = byId.get(Number(id));
                if (!m) { status[id] = { code: 'ERROR_CODE_NOT_FOUND', message: `signal id ${id}: no such signal` }; continue; }
                try {
                  const o = store.setValue(m.path, fromWireChecked(m, dp.value));
                  if (!o.ok) status[id] = { code: 'ERROR_CODE_INVALID_ARGUMENT', message: o.error };
                } catch (e) { status[id] = { code: 'ERROR_CODE_INVALID_ARGUMENT', message: (e as Error).message }; }
              }
              call.write({ publish_values_response: { request_id: msg.publish_values_request.request_id ?? 0, status } });
            }
            // batch_actuate_stream_response: acknowledgements; nothing to do.
          } catch (e) {
            end();
            call.destroy((e as grpc.ServiceError).code !== undefined ? (e as grpc.ServiceError) : fail(S.INTERNAL, (e as Error).message));
          }
        });
        call.on('end', () => { end(); call.end(); });
        call.on('cancelled', end);
        call.on('close', end);
      },
    };
  }

  private v1(): grpc.UntypedServiceImplementation {
    const store = this.store;
    const err404 = (path: string) => ({ path, error: { code: 404, reason: 'not_found', message: unknownPath(path) } });
    return {
      GetServerInfo: this.unary(() => ({ name: 'sdv-agent-databroker', version: VERSION })),
      Get: this.unary((req: Obj) => {
        const entries: Obj[] = [];
        const errors: Obj[] = [];
        for (const r of (req.entries ?? []) as Obj[]) {
          const paths = store.expand(String(r.path ?? ''));
          if (!paths) { errors.push(err404(String(r.path))); continue; }
          const view = (r.view as string) ?? 'VIEW_UNSPECIFIED';
          const fields = (r.fields ?? []) as string[];
          const want = (f: string, views: string[]) => fields.includes(f) || views.includes(view) || view === 'VIEW_ALL';
          for (const p of paths) {
            const e = store.get(p)!;
            const de: Obj = { path: p };
            if (want('FIELD_VALUE', ['VIEW_UNSPECIFIED', 'VIEW_CURRENT_VALUE'])) de.value = datapointV1(e.value, e.meta, e.ts);
            if (want('FIELD_ACTUATOR_TARGET', ['VIEW_TARGET_VALUE']) && e.meta.entryType === 'actuator') de.actuator_target = datapointV1(e.target, e.meta, e.ts);
            if (want('FIELD_METADATA', ['VIEW_METADATA']) || fields.some((f) => f.startsWith('FIELD_METADATA'))) de.metadata = metadataV1(e.meta);
            entries.push(de);
          }
        }
        return errors.length ? { entries, errors, error: { code: 404, reason: 'not_found', message: errors.map((x) => x.error.message).join('; ') } } : { entries };
      }),
      Set: this.unary((req: Obj) => {
        const errors: Obj[] = [];
        for (const u of (req.updates ?? []) as Obj[]) {
          const path = String(u.entry?.path ?? '');
          const meta = store.meta(path);
          if (!meta) { errors.push(err404(path)); continue; }
          const fields = (u.fields ?? []) as string[];
          for (const f of fields) {
            const target = f === 'FIELD_ACTUATOR_TARGET';
            if (f !== 'FIELD_VALUE' && !target) continue;
            let o: WriteOutcome;
            try {
              const v = fromWireChecked(meta, target ? u.entry.actuator_target : u.entry.value);
              o = target ? store.setTarget(path, v, false) : store.setValue(path, v);
            } catch (e) { o = { ok: false, code: 'BAD_VALUE', error: `${path}: ${(e as ValueError).message}` }; }
            if (!o.ok) errors.push({ path, error: { code: o.code === 'NOT_FOUND' ? 404 : 400, reason: o.code === 'NOT_FOUND' ? 'not_found' : 'invalid_value', message: o.error } });
          }
        }
        return errors.length ? { errors, error: { code: 400, reason: 'bad_request', message: errors.map((x) => x.error.message).join('; ') } } : {};
      }),
      Subscribe: (call: grpc.ServerWritableStream<Obj, Obj>) => {
        if (!this.authorized(call.metadata)) return call.destroy(fail(S.UNAUTHENTICATED, 'authorization: a valid "Bearer <token>" is required'));
        const byField: Record<'value' | 'target', string[]> = { value: [], target: [] };
        for (const r of (call.request.entries ?? []) as Obj[]) {
          const paths = store.expand(String(r.path ?? ''));
          if (!paths) return call.destroy(fail(S.NOT_FOUND, unknownPath(String(r.path))));
          const fields = (r.fields ?? []) as string[];
          if (fields.includes('FIELD_ACTUATOR_TARGET')) byField.target.push(...paths);
          if (fields.includes('FIELD_VALUE') || fields.length === 0) byField.value.push(...paths);
        }
        if (!byField.value.length && !byField.target.length) return call.destroy(fail(S.INVALID_ARGUMENT, 'entries: at least one path'));
        const disposers: Array<() => void> = [];
        const dispose = () => { for (const d of disposers.splice(0)) d(); };
        if (!this.trackStream(dispose)) return call.destroy(fail(S.RESOURCE_EXHAUSTED, `more than ${MAX_STREAMS} streams`));
        const toUpdates = (u: Map<string, SignalValue | null>, field: 'value' | 'target'): Obj[] => {
          const out: Obj[] = [];
          for (const [p, v] of u) {
            const e = store.get(p);
            if (!e) continue;
            out.push(field === 'value'
              ? { entry: { path: p, value: datapointV1(v, e.meta, e.ts) }, fields: ['FIELD_VALUE'] }
              : { entry: { path: p, actuator_target: datapointV1(v, e.meta, e.ts) }, fields: ['FIELD_ACTUATOR_TARGET'] });
          }
          return out;
        };
        for (const field of ['value', 'target'] as const) {
          const paths = [...new Set(byField[field])];
          if (!paths.length) continue;
          disposers.push(store.listen(paths, field, (u) => call.write({ updates: toUpdates(u, field) })));
        }
        const initial: Obj[] = [
          ...toUpdates(new Map([...new Set(byField.value)].map((p) => [p, store.get(p)!.value])), 'value'),
          ...toUpdates(new Map([...new Set(byField.target)].map((p) => [p, store.get(p)!.target])), 'target'),
        ];
        call.write({ updates: initial });
        const end = () => { dispose(); this.streams.delete(dispose); };
        call.on('cancelled', end);
        call.on('close', end);
      },
    };
  }

  async start(): Promise<number> {
    const { v1, v2 } = kuksaServices();
    const server = new grpc.Server();
    server.addService(v2.service, this.v2());
    server.addService(v1.service, this.v1());
    this.port = await new Promise<number>((resolve, reject) => {
      server.bindAsync(this.opts.address, grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port)));
    });
    this.server = server;
    this.opts.log.info({ address: this.opts.address, port: this.port }, 'kuksa.val v1+v2 server listening');
    return this.port;
  }

  async stop(): Promise<void> {
    for (const d of this.streams) d();
    this.streams.clear();
    const server = this.server;
    this.server = null;
    if (!server) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => { server.forceShutdown(); resolve(); }, 2000);
      server.tryShutdown(() => { clearTimeout(t); resolve(); });
    });
  }
}
