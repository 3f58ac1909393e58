// kuksa.val.v1 served from the embedded store (databroker 0.4.x behaviour, shared/kuksa-wire.md). StreamedUpdate is
// left out and answers UNIMPLEMENTED.
import type * as grpc from '@grpc/grpc-js';
import { VERSION } from '../version';
import { unknownPath, type WriteOutcome } from './broker';
import type { Field } from './embedded';
import { fail, S, type GrpcContext, type Obj } from './grpc-base';
import { DATA_TYPE_ENUM, ENTRY_TYPE_ENUM, fromWireChecked, toWire, wireNow, type SignalValue, type ValueError } from './values';
import type { SignalMeta } from './vss';

function metadata(m: SignalMeta): Obj {
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

function datapoint(v: SignalValue | null, meta: SignalMeta, ts: number): Obj {
  return v === null ? { timestamp: wireNow(ts) } : { timestamp: wireNow(ts), ...toWire(meta.dataType, v) };
}

type Part = Field | 'metadata';

/**
 * What one SubscribeEntry asks for. Databroker 0.4 reads only `fields`; kuksa-client also sets the matching `view`
 * (VIEW_METADATA with FIELD_METADATA for a metadata subscription), so both count. Nothing named → current values.
 */
function partsOf(view: string, fields: string[]): Set<Part> {
  const parts = new Set<Part>();
  if (view === 'VIEW_CURRENT_VALUE' || view === 'VIEW_ALL') parts.add('value');
  if (view === 'VIEW_TARGET_VALUE' || view === 'VIEW_ALL') parts.add('target');
  if (view === 'VIEW_METADATA' || view === 'VIEW_ALL') parts.add('metadata');
  for (const f of fields) {
    if (f === 'FIELD_VALUE') parts.add('value');
    else if (f === 'FIELD_ACTUATOR_TARGET') parts.add('target');
    else if (f.startsWith('FIELD_METADATA')) parts.add('metadata');
  }
  if (parts.size === 0 && fields.length === 0) parts.add('value');
  return parts;
}

export function valV1(ctx: GrpcContext): grpc.UntypedServiceImplementation {
  const store = ctx.store;
  const err404 = (path: string) => ({ path, error: { code: 404, reason: 'not_found', message: unknownPath(path) } });
  const update = (p: string, part: Part, v?: SignalValue | null): Obj | null => {
    const e = store.get(p);
    if (!e) return null;
    if (part === 'metadata') return { entry: { path: p, metadata: metadata(e.meta) }, fields: ['FIELD_METADATA'] };
    return part === 'value'
      ? { entry: { path: p, value: datapoint(v === undefined ? e.value : v, e.meta, e.ts) }, fields: ['FIELD_VALUE'] }
      : { entry: { path: p, actuator_target: datapoint(v === undefined ? e.target : v, e.meta, e.ts) }, fields: ['FIELD_ACTUATOR_TARGET'] };
  };
  const updates = (paths: Iterable<string>, part: Part, values?: Map<string, SignalValue | null>): Obj[] => {
    const out: Obj[] = [];
    for (const p of paths) { const u = update(p, part, values?.get(p)); if (u) out.push(u); }
    return out;
  };
  return {
    GetServerInfo: ctx.unary(() => ({ name: 'sdv-agent-databroker', version: VERSION })),
    Get: ctx.unary((req: Obj) => {
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
          if (want('FIELD_VALUE', ['VIEW_UNSPECIFIED', 'VIEW_CURRENT_VALUE'])) de.value = datapoint(e.value, e.meta, e.ts);
          if (want('FIELD_ACTUATOR_TARGET', ['VIEW_TARGET_VALUE']) && e.meta.entryType === 'actuator') de.actuator_target = datapoint(e.target, e.meta, e.ts);
          if (want('FIELD_METADATA', ['VIEW_METADATA']) || fields.some((f) => f.startsWith('FIELD_METADATA'))) de.metadata = metadata(e.meta);
          entries.push(de);
        }
      }
      return errors.length ? { entries, errors, error: { code: 404, reason: 'not_found', message: errors.map((x) => x.error.message).join('; ') } } : { entries };
    }),
    Set: ctx.unary((req: Obj) => {
      const errors: Obj[] = [];
      for (const u of (req.updates ?? []) as Obj[]) {
        const path = String(u.entry?.path ?? '');
        const meta = store.meta(path);
        if (!meta) { errors.push(err404(path)); continue; }
        for (const f of (u.fields ?? []) as string[]) {
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
    Subscribe: ctx.stream((call: grpc.ServerWritableStream<Obj, Obj>) => {
      const want: Record<Part, Set<string>> = { value: new Set(), target: new Set(), metadata: new Set() };
      const entries = (call.request.entries ?? []) as Obj[];
      if (entries.length === 0) throw fail(S.INVALID_ARGUMENT, 'entries: at least one path');
      for (const r of entries) {
        const paths = store.expand(String(r.path ?? ''));
        if (!paths) throw fail(S.NOT_FOUND, unknownPath(String(r.path)));
        const parts = partsOf((r.view as string) ?? 'VIEW_UNSPECIFIED', (r.fields ?? []) as string[]);
        if (parts.size === 0) throw fail(S.INVALID_ARGUMENT, `${String(r.path)}: fields ${JSON.stringify(r.fields)} name nothing to subscribe (FIELD_VALUE, FIELD_ACTUATOR_TARGET or FIELD_METADATA)`);
        for (const part of parts) for (const p of paths) want[part].add(p);
      }
      const disposers: Array<() => void> = [];
      for (const field of ['value', 'target'] as const) {
        if (want[field].size) disposers.push(store.listen([...want[field]], field, (u) => call.write({ updates: updates(u.keys(), field, u) })));
      }
      // metadata changes only with the model: a swap sends the new metadata of the paths that are still there
      if (want.metadata.size) disposers.push(store.onSwap(() => { const u = updates(want.metadata, 'metadata'); if (u.length) call.write({ updates: u }); }));
      call.write({ updates: [...updates(want.value, 'value'), ...updates(want.target, 'target'), ...updates(want.metadata, 'metadata')] });
      return () => { for (const d of disposers.splice(0)) d(); };
    }),
  };
}
