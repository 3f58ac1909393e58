// Watched variables of a running C++ program (run_cpp_app with data.watch_vars; set_vars_value), without stopping
// it or changing its code: the program is built with debug information (-O0 -g, or CMAKE_BUILD_TYPE=Debug), each
// watched name is looked up in the executable's DWARF (cpp-dwarf.ts: address and type) beside its symbol table
// (cpp-elf.ts), and the values are read from the process's memory (cpp-process.ts: /proc/<pid>/mem, only the run's
// own program) SAMPLE_MS apart; the ones that changed go out as one {name: value} object (the first sample carries
// all). set_vars_value writes a checked value of the variable's type and size (cpp-values.ts).
// Bounds: MAX_WATCHED names (tracer.ts), MAX_DEBUG_BYTES of debug information read from the file (parsed in slices
// between event-loop turns), at most MAX_STRING_READ bytes of a char array per sample: at most 64 KiB read per sample.
// What cannot be watched is said once, in one line of the run's output; the run goes on.
import fs = require('node:fs');
import { badRequest, unavailable } from '../../core/errors';
import type { RunAs } from '../../user-code/run-as';
import { MAX_WATCHED } from '../tracer';
import { Dwarf, type FoundVar, type VarType } from './cpp-dwarf';
import { ElfFile } from './cpp-elf';
import { attach, findProgram, type Attached, type ExeIdentity } from './cpp-process';
import { decode, encode, readSize, typeName, type Readable } from './cpp-values';

export const SAMPLE_MS = 250;
const MAX_DEBUG_BYTES = 64 * 1024 * 1024;
/** After this many searches without finding the program, search only every SLOW_FIND-th sample. */
const FAST_FINDS = 40;
const SLOW_FIND = 8;
const NAME = /^[A-Za-z_][A-Za-z0-9_]*(::[A-Za-z_][A-Za-z0-9_]*)*$/;

/** "a, b", "a b" or ["a","b"] → C++ names (`counter`, `ns::limit`) and what was skipped (not a name, past the bound). */
export function splitCppNames(input: unknown): { names: string[]; skipped: string[] } {
  const raw = typeof input === 'string' ? input.split(/[\s,]+/).filter(Boolean) : Array.isArray(input) ? input : [input];
  const names: string[] = [];
  const skipped: string[] = [];
  for (const n of raw) {
    if (typeof n === 'string' && NAME.test(n) && n.length <= 256 && names.length < MAX_WATCHED) { if (!names.includes(n)) names.push(n); }
    else if (skipped.length < 10) skipped.push(typeof n === 'string' ? n.slice(0, 60) : String(JSON.stringify(n)).slice(0, 60));
  }
  return { names, skipped };
}

export interface CppWatchOptions {
  readonly names: readonly string[];
  /** The executable the build made (the program the run starts). */
  readonly exe: string;
  /** The run's process: the wrapper the program is a direct child of (AdhocRun.pid). */
  readonly wrapperPid: number;
  readonly runAs: RunAs | null;
  onVars(vars: Record<string, unknown>): void;
  /** One line into the run's output ("Warning: …"). */
  onLine(text: string): void;
}

interface Watched { readonly name: string; readonly address: number; readonly type: Readable }

export class CppWatch {
  readonly watch: readonly string[];
  private vars: Watched[] = [];
  /** Why a name asked for is not watched (not found, no address, a type not read). */
  private readonly refused = new Map<string, string>();
  private exe: ExeIdentity | null = null;
  private pie = false;
  private linkBase = 0;
  private target: Attached | null = null;
  private readonly last = new Map<string, string>();
  private timer: NodeJS.Timeout | null = null;
  private finds = 0;
  private closed = false;
  private readonly uid: number;
  private markReady: () => void = () => {};
  /** Resolves once the executable has been read (or could not be). */
  readonly ready: Promise<void>;

  constructor(private readonly opts: CppWatchOptions) {
    this.watch = [...opts.names];
    this.uid = opts.runAs ? opts.runAs.uid : process.getuid!();
    this.ready = new Promise((r) => { this.markReady = r; });
    void this.prepare();
  }

  private async prepare(): Promise<void> {
    try {
      await this.readExecutable();
    } catch (e) {
      for (const n of this.watch) this.refused.set(n, `the program's debug information cannot be read: ${(e as Error).message}`);
    }
    this.markReady();
    if (this.closed) return;
    if (this.refused.size) {
      const problems = [...this.refused].map(([n, why]) => `"${n}": ${why}`).join('; ');
      this.opts.onLine(`Warning: watch_vars: ${problems}; ${this.vars.length ? `watching ${this.vars.map((v) => v.name).join(', ')}` : 'watching nothing'}`);
    }
    if (this.vars.length) this.timer = setInterval(() => this.tick(), SAMPLE_MS);
  }

