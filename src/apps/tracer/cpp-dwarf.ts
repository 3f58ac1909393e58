// A small DWARF 2–5 reader for one question: where is each named global or file-scope static of a C++ program, and
// what is its type. It walks the DIEs of .debug_info once (in slices: scan() is a generator the caller drives across
// event-loop turns), keeps only variables at namespace scope (the compile unit, namespaces, classes for static
// members; never a function's locals or statics), and resolves a variable's type on demand by reading the DIEs its
// DW_AT_type chain points to. Every read is bounds-checked (a Buffer read past the end throws): the file is the user's.
// Reference: DWARF 5 (dwarfstd.org), sections 7.5 (forms), 7.7 (expressions), 7.8 (base type encodings).

export class DwarfError extends Error { override name = 'DwarfError'; }

export interface DwarfSections {
  readonly info: Buffer;
  readonly abbrev: Buffer;
  readonly str: Buffer | null;
  readonly lineStr: Buffer | null;
  readonly strOffsets: Buffer | null;
  readonly addr: Buffer | null;
}

/** A watched variable's type, as far as the watcher can read and write it. */
export type VarType =
  | { readonly kind: 'int'; readonly size: number; readonly signed: boolean; readonly readonly: boolean }
  | { readonly kind: 'float'; readonly size: 4 | 8; readonly readonly: boolean }
  | { readonly kind: 'bool'; readonly size: number; readonly readonly: boolean }
  | { readonly kind: 'chars'; readonly size: number; readonly readonly: boolean }
  | { readonly kind: 'unsupported'; readonly what: string };

/** A variable found at namespace scope, by its qualified name (`counter`, `ns::limit`, `Config::rate`). */
export interface FoundVar {
  readonly name: string;
  /** Link-time address (before a PIE's load address is added); null with `why` when it has none. */
  readonly address: number | null;
  readonly why?: string;
  readonly typeRef: number | null;
}

const TAG = { array: 0x01, class: 0x02, enum: 0x04, member: 0x0d, pointer: 0x0f, reference: 0x10, cu: 0x11, struct: 0x13, typedef: 0x16, union: 0x17, subrange: 0x21, base: 0x24, const: 0x26, variable: 0x34, volatile: 0x35, restrict: 0x37, namespace: 0x39, partial: 0x3c, rvalueRef: 0x42, atomic: 0x47, skeleton: 0x4a } as const;
const AT = { sibling: 0x01, location: 0x02, name: 0x03, byteSize: 0x0b, constValue: 0x1c, upperBound: 0x2f, count: 0x37, declaration: 0x3c, encoding: 0x3e, specification: 0x47, type: 0x49, strOffsetsBase: 0x72, addrBase: 0x73, gnuAddrBase: 0x2133 } as const;
const ATE = { boolean: 0x02, float: 0x04, signed: 0x05, signedChar: 0x06, unsigned: 0x07, unsignedChar: 0x08, utf: 0x10 } as const;
/** Scopes a global lives in; a variable under any other DIE (a function, a block) is not a global. */
const SCOPES = new Set<number>([TAG.cu, TAG.partial, TAG.namespace, TAG.struct, TAG.class, TAG.union]);
const SLICE = 4096;
const MAX_TYPE_CHAIN = 32;
/**
 * Bounds against a crafted file (the program is the user's, and so is its debug information): scopes nested deeper,
 * attributes per abbreviation and DIEs in all are refused, so a slice of the walk stays small and the walk ends.
 * A C++ program with the standard library has some 10^4–10^5 DIEs, nesting below 20, and at most a few dozen attributes.
 */
const MAX_NESTING = 256;
const MAX_ABBREV_ATTRS = 256;
const MAX_DIES = 10_000_000;
/** Abbreviations read in all tables (the tables are read when the units are, in one turn of the event loop). */
const MAX_ABBREV_WORK = 2_000_000;

interface Abbrev { readonly tag: number; readonly children: boolean; readonly attrs: ReadonlyArray<readonly [number, number, number]> }
interface Unit {
  readonly start: number; readonly end: number; readonly version: number; readonly addrSize: number; readonly offsetSize: 4 | 8;
  readonly abbrevs: Map<number, Abbrev>; readonly firstDie: number; strOffsetsBase: number; addrBase: number;
}
type Value = number | string | Buffer | boolean | { ref: number };
interface Die { readonly offset: number; readonly tag: number; readonly children: boolean; readonly attrs: Map<number, Value>; readonly next: number }

