// The parts of an ELF file the C++ variable watcher needs, read from an open file descriptor with bounds: the section
// headers, the debug sections (decompressed when SHF_COMPRESSED), the PT_LOAD segments (for a PIE's load address) and
// the data symbols of .symtab. Little-endian ELF32 and ELF64 (x86-64, ARM64, ARM). Every offset and size is checked
// against the file before it is read; nothing is trusted: the file is the user's build.
import fs = require('node:fs');

export class ElfError extends Error { override name = 'ElfError'; }

export interface Section { readonly name: string; readonly type: number; readonly flags: number; readonly offset: number; readonly size: number }
export interface Segment { readonly vaddr: number; readonly offset: number; readonly memsz: number }
export interface DataSymbol { readonly name: string; readonly value: number; readonly size: number; readonly global: boolean }

/** The numbers of the format this reader needs (elf(5)): section types and flags, the loadable segment, symbol kinds. */
const ELF = { SHT_SYMTAB: 2, SHT_NOBITS: 8, SHF_COMPRESSED: 0x800, PT_LOAD: 1, STT_OBJECT: 1, STB_GLOBAL: 1, STB_WEAK: 2 } as const;
/** At most this many symbols are read (a larger table is cut). */
const MAX_SYMBOLS = 1_000_000;

export class ElfFile {
  readonly is64: boolean;
  /** ET_DYN (a PIE, loaded at a random address) or ET_EXEC. */
  readonly pie: boolean;
  readonly sections = new Map<string, Section>();
  readonly loads: Segment[] = [];
  readonly size: number;
  /** Bytes read so far (bounded by `budget`). */
  private spent = 0;

  constructor(private readonly fd: number, private readonly budget: number) {
    this.size = fs.fstatSync(fd).size;
    const h = this.read(0, 64);
    if (h.readUInt32BE(0) !== 0x7f454c46) throw new ElfError('not an ELF file');
    if (h[5] !== 1) throw new ElfError('not a little-endian ELF file');
    this.is64 = h[4] === 2;
    if (!this.is64 && h[4] !== 1) throw new ElfError('an ELF class other than 32 or 64 bits');
    const type = h.readUInt16LE(16);
    if (type !== 2 && type !== 3) throw new ElfError('not an executable');
    this.pie = type === 3;
    const num = (o64: number, o32: number) => this.is64 ? this.u64(h, o64) : h.readUInt32LE(o32);
    const phoff = num(32, 28);
    const shoff = num(40, 32);
    const phentsize = h.readUInt16LE(this.is64 ? 54 : 42);
    const phnum = h.readUInt16LE(this.is64 ? 56 : 44);
    const shentsize = h.readUInt16LE(this.is64 ? 58 : 46);
    const shnum = h.readUInt16LE(this.is64 ? 60 : 48);
    const shstrndx = h.readUInt16LE(this.is64 ? 62 : 50);
    if (phnum > 0) {
      const ph = this.read(phoff, phentsize * phnum);
      for (let i = 0; i < phnum; i++) {
        const o = i * phentsize;
        if (ph.readUInt32LE(o) !== ELF.PT_LOAD) continue;
        this.loads.push(this.is64
          ? { offset: this.u64(ph, o + 8), vaddr: this.u64(ph, o + 16), memsz: this.u64(ph, o + 40) }
          : { offset: ph.readUInt32LE(o + 4), vaddr: ph.readUInt32LE(o + 8), memsz: ph.readUInt32LE(o + 20) });
      }
    }
    if (shnum === 0 || shstrndx >= shnum) return;
    const sh = this.read(shoff, shentsize * shnum);
    const raw: Array<Omit<Section, 'name'> & { nameOff: number }> = [];
    for (let i = 0; i < shnum; i++) {
      const o = i * shentsize;
      raw.push(this.is64
        ? { nameOff: sh.readUInt32LE(o), type: sh.readUInt32LE(o + 4), flags: this.u64(sh, o + 8), offset: this.u64(sh, o + 24), size: this.u64(sh, o + 32) }
        : { nameOff: sh.readUInt32LE(o), type: sh.readUInt32LE(o + 4), flags: sh.readUInt32LE(o + 8), offset: sh.readUInt32LE(o + 16), size: sh.readUInt32LE(o + 20) });
    }
    const strs = raw[shstrndx]!;
    const names = this.read(strs.offset, strs.size);
    for (const r of raw) {
      const end = names.indexOf(0, r.nameOff);
      if (r.nameOff >= names.length || end < 0) continue;
      const name = names.toString('latin1', r.nameOff, end);
      if (!this.sections.has(name)) this.sections.set(name, { name, type: r.type, flags: r.flags, offset: r.offset, size: r.size });
    }
  }