  private async readExecutable(): Promise<void> {
    // The build folder is the run user's: the file is opened without following a link, and only a regular file of
    // the run user's is read.
    const fd = fs.openSync(this.opts.exe, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
    try {
      const st = fs.fstatSync(fd);
      if (!st.isFile() || st.uid !== this.uid) throw new Error('the built program is not a file of the run user\'s');
      this.exe = { dev: st.dev, ino: st.ino };
      const elf = new ElfFile(fd, MAX_DEBUG_BYTES);
      this.pie = elf.pie;
      this.linkBase = elf.firstLoadVaddr();
      const info = elf.section('.debug_info');
      const abbrev = elf.section('.debug_abbrev');
      if (!info || !abbrev) throw new Error('the program was built without it (-g)');
      const dwarf = new Dwarf({ info, abbrev, str: elf.section('.debug_str'), lineStr: elf.section('.debug_line_str'), strOffsets: elf.section('.debug_str_offsets'), addr: elf.section('.debug_addr') });
      const scan = dwarf.scan(new Set(this.watch));
      let step = scan.next();
      while (!step.done) {
        await new Promise((r) => setImmediate(r));
        if (this.closed) return;
        step = scan.next();
      }
      const symbols = elf.dataSymbols();
      for (const name of this.watch) this.resolve(name, step.value.get(name) ?? [], dwarf, symbols);
    } finally { fs.closeSync(fd); }
  }

  private resolve(name: string, found: FoundVar[], dwarf: Dwarf, symbols: ReturnType<ElfFile['dataSymbols']>): void {
    if (found.length === 0) {
      this.refused.set(name, symbols.some((s) => s.name === name)
        ? 'it is in the symbol table but not in the debug information (a file built without -g?)'
        : 'not a global or file-scope static variable of the program');
      return;
    }
    const placed = [...new Map(found.filter((f) => f.address !== null).map((f) => [f.address, f])).values()];
    if (placed.length === 0) { this.refused.set(name, `it cannot be read: ${found[0]!.why}`); return; }
    if (placed.length > 1) { this.refused.set(name, `${placed.length} file-scope statics have that name (in different files)`); return; }
    const v = placed[0]!;
    let type: VarType;
    try { type = v.typeRef === null ? { kind: 'unsupported', what: 'an unknown type' } : dwarf.typeAt(v.typeRef); } catch (e) { type = { kind: 'unsupported', what: `an unreadable type (${(e as Error).message})` }; }
    if (type.kind === 'unsupported') { this.refused.set(name, `its type is ${type.what}: not supported (integers, float, double, bool and char arrays are)`); return; }
    const sym = symbols.find((s) => s.value === v.address && s.size > 0);
    if (sym && sym.size < readSize(type)) { this.refused.set(name, `its symbol is ${sym.size} bytes, less than its type (${type.size})`); return; }
    this.vars.push({ name, address: v.address!, type });
  }

  private tick(): void {
    if (this.closed) return;
    if (!this.target) {
      if (++this.finds > FAST_FINDS && this.finds % SLOW_FIND !== 0) return;
      const pid = findProgram(this.opts.wrapperPid, this.exe!, this.uid);
      if (pid === null) return;
      const t = attach(pid, this.opts.wrapperPid, this.exe!, this.uid, this.pie, this.linkBase);
      if (typeof t === 'string') {
        this.opts.onLine(`Warning: watch_vars: the program's variables cannot be read: ${t}; watching nothing`);
        this.stopSampling();
        return;
      }
      this.target = t;
    }
    this.sample();
  }

  private sample(): void {
    const t = this.target;
    if (!t) return;
    const changed: Record<string, unknown> = {};
    let any = false;
    for (const v of this.vars) {
      const buf = t.read(v.address + t.bias, readSize(v.type));
      if (!buf) continue;
      any = true;
      const value = decode(v.type, buf);
      const key = JSON.stringify(value);
      if (this.last.get(v.name) !== key) { this.last.set(v.name, key); changed[v.name] = value; }
    }
    // Nothing readable: the program has ended or become another image; it is looked for again.
    if (!any) { t.close(); this.target = null; return; }
    if (Object.keys(changed).length) this.opts.onVars(changed);
  }

  /** Writes checked values; all or nothing. Returns the names written. Throws CommandError with every reason. */
  set(values: Record<string, unknown>): string[] {
    if (this.closed) throw unavailable('set_vars_value: the program has ended');
    const writes: Array<{ v: Watched; data: Buffer }> = [];
    const errors: string[] = [];
    for (const [name, input] of Object.entries(values)) {
      const v = this.vars.find((w) => w.name === name);
      if (!v) { errors.push(`${name}: ${this.refused.get(name) ?? 'not watched'}`); continue; }
      const data = encode(v.type, input);
      if (typeof data === 'string') errors.push(`${name} (${typeName(v.type)}): ${data}`);
      else writes.push({ v, data });
    }
    const watching = `watched: ${this.vars.map((w) => w.name).join(', ') || 'nothing'}`;
    if (errors.length || writes.length === 0) {
      const msg = `set_vars_value: ${errors.length ? errors.join('; ') : 'no value given'}; nothing was written (${watching})`;
      this.opts.onLine(`Error: ${msg}`);
      throw badRequest(msg);
    }
    if (this.target && !this.target.alive()) { this.target.close(); this.target = null; this.finds = 0; }
    if (!this.target) throw unavailable('set_vars_value: the program is not being read (it is starting, or it has ended or become another program); nothing was written');
    for (const { v, data } of writes) {
      try { this.target.write(v.address + this.target.bias, data); } catch (e) {
        const msg = `set_vars_value: ${v.name}: ${(e as Error).message}`;
        this.opts.onLine(`Error: ${msg}`);
        throw badRequest(msg);
      }
    }
    this.sample();
    return writes.map((w) => w.v.name);
  }

  private stopSampling(): void {
    if (this.timer) { clearInterval(this.timer); this.timer = null; }
    this.target?.close();
    this.target = null;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.stopSampling();
  }
}
