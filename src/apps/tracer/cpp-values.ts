// C++ values in a program's memory ↔ what the playground shows and sends. Reading: integers as numbers (as decimal
// strings beyond ±2^53, where a JSON number would lose digits), float and double as numbers (NaN and ±Infinity as
// strings: JSON has no such numbers), bool as true/false, a char array as the string up to its first NUL (UTF-8, bad
// bytes replaced). Writing: the Vars Watch input is text ("42", "true", "hello"), a program may send numbers; each is
// checked against the variable's type and size and refused with a reason (out of range, not a number, too long).
import type { VarType } from './cpp-dwarf';

export type Readable = Exclude<VarType, { kind: 'unsupported' }>;

/** Bytes the watcher reads of a variable (a char array is read up to this much: longer ones are cut). */
export const MAX_STRING_READ = 1024;

export function readSize(t: Readable): number { return t.kind === 'chars' ? Math.min(t.size, MAX_STRING_READ) : t.size; }

/** The JSON-safe value of the bytes read (length readSize(t)). */
export function decode(t: Readable, b: Buffer): number | string | boolean {
  switch (t.kind) {
    case 'bool': return b.subarray(0, t.size).some((x) => x !== 0);
    case 'float': { const v = t.size === 4 ? b.readFloatLE(0) : b.readDoubleLE(0); return Number.isFinite(v) ? v : String(v); }
    case 'chars': { const end = b.indexOf(0); return b.subarray(0, end < 0 ? b.length : end).toString('utf8'); }
    case 'int': {
      let v = 0n;
      for (let i = t.size - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
      if (t.signed && v >= 1n << BigInt(t.size * 8 - 1)) v -= 1n << BigInt(t.size * 8);
      return v >= -(2n ** 53n) && v <= 2n ** 53n ? Number(v) : v.toString();
    }
  }
}

/** The bytes to write for `input`, or the reason it cannot be written into this variable. */
export function encode(t: Readable, input: unknown): Buffer | string {
  if (t.readonly) return 'it is const';
  switch (t.kind) {
    case 'bool': {
      const v = input === true || input === 1 || (typeof input === 'string' && ['true', '1'].includes(input.trim().toLowerCase())) ? 1
        : input === false || input === 0 || (typeof input === 'string' && ['false', '0'].includes(input.trim().toLowerCase())) ? 0 : null;
      if (v === null) return `expected true or false for a bool, got ${show(input)}`;
      const b = Buffer.alloc(t.size);
      b[0] = v;
      return b;
    }
    case 'float': {
      const v = typeof input === 'number' ? input : typeof input === 'string' && input.trim() !== '' ? Number(input.trim()) : NaN;
      if (!Number.isFinite(v)) return `expected a finite number for a ${t.size === 4 ? 'float' : 'double'}, got ${show(input)}`;
      if (t.size === 4 && Math.abs(v) > 3.4028234663852886e38) return `${v} is out of range for a float`;
      const b = Buffer.alloc(t.size);
      if (t.size === 4) b.writeFloatLE(v, 0); else b.writeDoubleLE(v, 0);
      return b;
    }
    case 'chars': {
      if (typeof input !== 'string' && typeof input !== 'number') return `expected text for a char[${t.size}], got ${show(input)}`;
      const text = Buffer.from(String(input), 'utf8');
      if (text.includes(0)) return 'the text contains NUL';
      if (text.length + 1 > t.size) return `${text.length} bytes and the closing NUL do not fit in char[${t.size}]`;
      return Buffer.concat([text, Buffer.alloc(1)]);
    }
    case 'int': {
      let v: bigint;
      if (typeof input === 'number' && Number.isSafeInteger(input)) v = BigInt(input);
      else if (typeof input === 'string' && /^\s*[+-]?(\d+|0x[0-9a-f]+)\s*$/i.test(input)) {
        const s = input.trim();
        const neg = s.startsWith('-');
        v = BigInt(s.replace(/^[+-]/, ''));
        if (neg) v = -v;
      } else return `expected an integer for a ${t.signed ? '' : 'unsigned '}${t.size * 8}-bit integer, got ${show(input)}`;
      const bits = BigInt(t.size * 8);
      const min = t.signed ? -(1n << (bits - 1n)) : 0n;
      const max = t.signed ? (1n << (bits - 1n)) - 1n : (1n << bits) - 1n;
      if (v < min || v > max) return `${v} is out of range for a ${t.signed ? '' : 'unsigned '}${t.size * 8}-bit integer (${min}…${max})`;
      if (v < 0n) v += 1n << bits;
      const b = Buffer.alloc(t.size);
      for (let i = 0; i < t.size; i++) { b[i] = Number(v & 0xffn); v >>= 8n; }
      return b;
    }
  }
}

/** A type as the user reads it in a message. */
export function typeName(t: Readable): string {
  switch (t.kind) {
    case 'bool': return 'bool';
    case 'float': return t.size === 4 ? 'float' : 'double';
    case 'chars': return `char[${t.size}]`;
    case 'int': return `${t.signed ? '' : 'unsigned '}${t.size * 8}-bit integer`;
  }
}

function show(v: unknown): string {
  const s = typeof v === 'string' ? JSON.stringify(v) : v === undefined ? 'nothing' : JSON.stringify(v) ?? String(v);
  return s.length > 60 ? `${s.slice(0, 57)}…` : s;
}