  /** A section's contents (decompressed), or null when the file has no such section. */
  section(name: string): Buffer | null {
    const s = this.sections.get(name);
    if (!s || s.type === ELF.SHT_NOBITS) return null;
    const data = this.read(s.offset, s.size);
    if (!(s.flags & ELF.SHF_COMPRESSED)) return data;
    // Elf32_Chdr / Elf64_Chdr: type (1 = zlib), then the uncompressed size.
    const chType = data.readUInt32LE(0);
    const full = this.is64 ? this.u64(data, 8) : data.readUInt32LE(4);
    if (chType !== 1) throw new ElfError(`section ${name} is compressed with an unknown method (${chType})`);
    this.charge(full);
    // zlib for compressed debug sections only, not at start (issue 30).
    const zlib = require('node:zlib') as typeof import('node:zlib');
    return zlib.inflateSync(data.subarray(this.is64 ? 24 : 12), { maxOutputLength: full });
  }

  /** The data objects of .symtab (functions and other kinds left out); empty when the binary is stripped. */
  dataSymbols(): DataSymbol[] {
    const tab = this.sections.get('.symtab');
    if (!tab || tab.type !== ELF.SHT_SYMTAB) return [];
    const syms = this.section('.symtab')!;
    const strs = this.section('.strtab') ?? Buffer.alloc(0);
    const entry = this.is64 ? 24 : 16;
    const out: DataSymbol[] = [];
    for (let o = 0, n = 0; o + entry <= syms.length && n < MAX_SYMBOLS; o += entry, n++) {
      const info = syms[this.is64 ? o + 4 : o + 12]!;
      if ((info & 0xf) !== ELF.STT_OBJECT) continue;
      const nameOff = syms.readUInt32LE(o);
      const end = strs.indexOf(0, nameOff);
      if (nameOff >= strs.length || end < 0) continue;
      const bind = info >> 4;
      out.push({
        name: strs.toString('utf8', nameOff, end),
        value: this.is64 ? this.u64(syms, o + 8) : syms.readUInt32LE(o + 4),
        size: this.is64 ? this.u64(syms, o + 16) : syms.readUInt32LE(o + 8),
        global: bind === ELF.STB_GLOBAL || bind === ELF.STB_WEAK,
      });
    }
    return out;
  }

  /** The link-time address of the segment mapped from file offset 0 (a PIE's load address is measured from it). */
  firstLoadVaddr(): number {
    const first = this.loads.reduce<Segment | null>((a, s) => (a === null || s.offset < a.offset ? s : a), null);
    if (!first) throw new ElfError('no loadable segment');
    return first.vaddr - first.offset;
  }

  private u64(b: Buffer, o: number): number {
    const v = b.readBigUInt64LE(o);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new ElfError('an offset or address beyond 2^53');
    return Number(v);
  }

  private charge(n: number): void {
    this.spent += n;
    if (this.spent > this.budget) throw new ElfError(`the debug information is larger than the watcher reads (${Math.round(this.budget / 1048576)} MiB)`);
  }

  private read(offset: number, length: number): Buffer {
    if (offset < 0 || length < 0 || offset + length > this.size) throw new ElfError('a table points outside the file');
    this.charge(length);
    const buf = Buffer.alloc(length);
    let got = 0;
    while (got < length) {
      const n = fs.readSync(this.fd, buf, got, length - got, offset + got);
      if (n === 0) throw new ElfError('the file ended early');
      got += n;
    }
    return buf;
  }
}