class Cursor {
  constructor(readonly b: Buffer, public pos: number) {}
  u8(): number { return this.b.readUInt8(this.pos++); }
  u16(): number { const v = this.b.readUInt16LE(this.pos); this.pos += 2; return v; }
  u24(): number { const v = this.b.readUIntLE(this.pos, 3); this.pos += 3; return v; }
  u32(): number { const v = this.b.readUInt32LE(this.pos); this.pos += 4; return v; }
  u64(): number { const v = this.b.readBigUInt64LE(this.pos); this.pos += 8; return v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v); }
  uN(n: number): number { return n === 1 ? this.u8() : n === 2 ? this.u16() : n === 4 ? this.u32() : this.u64(); }
  uleb(): number { let r = 0; let m = 1; for (;;) { const b = this.u8(); r += (b & 0x7f) * m; m *= 128; if (!(b & 0x80)) return r; } }
  sleb(): number { let r = 0; let m = 1; let b; do { b = this.u8(); r += (b & 0x7f) * m; m *= 128; } while (b & 0x80); return b & 0x40 ? r - m : r; }
  skip(n: number): void { if (n < 0 || this.pos + n > this.b.length) throw new DwarfError('a block runs past its section'); this.pos += n; }
  bytes(n: number): Buffer { const s = this.pos; this.skip(n); return this.b.subarray(s, s + n); }
  cstr(): string { const e = this.b.indexOf(0, this.pos); if (e < 0) throw new DwarfError('an unterminated string'); const s = this.b.toString('utf8', this.pos, e); this.pos = e + 1; return s; }
}

export class Dwarf {
  private readonly units: Unit[] = [];
  /** Abbreviation tables by offset: units of one file usually share one. */
  private readonly abbrevCache = new Map<number, Map<number, Abbrev>>();
  private abbrevWork = 0;

  constructor(private readonly s: DwarfSections) {
    const c = new Cursor(s.info, 0);
    while (c.pos + 11 <= s.info.length) {
      const start = c.pos;
      let len = c.u32();
      let offsetSize: 4 | 8 = 4;
      if (len === 0xffffffff) { len = c.u64(); offsetSize = 8; }
      const end = c.pos + len;
      if (end > s.info.length) throw new DwarfError('a unit runs past .debug_info');
      const version = c.u16();
      if (version < 2 || version > 5) throw new DwarfError(`DWARF version ${version} is not read`);
      let unitType = 1;
      let addrSize: number;
      let abbrevOff: number;
      if (version >= 5) { unitType = c.u8(); addrSize = c.u8(); abbrevOff = c.uN(offsetSize); } else { abbrevOff = c.uN(offsetSize); addrSize = c.u8(); }
      if (unitType === 2 || unitType === 6) c.skip(8 + offsetSize); // type units: signature, type offset
      else if (unitType === 4 || unitType === 5) c.skip(8); // skeleton / split: dwo id
      if (addrSize !== 4 && addrSize !== 8) throw new DwarfError(`an address size of ${addrSize}`);
      this.units.push({ start, end, version, addrSize, offsetSize, abbrevs: this.abbrevTable(abbrevOff), firstDie: c.pos, strOffsetsBase: 8, addrBase: 8 });
      c.pos = end;
    }
  }

