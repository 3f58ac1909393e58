// kuksa.val.v1 served from the embedded store (databroker 0.4.x behaviour, shared/kuksa-wire.md). StreamedUpdate is
// left out and answers UNIMPLEMENTED.
import type * as grpc from '@grpc/grpc-js';
import { VERSION } from '../../version';
import { unknownPath, type WriteOutcome } from '../broker';
import type { Field } from '../embedded';
import { fail, S, type GrpcContext, type Obj } from './base';
import { checkEntries, chunks, expandBounded, ReplyBudget, Slicer } from './limits';
import { valueBytes } from './outbox';
import { DATA_TYPE_ENUM, ENTRY_TYPE_ENUM, fromWireChecked, toWire, wireNow, type SignalValue, type ValueError } from '../values';
import type { SignalMeta } from '../vss';

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
    // Each distinct pattern is expanded once and each signal answered once, with every field any entry naming it
    // asked for (databroker 0.4 repeats a signal per entry; 40 000 entries of `Vehicle` made 4.8 M of them).
    Get: ctx.unary((req: Obj, call) => ctx.work(call.getPeer(), async () => {
      const asked = (req.entries ?? []) as Obj[];
      checkEntries(asked.length, 'entries');
      // What each distinct pattern asks for, all its entries together.
      const byPattern = new Map<string, Want>();
      for (const r of asked) {
        const view = (r.view as string) ?? 'VIEW_UNSPECIFIED';
        const fields = (r.fields ?? []) as string[];
        const want = (f: string, views: string[]) => fields.includes(f) || views.includes(view) || view === 'VIEW_ALL';
        const w: Want = {
          value: want('FIELD_VALUE', ['VIEW_UNSPECIFIED', 'VIEW_CURRENT_VALUE']),
          target: want('FIELD_ACTUATOR_TARGET', ['VIEW_TARGET_VALUE']),
          metadata: want('FIELD_METADATA', ['VIEW_METADATA']) || fields.some((f) => f.startsWith('FIELD_METADATA')),
        };
        merge(byPattern, String(r.path ?? ''), w);
      }
      const expanded = await expandBounded(store, [...byPattern.keys()]);
      const wanted = new Map<string, Want>();
      const errors: Obj[] = [];
      const slicer = new Slicer();
      for (const [pattern, w] of byPattern) {
        const paths = expanded.get(pattern);
        if (!paths) { errors.push(err404(pattern)); continue; }
        for (const p of paths) { if (slicer.due()) await slicer.pause(); merge(wanted, p, w); }
      }
      const budget = new ReplyBudget();
      const entries: Obj[] = [];
      for (const [p, w] of wanted) {
        if (slicer.due()) await slicer.pause();
        const e = store.get(p);
        if (!e) continue;
        const de: Obj = { path: p };
        let bytes = p.length + 8;
        if (w.value) { de.value = datapoint(e.value, e.meta, e.ts); bytes += 24 + valueBytes(e.value); }
        if (w.target && e.meta.entryType === 'actuator') { de.actuator_target = datapoint(e.target, e.meta, e.ts); bytes += 24 + valueBytes(e.target); }
        if (w.metadata) { de.metadata = metadata(e.meta); bytes += 48 + (e.meta.description?.length ?? 0) + valueBytes(e.meta.allowed ?? 0); }
        budget.add(bytes);
        entries.push(de);
      }
      return errors.length ? { entries, errors, error: { code: 404, reason: 'not_found', message: errors.map((x) => x.error.message).join('; ') } } : { entries };
    })),
    Set: ctx.unary((req: Obj) => {
      const errors: Obj[] = [];
      const given = (req.updates ?? []) as Obj[];
      checkEntries(given.length, 'updates');
      for (const u of given) {
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
    Subscribe: ctx.stream(async (call: grpc.ServerWritableStream<Obj, Obj>, scope) => {
      const want: Record<Part, Set<string>> = { value: new Set(), target: new Set(), metadata: new Set() };
      const entries = (call.request.entries ?? []) as Obj[];
      if (entries.length === 0) throw fail(S.INVALID_ARGUMENT, 'entries: at least one path');
      checkEntries(entries.length, 'entries');
      const expanded = await ctx.work(scope.peer, () => expandBounded(store, entries.map((r) => String(r.path ?? ''))));
      for (const r of entries) {
        const paths = expanded.get(String(r.path ?? ''));
        if (!paths) throw fail(S.NOT_FOUND, unknownPath(String(r.path)));
        const parts = partsOf((r.view as string) ?? 'VIEW_UNSPECIFIED', (r.fields ?? []) as string[]);
        if (parts.size === 0) throw fail(S.INVALID_ARGUMENT, `${String(r.path)}: fields ${JSON.stringify(r.fields)} name nothing to subscribe (FIELD_VALUE, FIELD_ACTUATOR_TARGET or FIELD_METADATA)`);
        for (const part of parts) for (const p of paths) want[part].add(p);
      }
      scope.hold(want.value.size + want.target.size + want.metadata.size);
      // Held updates are keyed `<part>:<path>`; while the client does not read, the newest of each wins.
      const out = scope.outbox<SignalValue | null>(call, {
        build: (held) => {
          const u: Obj[] = [];
          for (const [k, v] of held) {
            const at = k.indexOf(':');
            const x = update(k.slice(at + 1), k.slice(0, at) as Part, k.startsWith('metadata:') ? undefined : v);
            if (x) u.push(x);
          }
          return u.length ? { updates: u } : null;
        },
        sizeOf: (k, v) => k.length + 32 + valueBytes(v),
      });
      const disposers: Array<() => void> = [];
      for (const field of ['value', 'target'] as const) {
        if (want[field].size) disposers.push(store.listen([...want[field]], field, (u) => out.offer(prefixed(field, u))));
      }
      // metadata changes only with the model: a swap sends the new metadata of the paths that are still there
      if (want.metadata.size) disposers.push(store.onSwap(() => out.offer(new Map([...want.metadata].filter((p) => store.get(p)).map((p) => [`metadata:${p}`, null])))));
      const first = [...updates(want.value, 'value'), ...updates(want.target, 'target'), ...updates(want.metadata, 'metadata')];
      for (const part of chunks(first)) out.reply({ updates: part }, part.length * 64);
      return () => { for (const d of disposers.splice(0)) d(); };
    }),
  };
}

/** The fields a Get asks for, per pattern or per signal. */
interface Want { value: boolean; target: boolean; metadata: boolean }

function merge(into: Map<string, Want>, key: string, w: Want): void {
  const had = into.get(key);
  if (!had) into.set(key, { ...w });
  else { had.value ||= w.value; had.target ||= w.target; had.metadata ||= w.metadata; }
}

/** A store update's paths keyed for the outbox: `<field>:<path>`. */
function prefixed(field: Field, u: ReadonlyMap<string, SignalValue | null>): Map<string, SignalValue | null> {
  const m = new Map<string, SignalValue | null>();
  for (const [p, v] of u) m.set(`${field}:${p}`, v);
  return m;
}
