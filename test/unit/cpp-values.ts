// src/apps/tracer/cpp-values.ts, cpp-watch.ts's name splitting, the refusals of cpp-elf.ts and cpp-dwarf.ts: C++
// values in memory ↔ what the playground shows and sends, checked against the type and size before a byte is written;
// a crafted executable refused with a reason.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { decode, encode, MAX_STRING_READ, readSize, typeName, type Readable } from '../../src/apps/tracer/cpp-values';
import { splitCppNames } from '../../src/apps/tracer/cpp-watch';
import { ElfError, ElfFile } from '../../src/apps/tracer/cpp-elf';
import { Dwarf, DwarfError } from '../../src/apps/tracer/cpp-dwarf';
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

t.test('cpp-dwarf: crafted debug information is refused with a reason, never walked without end', async (t) => {
  // A DWARF 4 unit: length, version, abbrev offset, address size; then DIEs of abbreviation 1.
  const unit = (dies: Buffer) => { const h = Buffer.alloc(11); h.writeUInt32LE(7 + dies.length, 0); h.writeUInt16LE(4, 4); h.writeUInt32LE(0, 6); h[10] = 8; return Buffer.concat([h, dies]); };
  const sections = (info: Buffer, abbrev: Buffer) => ({ info, abbrev, str: null, lineStr: null, strOffsets: null, addr: null });
  const drive = (d: Dwarf) => { const g = d.scan(new Set(['x'])); let r = g.next(); while (!r.done) r = g.next(); return r.value; };
  // abbreviation 1: a namespace with children and no attributes
  const ns = Buffer.from([1, 0x39, 1, 0, 0, 0]);
  t.same([...drive(new Dwarf(sections(unit(Buffer.concat([Buffer.alloc(100, 1), Buffer.alloc(100, 0)])), ns))).keys()], [], 'nesting of 100: walked');
  t.throws(() => drive(new Dwarf(sections(unit(Buffer.concat([Buffer.alloc(300, 1), Buffer.alloc(300, 0)])), ns))), /nests deeper than 256/);
  // abbreviation 1 with 300 flag_present attributes (zero bytes each in a DIE)
  const wide = Buffer.concat([Buffer.from([1, 0x34, 0]), Buffer.from(Array.from({ length: 300 }, () => [0x3f, 0x19]).flat()), Buffer.from([0, 0, 0])]);
  t.throws(() => new Dwarf(sections(unit(Buffer.from([1])), wide)), /more than 256 attributes/);
  const indirect = Buffer.from([1, 0x34, 0, 0x03, 0x16, 0, 0, 0]);
  t.throws(() => drive(new Dwarf(sections(unit(Buffer.from([1, 0x16, 0x16, 0x08])), indirect))), /indirect form of an indirect form/);
  t.throws(() => new Dwarf(sections(unit(Buffer.from([1])), Buffer.from([1, 0x34]))), /out of range|outside|past/i, 'a table cut short');
  t.ok(new DwarfError('x') instanceof Error);
});

t.test('cpp-elf: a debug section compressed by the compiler (g++ -gz) is inflated to its full size', async (t) => {
  const dir = tmpDir(t, 'sdv-elf-gz-');
  const exe = path.join(dir, 'gz');
  fs.writeFileSync(path.join(dir, 'gz.cpp'), 'int counter = 7;\nint main() { return counter; }\n');
  execFileSync('g++', ['-g', '-gz=zlib', '-O0', '-o', exe, path.join(dir, 'gz.cpp')]);
  const fd = fs.openSync(exe, 'r');
  t.teardown(() => fs.closeSync(fd));
  const elf = new ElfFile(fd, 64 * 1024 * 1024);
  const info = elf.sections.get('.debug_info')!;
  t.ok(info.flags & 0x800, '.debug_info is compressed (SHF_COMPRESSED)');
  const data = elf.section('.debug_info')!;
  t.ok(data.length > info.size, `inflated: ${info.size} → ${data.length} bytes`);
  t.ok(data.readUInt16LE(4) >= 2, `a DWARF unit header (version ${data.readUInt16LE(4)})`);
});