  /**
   * Walks every DIE once; yields between slices. Returns the variables whose qualified name is in `wanted`, by name
   * (several when statics of one name live in several files).
   */
  *scan(wanted: ReadonlySet<string>): Generator<void, Map<string, FoundVar[]>> {
    const decls = new Map<number, { name: string; typeRef: number | null }>();
    const defs: Array<{ spec: number; die: Die; unit: Unit }> = [];
    const found = new Map<string, FoundVar[]>();
    const add = (v: FoundVar) => { if (wanted.has(v.name)) { const l = found.get(v.name) ?? []; l.push(v); found.set(v.name, l); } };
    let n = 0;
    for (const unit of this.units) {
      const scopes: Array<{ tag: number; name: string | null }> = [];
      /** How many of `scopes` are not places a global lives in (a function, a block): a variable under one is local. */
      let local = 0;
      let pos = unit.firstDie;
      while (pos < unit.end) {
        if (++n % SLICE === 0) yield;
        if (n > MAX_DIES) throw new DwarfError(`the debug information has more than ${MAX_DIES} entries`);
        const c = new Cursor(this.s.info, pos);
        if (c.uleb() === 0) { const gone = scopes.pop(); if (gone && !SCOPES.has(gone.tag)) local--; pos = c.pos; continue; }
        const die = this.die(unit, pos);
        pos = die.next;
        if (die.tag === TAG.cu || die.tag === TAG.partial || die.tag === TAG.skeleton) {
          const so = die.attrs.get(AT.strOffsetsBase);
          const ab = die.attrs.get(AT.addrBase) ?? die.attrs.get(AT.gnuAddrBase);
          if (typeof so === 'number') unit.strOffsetsBase = so;
          if (typeof ab === 'number') unit.addrBase = ab;
        }
        // A static data member is declared in its class as a variable (DWARF 5) or as a member marked a declaration
        // (DWARF 4); its definition at namespace scope points back with DW_AT_specification.
        const staticMember = die.tag === TAG.member && die.attrs.get(AT.declaration) === true;
        if ((die.tag === TAG.variable || staticMember) && local === 0 && scopes.length > 0) {
          const name = die.attrs.get(AT.name);
          const type = die.attrs.get(AT.type);
          const spec = die.attrs.get(AT.specification);
          const qual = scopes.slice(1).map((sc) => sc.name).filter((x): x is string => !!x);
          if (typeof name === 'string') {
            const q = [...qual, name].join('::');
            const typeRef = isRef(type) ? type.ref : null;
            decls.set(die.offset, { name: q, typeRef });
            if (!staticMember && !die.attrs.get(AT.declaration)) add(this.variable(unit, die, q, typeRef));
          } else if (isRef(spec)) defs.push({ spec: spec.ref, die, unit });
        }
        if (die.children) {
          if (scopes.length >= MAX_NESTING) throw new DwarfError(`the debug information nests deeper than ${MAX_NESTING}`);
          scopes.push({ tag: die.tag, name: typeof die.attrs.get(AT.name) === 'string' ? die.attrs.get(AT.name) as string : null });
          if (!SCOPES.has(die.tag)) local++;
        }
      }
    }
    for (const d of defs) {
      const decl = decls.get(d.spec);
      if (!decl) continue;
      const own = d.die.attrs.get(AT.type);
      add(this.variable(d.unit, d.die, decl.name, isRef(own) ? own.ref : decl.typeRef));
    }
    return found;
  }

  /** The type at a .debug_info offset, through typedefs and qualifiers. */
  typeAt(ref: number): VarType {
    let readonly = false;
    for (let i = 0, at = ref; i < MAX_TYPE_CHAIN; i++) {
      const { unit, die } = this.dieAt(at);
      const next = die.attrs.get(AT.type);
      switch (die.tag) {
        case TAG.typedef: case TAG.volatile: case TAG.restrict: case TAG.atomic: case TAG.const:
          if (die.tag === TAG.const) readonly = true;
          if (!isRef(next)) return { kind: 'unsupported', what: 'void' };
          at = next.ref;
          continue;
        case TAG.base: return baseType(die, readonly);
        case TAG.array: return this.arrayType(unit, die, readonly);
        default: return { kind: 'unsupported', what: describe(die) };
      }
    }
    return { kind: 'unsupported', what: 'a type chain too long to follow' };
  }

  private arrayType(unit: Unit, die: Die, readonly: boolean): VarType {
    const elem = die.attrs.get(AT.type);
    let elemType: VarType = { kind: 'unsupported', what: 'an unknown type' };
    let elemName = '';
    if (isRef(elem)) {
      elemType = this.typeAt(elem.ref);
      elemName = this.baseName(elem.ref);
    }
    const dims: number[] = [];
    if (die.children) {
      let pos = die.next;
      for (let k = 0; k < 64 && pos < unit.end; k++) {
        const c = new Cursor(this.s.info, pos);
        if (c.uleb() === 0) break;
        const child = this.die(unit, pos);
        pos = child.next;
        if (child.children) break; // not a plain list of subranges
        if (child.tag !== TAG.subrange) continue;
        const count = child.attrs.get(AT.count);
        const upper = child.attrs.get(AT.upperBound);
        dims.push(typeof count === 'number' ? count : typeof upper === 'number' ? upper + 1 : -1);
      }
    }
    const of = elemType.kind === 'unsupported' ? elemType.what : elemName || elemType.kind;
    if (dims.length !== 1 || elemType.kind !== 'int' || elemType.size !== 1 || elemName !== 'char') return { kind: 'unsupported', what: `an array of ${of}` };
    if (dims[0]! <= 0) return { kind: 'unsupported', what: 'an array of unknown length' };
    return { kind: 'chars', size: dims[0]!, readonly: readonly || elemType.readonly };
  }

