// JSON values ↔ the signal's VSS type, and typed values ↔ the kuksa.val wire `Value` oneof (same field names in v1
// Datapoint and v2 Value). 64-bit integers travel as decimal strings on the wire and are JS numbers inside the agent
// (exact up to 2^53; beyond that the nearest double).
import type { ScalarType, SignalMeta, VssDataType } from './vss';

export type SignalValue = string | number | boolean | string[] | number[] | boolean[];

export class ValueError extends Error { override name = 'ValueError'; }

const INT_RANGE: Partial<Record<ScalarType, [number, number]>> = {
  int8: [-128, 127], int16: [-32768, 32767], int32: [-2147483648, 2147483647],
  int64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  uint8: [0, 255], uint16: [0, 65535], uint32: [0, 4294967295], uint64: [0, Number.MAX_SAFE_INTEGER],
};

function coerceScalar(t: ScalarType, v: unknown): string | number | boolean {
  const show = () => JSON.stringify(v)?.slice(0, 60) ?? String(v);
  switch (t) {
    case 'string':
      if (typeof v === 'string') return v;
      if (typeof v === 'number' || typeof v === 'boolean') return String(v);
      throw new ValueError(`expected a string, got ${show()}`);
    case 'boolean':
      if (typeof v === 'boolean') return v;
      if (v === 0 || v === 1) return v === 1;
      if (typeof v === 'string') {
        const s = v.trim().toLowerCase();
        if (s === 'true' || s === '1') return true;
        if (s === 'false' || s === '0') return false;
      }
      throw new ValueError(`expected a boolean, got ${show()}`);
    case 'float': case 'double': {
      const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
      if (typeof n !== 'number' || !Number.isFinite(n)) throw new ValueError(`expected a number, got ${show()}`);
      return t === 'float' ? Math.fround(n) : n;
    }
    default: {
      const n = typeof v === 'string' && /^\s*-?\d+\s*$/.test(v) ? Number(v) : v;
      if (typeof n !== 'number' || !Number.isInteger(n)) throw new ValueError(`expected an integer (${t}), got ${show()}`);
      const [lo, hi] = INT_RANGE[t]!;
      if (n < lo || n > hi) throw new ValueError(`${n} does not fit ${t} (${lo}..${hi})`);
      return n;
    }
  }
}

/** Converts a JSON value (or a mock-list string like "True", "0", "[1,2]") to the signal's type and checks limits. */
export function coerce(meta: Pick<SignalMeta, 'dataType' | 'min' | 'max' | 'allowed'>, v: unknown): SignalValue {
  const dt = meta.dataType;
  if (v === null || v === undefined) throw new ValueError('expected a value, got null');
  if (dt.endsWith('[]')) {
    let arr = v;
    if (typeof arr === 'string') { try { arr = JSON.parse(arr); } catch { /* reported below */ } }
    if (!Array.isArray(arr)) throw new ValueError(`expected an array (${dt}), got ${JSON.stringify(v)?.slice(0, 60)}`);
    const base = dt.slice(0, -2) as ScalarType;
    return arr.map((x, i) => {
      try { return coerceScalar(base, x); } catch (e) { throw new ValueError(`[${i}]: ${(e as Error).message}`); }
    }) as SignalValue;
  }
  const out = coerceScalar(dt as ScalarType, v);
  if (typeof out === 'number') {
    if (meta.min !== undefined && out < meta.min) throw new ValueError(`${out} is below the minimum ${meta.min}`);
    if (meta.max !== undefined && out > meta.max) throw new ValueError(`${out} is above the maximum ${meta.max}`);
  }
  if (meta.allowed && meta.allowed.length && (typeof out === 'string' || typeof out === 'number') && !meta.allowed.includes(out)) {
    throw new ValueError(`${JSON.stringify(out)} is not one of the allowed values ${JSON.stringify(meta.allowed).slice(0, 200)}`);
  }
  return out;
}

/** The oneof field a VSS type travels in. int8/int16 go as int32, uint8/uint16 as uint32. */
export function wireField(dt: VssDataType): string {
  const arr = dt.endsWith('[]');
  const base = (arr ? dt.slice(0, -2) : dt) as ScalarType;
  const f = base === 'boolean' ? 'bool' : base === 'int8' || base === 'int16' ? 'int32' : base === 'uint8' || base === 'uint16' ? 'uint32' : base;
  return arr ? `${f}_array` : f;
}

