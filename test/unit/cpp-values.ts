// src/apps/tracer/cpp-values.ts, cpp-watch.ts's name splitting and cpp-elf.ts's refusals: C++ values in memory ↔ what
// the playground shows and sends, checked against the type and size before a byte is written.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { decode, encode, MAX_STRING_READ, readSize, typeName, type Readable } from '../../src/apps/tracer/cpp-values';
import { splitCppNames } from '../../src/apps/tracer/cpp-watch';
import { ElfError, ElfFile } from '../../src/apps/tracer/cpp-elf';
import { tmpDir } from '../helpers/scope';

const int = (size: number, signed: boolean, readonly = false): Readable => ({ kind: 'int', size, signed, readonly });
const roundTrip = (ty: Readable, v: unknown) => { const b = encode(ty, v); return typeof b === 'string' ? b : decode(ty, Buffer.concat([b, Buffer.alloc(readSize(ty) - b.length)])); };

t.test('integers of every width and sign: the full range round-trips, beyond 2^53 as decimal text', async (t) => {
  for (const size of [1, 2, 4, 8]) {
    const bits = BigInt(size * 8);
    for (const [signed, min, max] of [[true, -(1n << (bits - 1n)), (1n << (bits - 1n)) - 1n], [false, 0n, (1n << bits) - 1n]] as const) {
      const show = (v: bigint) => (v >= -(2n ** 53n) && v <= 2n ** 53n ? Number(v) : v.toString());
      t.equal(roundTrip(int(size, signed), min.toString()), show(min), `${typeName(int(size, signed))} min`);
      t.equal(roundTrip(int(size, signed), max.toString()), show(max), `${typeName(int(size, signed))} max`);
      t.match(encode(int(size, signed), (max + 1n).toString()), /out of range/);
      t.match(encode(int(size, signed), (min - 1n).toString()), /out of range/);
    }
  }
  t.equal(roundTrip(int(4, true), 42), 42, 'a JSON number');
  t.equal(roundTrip(int(4, true), ' -0x10 '), -16, 'hex text, spaces trimmed');
  t.match(encode(int(4, true), 1.5), /expected an integer/);
  t.match(encode(int(4, true), '12abc'), /expected an integer .* got "12abc"/);
  t.match(encode(int(4, true), null), /expected an integer/);
  t.match(encode(int(4, true, true), 1), /it is const/);
});

t.test('float, double, bool, char arrays', async (t) => {
  const f: Readable = { kind: 'float', size: 4, readonly: false };
  const d: Readable = { kind: 'float', size: 8, readonly: false };
  t.equal(roundTrip(f, '0.25'), 0.25);
  t.equal(roundTrip(d, -1e300), -1e300);
  t.match(encode(f, 1e39), /out of range for a float/);
  t.match(encode(d, 'fast'), /expected a finite number for a double/);
  t.match(encode(d, Infinity), /expected a finite number/);
  t.equal(decode(d, Buffer.from(new Float64Array([NaN]).buffer)), 'NaN', 'NaN as a string (JSON has none)');
  const b: Readable = { kind: 'bool', size: 1, readonly: false };
  for (const v of [true, 1, 'true', ' TRUE', '1']) t.equal(roundTrip(b, v), true, `${JSON.stringify(v)} is true`);
  for (const v of [false, 0, 'false', '0']) t.equal(roundTrip(b, v), false, `${JSON.stringify(v)} is false`);
  t.match(encode(b, 'yes'), /expected true or false/);
  const s: Readable = { kind: 'chars', size: 8, readonly: false };
  t.equal(roundTrip(s, 'héllo'), 'héllo', 'UTF-8 text up to its NUL');
  t.match(encode(s, 'x'.repeat(8)), /8 bytes and the closing NUL do not fit in char\[8\]/);
  t.match(encode(s, 'a\0b'), /NUL/);
  t.match(encode(s, { a: 1 }), /expected text/);
  t.equal(decode(s, Buffer.from('abcdefgh')), 'abcdefgh', 'no NUL: the whole array');
  t.equal(readSize({ kind: 'chars', size: 1 << 20, readonly: false }), MAX_STRING_READ, 'a large array is read only in part');
});

t.test('splitCppNames: the Vars Watch text, C++ names only, at most 64', async (t) => {
  t.same(splitCppNames('counter, speed'), { names: ['counter', 'speed'], skipped: [] });
  t.same(splitCppNames('a b,, a ns::limit'), { names: ['a', 'b', 'ns::limit'], skipped: [] }, 'duplicates once');
  t.same(splitCppNames(['x', 'speed-kmh', 3, '::y', 'a::']), { names: ['x'], skipped: ['speed-kmh', '3', '::y', 'a::'] });
  const many = splitCppNames(Array.from({ length: 70 }, (_, i) => `v${i}`));
  t.equal(many.names.length, 64);
  t.equal(many.skipped.length, 6);
});

t.test('cpp-elf: what is not an executable ELF file is refused, a table pointing outside is refused', async (t) => {
  const dir = tmpDir(t, 'cpp-elf-');
  const open = (name: string, data: Buffer) => { const p = path.join(dir, name); fs.writeFileSync(p, data); return fs.openSync(p, 'r'); };
  const check = (name: string, data: Buffer, re: RegExp) => {
    const fd = open(name, data);
    try { t.throws(() => new ElfFile(fd, 1 << 20), re, name); } finally { fs.closeSync(fd); }
  };
  check('text', Buffer.from('#!/bin/sh\necho hi\n'.padEnd(64)), /not an ELF file|outside/);
  const h = Buffer.alloc(64);
  h.writeUInt32BE(0x7f454c46, 0); h[4] = 2; h[5] = 1; h.writeUInt16LE(3, 16);
  h.writeBigUInt64LE(1000n, 32); h.writeUInt16LE(56, 54); h.writeUInt16LE(4, 56);
  check('phdrs-outside', h, /outside the file/);
  const big = Buffer.from(h); big[5] = 2;
  check('big-endian', big, /little-endian/);
  const obj = Buffer.from(h); obj.writeUInt16LE(1, 16);
  check('relocatable', obj, /not an executable/);
  t.ok(new ElfError('x') instanceof Error);
});
