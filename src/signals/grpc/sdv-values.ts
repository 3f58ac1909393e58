// Values and metadata on the sdv.databroker.v1 wire (the Velocitas SDK's API). Its Datapoint carries the same oneof
// numbers as kuksa.val with other names (`int32_value` for `int32`; arrays keep their names) and a `failure_value`;
// its DataType and EntryType enums are numbered differently (the loader maps names, so only names appear here).
import { coerce, toWire, ValueError, wireField, wireNow, type SignalValue } from '../values';
import type { EntryKind, ScalarType, SignalMeta, VssDataType } from '../vss';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Why a value was refused, as sdv.databroker.v1 DatapointError names it. */
export type SdvRefusal = 'UNKNOWN_DATAPOINT' | 'INVALID_TYPE' | 'ACCESS_DENIED' | 'INTERNAL_ERROR' | 'OUT_OF_BOUNDS';

const VALUE_FIELDS = ['string_value', 'bool_value', 'int32_value', 'int64_value', 'uint32_value', 'uint64_value', 'float_value', 'double_value',
  'string_array', 'bool_array', 'int32_array', 'int64_array', 'uint32_array', 'uint64_array', 'float_array', 'double_array'];

/** The sdv field a kuksa.val wire field travels in. */
const sdvField = (valField: string): string => (valField.endsWith('_array') ? valField : `${valField}_value`);

const FIELD_OF = new Map<VssDataType, string>();
/** The sdv field a VSS type travels in (cached: this is on every read and every streamed change). */
function fieldOf(dt: VssDataType): string {
  let f = FIELD_OF.get(dt);
  if (!f) FIELD_OF.set(dt, (f = sdvField(wireField(dt))));
  return f;
}

/** A stored value → an sdv Datapoint; no value yet is `failure_value: NOT_AVAILABLE`, as databroker 0.4 sends it. */
export function toSdvDatapoint(meta: SignalMeta, v: SignalValue | null, ts: number): Obj {
  if (v === null) return { timestamp: wireNow(ts), failure_value: 'NOT_AVAILABLE' };
  const f = fieldOf(meta.dataType);
  const wide = f.startsWith('int64') || f.startsWith('uint64'); // 64-bit integers travel as decimal strings
  const x = f.endsWith('_array') ? { values: wide ? (v as number[]).map(String) : v } : wide ? String(v) : v;
  return { timestamp: wireNow(ts), [f]: x };
}

/** A value of a known VSS type (a query result) → an sdv Datapoint stamped now. */
export function typedSdvDatapoint(dataType: VssDataType, v: SignalValue | null): Obj {
  return toSdvDatapoint({ dataType } as SignalMeta, v, Date.now());
}

/** An sdv Datapoint → a value of the signal's type, or why not: the wrong kind is INVALID_TYPE, outside the limits OUT_OF_BOUNDS. */
export function fromSdvDatapoint(meta: SignalMeta, dp: Obj | undefined): { ok: true; value: SignalValue } | { ok: false; error: SdvRefusal; text: string } {
  const got = dp ? VALUE_FIELDS.find((f) => dp[f] !== undefined && dp[f] !== null) : undefined;
  const want = sdvField(wireField(meta.dataType));
  if (!got) return { ok: false, error: 'INVALID_TYPE', text: `${meta.path}: no value given` };
  if (got !== want) return { ok: false, error: 'INVALID_TYPE', text: `${meta.path} is ${meta.dataType} (${want}), got ${got}` };
  const raw = dp![got];
  const plain = got.endsWith('_array') ? ((raw as { values?: unknown[] }).values ?? []) : raw;
  const wide = got.startsWith('int64') || got.startsWith('uint64');
  try {
    return { ok: true, value: coerce(meta, wide ? (Array.isArray(plain) ? plain.map(Number) : Number(plain)) : plain) };
  } catch (e) {
    return { ok: false, error: 'OUT_OF_BOUNDS', text: `${meta.path}: ${(e as ValueError).message}` };
  }
}

/** VSS type ↔ sdv DataType name: `boolean` is BOOL, arrays end in _ARRAY. */
export function sdvDataType(dt: VssDataType): string {
  const arr = dt.endsWith('[]');
  const base = (arr ? dt.slice(0, -2) : dt) as ScalarType;
  const name = base === 'boolean' ? 'BOOL' : base.toUpperCase();
  return arr ? `${name}_ARRAY` : name;
}

/** An sdv DataType name → the VSS type; throws for TIMESTAMP (the store has no timestamp type) and unknown names. */
export function vssTypeOf(name: unknown): VssDataType {
  if (typeof name !== 'string' || name.startsWith('TIMESTAMP')) throw new ValueError(`data type ${String(name)} is not supported`);
  const arr = name.endsWith('_ARRAY');
  const base = (arr ? name.slice(0, -6) : name).toLowerCase();
  const scalar = base === 'bool' ? 'boolean' : base;
  if (!['string', 'boolean', 'int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32', 'uint64', 'float', 'double'].includes(scalar)) {
    throw new ValueError(`data type ${name} is not supported`);
  }
  return (arr ? `${scalar}[]` : scalar) as VssDataType;
}

const ENTRY: Record<EntryKind, string> = { sensor: 'ENTRY_TYPE_SENSOR', actuator: 'ENTRY_TYPE_ACTUATOR', attribute: 'ENTRY_TYPE_ATTRIBUTE' };
const ALLOWED: Partial<Record<string, string>> = {
  string: 'string_values', int32: 'int32_values', int64: 'int64_values', uint32: 'uint32_values', uint64: 'uint64_values', float: 'float_values', double: 'double_values',
};

/** sdv Metadata; change_type is CONTINUOUS for every signal, as databroker 0.4 answers. */
export function sdvMetadata(m: SignalMeta): Obj {
  const scalar = (m.dataType.endsWith('[]') ? m.dataType.slice(0, -2) : m.dataType) as ScalarType;
  const md: Obj = {
    id: m.id, entry_type: ENTRY[m.entryType], name: m.path, data_type: sdvDataType(m.dataType),
    change_type: 'CONTINUOUS', description: m.description ?? '',
  };
  const f = wireField(scalar);
  if (m.min !== undefined && scalar !== 'string' && scalar !== 'boolean') md.min = toWire(scalar, m.min);
  if (m.max !== undefined && scalar !== 'string' && scalar !== 'boolean') md.max = toWire(scalar, m.max);
  const allowedField = ALLOWED[f];
  if (m.allowed?.length && allowedField) md.allowed = { [allowedField]: { values: f.endsWith('64') ? m.allowed.map(String) : m.allowed } };
  return md;
}