  /** The name of the base type a type chain ends in ('' when it ends elsewhere). */
  private baseName(ref: number): string {
    for (let i = 0, at = ref; i < MAX_TYPE_CHAIN; i++) {
      const { die } = this.dieAt(at);
      if (die.tag === TAG.base) { const n = die.attrs.get(AT.name); return typeof n === 'string' ? n : ''; }
      const next = die.attrs.get(AT.type);
      if (die.tag === TAG.typedef || !isRef(next)) return '';
      at = next.ref;
    }
    return '';
  }

  private variable(unit: Unit, die: Die, name: string, typeRef: number | null): FoundVar {
    const loc = die.attrs.get(AT.location);
    if (die.attrs.has(AT.constValue)) return { name, address: null, typeRef, why: 'the compiler made it a constant' };
    if (!Buffer.isBuffer(loc)) return { name, address: null, typeRef, why: loc === undefined ? 'it has no place in memory (optimized away)' : 'it is not at a fixed address' };
    const c = new Cursor(loc, 0);
    try {
      const op = c.u8();
      let address: number | null = null;
      if (op === 0x03) address = c.uN(unit.addrSize); // DW_OP_addr
      else if (op === 0xa1 || op === 0xfb) address = this.indexedAddress(unit, c.uleb()); // DW_OP_addrx, DW_OP_GNU_addr_index
      if (address !== null && c.pos === loc.length) return { name, address, typeRef };
      if (loc.includes(0xe0) || loc.includes(0x9b)) return { name, address: null, typeRef, why: 'it is thread_local' };
    } catch { /* below */ }
    return { name, address: null, typeRef, why: 'it is not at a fixed address' };
  }

  private indexedAddress(unit: Unit, index: number): number {
    if (!this.s.addr) throw new DwarfError('no .debug_addr');
    return new Cursor(this.s.addr, unit.addrBase + index * unit.addrSize).uN(unit.addrSize);
  }

  private dieAt(offset: number): { unit: Unit; die: Die } {
    const unit = this.units.find((u) => offset >= u.firstDie && offset < u.end);
    if (!unit) throw new DwarfError('a type reference points outside .debug_info');
    return { unit, die: this.die(unit, offset) };
  }

  private die(unit: Unit, offset: number): Die {
    const c = new Cursor(this.s.info, offset);
    const code = c.uleb();
    const ab = unit.abbrevs.get(code);
    if (!ab) throw new DwarfError(`an unknown abbreviation ${code}`);
    const attrs = new Map<number, Value>();
    for (const [name, form, implicit] of ab.attrs) {
      const v = this.value(unit, c, form, implicit);
      if (v !== undefined && !attrs.has(name)) attrs.set(name, v);
    }
    if (c.pos > unit.end) throw new DwarfError('a DIE runs past its unit');
    return { offset, tag: ab.tag, children: ab.children, attrs, next: c.pos };
  }

  /** One attribute value; undefined for the forms the watcher never needs (skipped). */
  private value(unit: Unit, c: Cursor, form: number, implicit: number): Value | undefined {
    const os = unit.offsetSize;
    switch (form) {
      case 0x01: return c.uN(unit.addrSize);
      case 0x03: return c.bytes(c.u16());
      case 0x04: return c.bytes(c.u32());
      case 0x05: return c.u16();
      case 0x06: return c.u32();
      case 0x07: return c.u64();
      case 0x1e: c.skip(16); return undefined;
      case 0x08: return c.cstr();
      case 0x09: case 0x18: return c.bytes(c.uleb());
      case 0x0a: return c.bytes(c.u8());
      case 0x0b: return c.u8();
      case 0x0c: return c.u8() !== 0;
      case 0x0d: return c.sleb();
      case 0x0e: return strAt(this.s.str, c.uN(os));
      case 0x1f: return strAt(this.s.lineStr, c.uN(os));
      case 0x0f: return c.uleb();
      case 0x10: return { ref: c.uN(unit.version <= 2 ? unit.addrSize : os) };
      case 0x11: return { ref: unit.start + c.u8() };
      case 0x12: return { ref: unit.start + c.u16() };
      case 0x13: return { ref: unit.start + c.u32() };
      case 0x14: return { ref: unit.start + c.u64() };
      case 0x15: return { ref: unit.start + c.uleb() };
      case 0x16: { const f = c.uleb(); if (f === 0x16) throw new DwarfError('an indirect form of an indirect form'); return this.value(unit, c, f, implicit); }
      case 0x17: return c.uN(os);
      case 0x19: return true;
      case 0x1a: case 0x1f02: return this.strx(unit, c.uleb());
      case 0x25: return this.strx(unit, c.u8());
      case 0x26: return this.strx(unit, c.u16());
      case 0x27: return this.strx(unit, c.u24());
      case 0x28: return this.strx(unit, c.u32());
      case 0x1b: case 0x1f01: c.uleb(); return undefined;
      case 0x29: c.skip(1); return undefined;
      case 0x2a: c.skip(2); return undefined;
      case 0x2b: c.skip(3); return undefined;
      case 0x2c: c.skip(4); return undefined;
      case 0x1c: c.skip(4); return undefined;
      case 0x24: case 0x20: c.skip(8); return undefined;
      case 0x1d: case 0x1f20: case 0x1f21: c.skip(os); return undefined;
      case 0x21: return implicit;
      case 0x22: case 0x23: c.uleb(); return undefined;
      default: throw new DwarfError(`an unknown attribute form 0x${form.toString(16)}`);
    }
  }