const WIRE_FIELDS = ['string', 'bool', 'int32', 'int64', 'uint32', 'uint64', 'float', 'double',
  'string_array', 'bool_array', 'int32_array', 'int64_array', 'uint32_array', 'uint64_array', 'float_array', 'double_array'];

/** A typed value → the wire oneof object ({int32: -5}, {float_array: {values: [...]}}). */
export function toWire(dt: VssDataType, v: SignalValue): Record<string, unknown> {
  const f = wireField(dt);
  if (f.endsWith('_array')) {
    const values = (v as unknown[]).map((x) => (f.startsWith('int64') || f.startsWith('uint64') ? String(x) : x));
    return { [f]: { values } };
  }
  return { [f]: f === 'int64' || f === 'uint64' ? String(v) : v };
}

/** Reads the oneof from a decoded v1 Datapoint or v2 Value; undefined when it carries no value. */
export function fromWire(msg: Record<string, unknown> | null | undefined): SignalValue | undefined {
  if (!msg) return undefined;
  for (const f of WIRE_FIELDS) {
    const x = msg[f];
    if (x === undefined || x === null) continue;
    if (f.endsWith('_array')) {
      const values = ((x as { values?: unknown[] }).values ?? []) as unknown[];
      return (f.startsWith('int64') || f.startsWith('uint64') ? values.map(Number) : values) as SignalValue;
    }
    if (f === 'int64' || f === 'uint64') return Number(x);
    return x as SignalValue;
  }
  return undefined;
}

/** Wire oneof → a value of the signal's type (checks the wire kind matches the model). */
export function fromWireChecked(meta: SignalMeta, msg: Record<string, unknown> | null | undefined): SignalValue {
  const want = wireField(meta.dataType);
  const got = msg ? WIRE_FIELDS.find((f) => msg[f] !== undefined && msg[f] !== null) : undefined;
  if (!got) throw new ValueError('no value given');
  if (got !== want) throw new ValueError(`${meta.path} is ${meta.dataType} (wire field ${want}), got ${got}`);
  return coerce(meta, fromWire(msg));
}

export const DATA_TYPE_ENUM: Record<string, string> = {
  string: 'DATA_TYPE_STRING', boolean: 'DATA_TYPE_BOOLEAN', int8: 'DATA_TYPE_INT8', int16: 'DATA_TYPE_INT16',
  int32: 'DATA_TYPE_INT32', int64: 'DATA_TYPE_INT64', uint8: 'DATA_TYPE_UINT8', uint16: 'DATA_TYPE_UINT16',
  uint32: 'DATA_TYPE_UINT32', uint64: 'DATA_TYPE_UINT64', float: 'DATA_TYPE_FLOAT', double: 'DATA_TYPE_DOUBLE',
  'string[]': 'DATA_TYPE_STRING_ARRAY', 'boolean[]': 'DATA_TYPE_BOOLEAN_ARRAY', 'int8[]': 'DATA_TYPE_INT8_ARRAY',
  'int16[]': 'DATA_TYPE_INT16_ARRAY', 'int32[]': 'DATA_TYPE_INT32_ARRAY', 'int64[]': 'DATA_TYPE_INT64_ARRAY',
  'uint8[]': 'DATA_TYPE_UINT8_ARRAY', 'uint16[]': 'DATA_TYPE_UINT16_ARRAY', 'uint32[]': 'DATA_TYPE_UINT32_ARRAY',
  'uint64[]': 'DATA_TYPE_UINT64_ARRAY', 'float[]': 'DATA_TYPE_FLOAT_ARRAY', 'double[]': 'DATA_TYPE_DOUBLE_ARRAY',
};
export const DATA_TYPE_FROM_ENUM: Record<string, VssDataType> =
  Object.fromEntries(Object.entries(DATA_TYPE_ENUM).map(([k, v]) => [v, k as VssDataType]));
export const ENTRY_TYPE_ENUM: Record<string, string> = { attribute: 'ENTRY_TYPE_ATTRIBUTE', sensor: 'ENTRY_TYPE_SENSOR', actuator: 'ENTRY_TYPE_ACTUATOR' };
export const ENTRY_TYPE_FROM_ENUM: Record<string, 'attribute' | 'sensor' | 'actuator'> = {
  ENTRY_TYPE_ATTRIBUTE: 'attribute', ENTRY_TYPE_SENSOR: 'sensor', ENTRY_TYPE_ACTUATOR: 'actuator',
};

/** google.protobuf.Timestamp for now. */
export function wireNow(ms = Date.now()): { seconds: string; nanos: number } {
  return { seconds: String(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1_000_000 };
}