  private strx(unit: Unit, index: number): string | undefined {
    if (!this.s.strOffsets) return undefined;
    const off = new Cursor(this.s.strOffsets, unit.strOffsetsBase + index * unit.offsetSize).uN(unit.offsetSize);
    return strAt(this.s.str, off);
  }

  private abbrevTable(offset: number): Map<number, Abbrev> {
    const cached = this.abbrevCache.get(offset);
    if (cached) return cached;
    const table = new Map<number, Abbrev>();
    this.abbrevCache.set(offset, table);
    const c = new Cursor(this.s.abbrev, offset);
    for (;;) {
      const code = c.uleb();
      if (code === 0) return table;
      if (++this.abbrevWork > MAX_ABBREV_WORK) throw new DwarfError(`more than ${MAX_ABBREV_WORK} abbreviations`);
      const tag = c.uleb();
      const children = c.u8() === 1;
      const attrs: Array<[number, number, number]> = [];
      for (;;) {
        const name = c.uleb();
        const form = c.uleb();
        if (name === 0 && form === 0) break;
        if (attrs.length >= MAX_ABBREV_ATTRS) throw new DwarfError(`an abbreviation with more than ${MAX_ABBREV_ATTRS} attributes`);
        attrs.push([name, form, form === 0x21 ? c.sleb() : 0]);
      }
      table.set(code, { tag, children, attrs });
    }
  }
}

function isRef(v: Value | undefined): v is { ref: number } { return typeof v === 'object' && v !== null && !Buffer.isBuffer(v) && 'ref' in v; }

function strAt(sec: Buffer | null, off: number): string | undefined {
  if (!sec || off >= sec.length) return undefined;
  const e = sec.indexOf(0, off);
  return e < 0 ? undefined : sec.toString('utf8', off, e);
}

function baseType(die: Die, readonly: boolean): VarType {
  const enc = die.attrs.get(AT.encoding);
  const size = die.attrs.get(AT.byteSize);
  const name = typeof die.attrs.get(AT.name) === 'string' ? die.attrs.get(AT.name) as string : 'a base type';
  if (typeof size !== 'number') return { kind: 'unsupported', what: name };
  if (enc === ATE.boolean && size >= 1 && size <= 8) return { kind: 'bool', size, readonly };
  if (enc === ATE.float && (size === 4 || size === 8)) return { kind: 'float', size, readonly };
  const signed = enc === ATE.signed || enc === ATE.signedChar;
  const unsigned = enc === ATE.unsigned || enc === ATE.unsignedChar || enc === ATE.utf;
  if ((signed || unsigned) && [1, 2, 4, 8, 16].includes(size)) return { kind: 'int', size, signed, readonly };
  return { kind: 'unsupported', what: name };
}

function describe(die: Die): string {
  const name = die.attrs.get(AT.name);
  const n = typeof name === 'string' ? ` ${name}` : '';
  switch (die.tag) {
    case TAG.struct: return `struct${n}`;
    case TAG.class: return `class${n}`;
    case TAG.union: return `union${n}`;
    case TAG.enum: return `enum${n}`;
    case TAG.pointer: return 'a pointer';
    case TAG.reference: case TAG.rvalueRef: return 'a reference';
    default: return `a type of DWARF tag 0x${die.tag.toString(16)}${n}`;
  }
}
