// The Python `vehicle` package for Velocitas apps, generated from the vehicle model the agent serves, in the form the
// Velocitas model generator gives it: one package per VSS branch (`vehicle/Cabin/Door/__init__.py` holds
// `class Door(Model)`), a `DataPoint<Type>` of velocitas_sdk.model per leaf (`DataPointFloat`, `DataPointUint8Array`…),
// expanded instances as plain branches (`vehicle.Cabin.Door.Row1.DriverSide.IsOpen`), class docstrings from the VSS
// descriptions, and the module-level `vehicle = Vehicle("Vehicle")` (or the model's own root: rootOf). Pure: a model in, file texts out, the same bytes
// for the same model (files in tree order, imports sorted).
//
// Two steps, each a generator of pause points where a caller writing the package yields to the event loop, so that no
// model holds the agent: planSteps (one pass over the leaves: the Python names, and the refusal of a node Python
// cannot hold) and emitPythonModel (one file at a time, as UTF-8 chunks that are never joined, refused as soon as the
// package passes PYTHON_LIMITS). generatePythonModel runs both at once, for tests and small models.
//
// Names: an attribute keeps its VSS name (the SDK's getNode walks attributes by VSS name), set with setattr when it is
// no plain Python identifier; a module and class name is the VSS name made a Python identifier, unique among its
// siblings (also ignoring case, for case-insensitive file systems) and never a name the generated code itself uses.
import { cryptoModule } from '../core/crypto-module';
import type { SignalMeta, VssModel } from '../signals/vss';

/** Bumped when the output changes for the same model, so packages written by an older agent are rewritten. */
export const PYTHON_MODEL_FORMAT = 3;

/** The bound of the package's text (32 MiB: twice the largest frame a client may send; VSS 4.0 makes 0.4 MiB). */
export const PYTHON_LIMITS = { maxPackageBytes: 32 * 1024 * 1024 } as const;

/**
 * What a docstring shows of one leaf or branch: texts (description, comment, unit, an allowed value) up to 4 096
 * characters, and the first 256 allowed values (VSS 4.0: 1 138 characters and 32 values at most). The model itself
 * keeps them whole.
 */
export const DOC_LIMITS = { maxText: 4096, maxAllowed: 256 } as const;

/** A model the package cannot be made from (a name Python cannot hold, a package past its bound); names the node. */
export class PythonModelError extends Error { override name = 'PythonModelError'; }

export interface PythonModel {
  /** Relative path (`vehicle/__init__.py`, `vehicle/Cabin/__init__.py`, …) → file text. */
  readonly files: ReadonlyMap<string, string>;
  /** sha256 of the format and every file: equal hashes, equal packages. */
  readonly hash: string;
  /** Leaves offered as data points. */
  readonly signals: number;
  readonly branches: number;
  /** Paths left out: a name the SDK's Model already uses (`name`, `parent`, `get`…), or roots other than the package's (rootOf). */
  readonly skipped: readonly string[];
}

/** Attributes of velocitas_sdk.model.Model and Node: a VSS child with one of these names would break the node. */
const RESERVED = new Set(['name', 'parent', 'get_path', 'get_client', 'start', 'get_context', 'set_context', 'set_many', 'getNode']);
const PY_KEYWORDS = new Set(('False None True and as assert async await break class continue def del elif else except finally for from global if '
  + 'import in is lambda nonlocal not or pass raise return try while with yield match case type').split(' '));
/** Names the generated code uses itself (parameters, builtins it calls): a class or import with one would shadow it. */
const GENERATED_NAMES = new Set(['self', 'super', 'setattr', 'name', 'parent', 'vehicle']);
const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** A name Python keeps for itself (`__class__`, `__dict__`, `__init__`…): as an attribute it breaks the object. */
const DUNDER = /^__.*__$/;
/** Leaves planned, or children whose statement is generated, between two pause points. */
const PAUSE_EVERY = 256;
/** Characters of a module turned into bytes at once. */
const BATCH_CHARS = 64 * 1024;

/** VSS datatype → the SDK's data point class. */
export function dataPointClass(dataType: string): string {
  const array = dataType.endsWith('[]');
  const base = array ? dataType.slice(0, -2) : dataType;
  return `DataPoint${base[0]!.toUpperCase()}${base.slice(1)}${array ? 'Array' : ''}`;
}

/** A VSS name as a Python identifier for a class and package (VSS allows `12V`, `None`, `__x`; Python does not). */
function pyName(name: string): string {
  if (!IDENT.test(name) || name.startsWith('__')) return `N_${name}`;
  return PY_KEYWORDS.has(name) || GENERATED_NAMES.has(name) ? `${name}_` : name;
}

interface BranchNode {
  readonly path: string;
  readonly name: string;
  /** The class name, and the package folder's name: unique among its siblings. */
  readonly py: string;
  readonly children: Array<BranchNode | SignalMeta>;
}

const isBranch = (c: BranchNode | SignalMeta): c is BranchNode => 'children' in c;
const leafName = (m: SignalMeta): string => m.path.slice(m.path.lastIndexOf('.') + 1);

export interface PythonPlan {
  readonly model: VssModel;
  readonly root: BranchNode;
  readonly signals: number;
  readonly branches: number;
  readonly skipped: readonly string[];
}

/**
 * The package's tree and names for `model`, or null when its root (rootOf) has no leaves. Throws a
 * PythonModelError naming the first node Python cannot hold (a name like `__class__`). A generator of pause points
 * (every PAUSE_EVERY leaves); planPythonModel runs it at once.
 */
export function* planSteps(model: VssModel): Generator<undefined, PythonPlan | null> {
  const skipped: string[] = [];
  const skippedSet = new Set<string>();
  const skip = (p: string) => { if (!skippedSet.has(p)) { skippedSet.add(p); skipped.push(p); } };
  const top = rootOf(model);
  const root: BranchNode = { path: top, name: top, py: pyName(top), children: [] };
  const branches = new Map<string, BranchNode>([[top, root]]);
  // Folder names taken among each branch's children, in lower case (two siblings `Door` and `door` are one folder on a
  // case-insensitive file system).
  const taken = new Map<BranchNode, Set<string>>();
  const refuse = (path: string, name: string) => {
    if (DUNDER.test(name)) throw new PythonModelError(`${path}: "${name}" is a name Python keeps for itself (__name__ form), so the generated vehicle package could not hold it; rename the node`);
  };
  let signals = 0;
  let n = 0;
  for (const leaf of model.all()) {
    if (++n % PAUSE_EVERY === 0) yield;
    const parts = leaf.path.split('.');
    if (parts[0] !== top) { skip(parts[0]!); continue; }
    let node = root;
    let blocked = false;
    let path = top;
    for (let i = 1; i < parts.length - 1; i++) {
      const name = parts[i]!;
      path = `${path}.${name}`;
      let next = branches.get(path);
      if (!next) {
        refuse(path, name);
        if (RESERVED.has(name)) { blocked = true; skip(path); break; }
        let seen = taken.get(node);
        if (!seen) taken.set(node, (seen = new Set()));
        let py = pyName(name);
        while (seen.has(py.toLowerCase())) py = `${py}_`;
        seen.add(py.toLowerCase());
        next = { path, name, py, children: [] };
        branches.set(path, next);
        node.children.push(next);
      }
      node = next;
    }
    if (blocked) continue;
    refuse(leaf.path, parts[parts.length - 1]!);
    if (RESERVED.has(parts[parts.length - 1]!)) { skip(leaf.path); continue; }
    node.children.push(leaf);
    signals++;
  }
  if (!root.children.length) return null;
  return { model, root, signals, branches: branches.size, skipped };
}

/**
 * The root the package is made for: `Vehicle` when the model has it, else the root of its first leaf (an Autowrx
 * model's own main_api, `FarmMachinery`): `vehicle = FarmMachinery("FarmMachinery")`, as the Python runtime patches
 * the generator's output (kuksa-syncer vehicle_model_manager.py). Leaves under any other root are skipped.
 */
export function rootOf(model: VssModel): string {
  const all = model.all();
  if (all.some((l) => l.path.startsWith('Vehicle.'))) return 'Vehicle';
  return all[0]?.path.split('.')[0] ?? 'Vehicle';
}

export function planPythonModel(model: VssModel): PythonPlan | null {
  const g = planSteps(model);
  for (;;) { const r = g.next(); if (r.done) return r.value; }
}

/**
 * Text safe inside a triple-quoted docstring: no control characters (Python refuses NUL in source), no `"""`; cut at
 * DOC_LIMITS.maxText characters, so one text costs the generator a bounded time.
 */
function docText(text: string): string {
  const s = text.length > DOC_LIMITS.maxText ? `${text.slice(0, DOC_LIMITS.maxText)} […]` : text;
  return s.replace(/\r\n?/g, '\n')
    // C0 and C1 controls but tab and newline; DEL.
    .replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, '')
    .replace(/\\/g, '\\\\').replace(/"""/g, '\\"\\"\\"').trim();
}

function indent(text: string, spaces: number): string {
  const pad = ' '.repeat(spaces);
  return text.split('\n').map((l) => (l ? pad + l : l)).join('\n');
}

/**
 * The lines of one module as UTF-8 chunks, and what they may add up to: the package's bound less what the modules
 * before made. Lines are turned into bytes a batch at a time and never joined (a module of a wide branch is
 * megabytes: joined or copied at once, it would hold the event loop), and a module past its room is refused before it
 * is whole.
 */
class ModuleLines {
  private readonly chunks: Buffer[] = [];
  private pending: string[] = [];
  private pendingSize = 0;
  private size = 0;

  constructor(private readonly room: number, private readonly tooBig: () => PythonModelError) {}

  push(...ls: string[]): void {
    for (const l of ls) { this.pending.push(l, '\n'); this.pendingSize += l.length + 1; }
    if (this.pendingSize >= BATCH_CHARS) this.flush();
  }

  private flush(): void {
    const b = Buffer.from(this.pending.join(''));
    this.pending = [];
    this.pendingSize = 0;
    this.size += b.length;
    this.chunks.push(b);
    if (this.size > this.room) throw this.tooBig();
  }

  bytes(): { chunks: Buffer[]; size: number } {
    this.flush();
    return { chunks: this.chunks, size: this.size };
  }
}

/** The class docstring's lines, pausing after every child (a child's texts may be long). */
function* classDoc(model: VssModel, node: BranchNode, out: ModuleLines): Generator<undefined, void> {
  const meta = model.branchMeta(node.path);
  out.push(indent(`"""${meta.description ? `${node.name}: ${docText(meta.description)}` : `${node.name} branch of the vehicle model.`}`, 4));
  if (meta.comment) out.push('', indent(docText(meta.comment), 4));
  out.push('', `    VSS path: ${node.path}`, '', '    Attributes', '    ----------');
  for (const c of node.children) {
    yield;
    if (isBranch(c)) {
      const m = model.branchMeta(c.path);
      out.push(`    ${c.name}: branch`);
      if (m.description) out.push(indent(docText(m.description), 8));
      continue;
    }
    out.push(`    ${leafName(c)}: ${c.entryType} (${c.dataType})`);
    const lines: string[] = [];
    if (c.description) lines.push(docText(c.description));
    if (c.comment) lines.push('', docText(c.comment));
    const facts: string[] = [];
    if (c.min !== undefined || c.max !== undefined) facts.push(`Value range: [${c.min ?? ''}, ${c.max ?? ''}]`);
    if (c.unit) facts.push(`Unit: ${docText(c.unit)}`);
    if (c.allowed?.length) {
      const shown = c.allowed.slice(0, DOC_LIMITS.maxAllowed).map((a) => docText(String(a))).join(', ');
      facts.push(`Allowed values: ${shown}${c.allowed.length > DOC_LIMITS.maxAllowed ? `, … (${c.allowed.length - DOC_LIMITS.maxAllowed} more)` : ''}`);
    }
    if (facts.length) lines.push('', ...facts);
    if (lines.length) out.push(indent(lines.join('\n'), 8));
  }
  out.push('    """');
}

/**
 * The statement that makes child `name` an attribute under its VSS name: setattr when it is no plain identifier (a
 * keyword, `12V`) or starts with `__` (Python would mangle `self.__x` inside the class into `_Vehicle__x`).
 */
function assign(name: string, expr: string): string {
  return IDENT.test(name) && !PY_KEYWORDS.has(name) && !name.startsWith('__') ? `self.${name} = ${expr}` : `setattr(self, ${JSON.stringify(name)}, ${expr})`;
}

/** One branch's module, pausing every PAUSE_EVERY children. */
function* moduleText(model: VssModel, node: BranchNode, modulePath: string, isRoot: boolean, lines: ModuleLines): Generator<undefined, { chunks: Buffer[]; size: number }> {
  const cls = node.py;
  const sdk = new Set<string>(['Model']);
  let n = 0;
  for (const c of node.children) {
    if (++n % PAUSE_EVERY === 0) yield;
    if (!isBranch(c)) sdk.add(dataPointClass(c.dataType));
  }
  // An SDK name equal to the class's own is imported under another name.
  const sdkRef = (n: string) => (n === cls ? `_sdk_${n}` : n);
  // Names this module defines, imports or uses must not collide: an SDK name, the class itself and the names the
  // code uses win over a child class, which is then imported under another name.
  const taken = new Set<string>([cls, ...sdk, ...[...sdk].map(sdkRef), ...GENERATED_NAMES]);
  const childRef = new Map<BranchNode, string>();
  const childImports: string[] = [];
  for (const c of node.children) {
    if (++n % PAUSE_EVERY === 0) yield;
    if (!isBranch(c)) continue;
    let ref = c.py;
    while (taken.has(ref)) ref = `${ref}_`;
    taken.add(ref);
    childRef.set(c, ref);
    childImports.push(`from ${modulePath}.${c.py} import ${c.py}${ref === c.py ? '' : ` as ${ref}`}`);
  }
  lines.push(`"""${docText(node.path)}: generated by sdv-agent from the vehicle model it serves; rewritten when that model changes."""`, '');
  // Branch imports first: importing the child package vehicle.X.Model sets this package's global `Model` to that
  // module, so the SDK's names are bound after them.
  if (childImports.length) lines.push(...childImports.sort(), '');
  lines.push(
    'from velocitas_sdk.model import (',
    ...[...sdk].sort().map((n) => `    ${n}${sdkRef(n) === n ? '' : ` as ${sdkRef(n)}`},`),
    ')',
  );
  lines.push('', '', `class ${cls}(${sdkRef('Model')}):`);
  yield* classDoc(model, node, lines);
  lines.push('');
  lines.push(isRoot ? '    def __init__(self, name):' : '    def __init__(self, name, parent):');
  lines.push(`        """Create the ${docText(node.name)} branch (VSS ${docText(node.path)})."""`);
  lines.push(isRoot ? '        super().__init__()' : '        super().__init__(parent)', '        self.name = name');
  if (node.children.length) lines.push('');
  for (const c of node.children) {
    if (++n % PAUSE_EVERY === 0) yield;
    if (isBranch(c)) lines.push(`        ${assign(c.name, `${childRef.get(c)}(${JSON.stringify(c.name)}, self)`)}`);
    else lines.push(`        ${assign(leafName(c), `${sdkRef(dataPointClass(c.dataType))}(${JSON.stringify(leafName(c))}, self)`)}`);
  }
  if (isRoot) lines.push('', '', `vehicle = ${cls}(${JSON.stringify(node.name)})`);
  return lines.bytes();
}

/**
 * A file of the package (path relative to the folder that holds `vehicle/`) as UTF-8 chunks and their size, or
 * undefined: a point to pause.
 */
export type Emitted = { readonly file: string; readonly chunks: readonly Buffer[]; readonly size: number } | undefined;

/**
 * The package's files, parents before children, with pause points between and inside modules. Throws a
 * PythonModelError as soon as the package is past `maxBytes`.
 */
export function* emitPythonModel(plan: PythonPlan, maxBytes: number = PYTHON_LIMITS.maxPackageBytes): Generator<Emitted, void> {
  let used = 0;
  let files = 0;
  const tooBig = () => new PythonModelError(`the Python vehicle package of this model is larger than ${maxBytes / 1024 / 1024} MiB (${files} of its ${plan.branches} modules made ${used} bytes, and the next is larger than what is left): shorten its descriptions or leave out branches`);
  const walk = function* (node: BranchNode, dir: string, modulePath: string, isRoot: boolean): Generator<Emitted, void> {
    const { chunks, size } = yield* moduleText(plan.model, node, modulePath, isRoot, new ModuleLines(maxBytes - used, tooBig));
    used += size;
    files++;
    yield { file: `${dir}/__init__.py`, chunks, size };
    for (const c of node.children) if (isBranch(c)) yield* walk(c, `${dir}/${c.py}`, `${modulePath}.${c.py}`, false);
  };
  yield* walk(plan.root, 'vehicle', 'vehicle', true);
}

/** The whole package at once (tests, and small models), or null when the model's root has no leaves. */
export function generatePythonModel(model: VssModel): PythonModel | null {
  const plan = planPythonModel(model);
  if (!plan) return null;
  const files = new Map<string, string>();
  for (const f of emitPythonModel(plan)) if (f) files.set(f.file, Buffer.concat(f.chunks).toString('utf8'));
  const h = cryptoModule().createHash('sha256').update(`format ${PYTHON_MODEL_FORMAT}\n`);
  for (const [p, text] of files) h.update(`${p}\n${text.length}\n`).update(text);
  return { files, hash: h.digest('hex'), signals: plan.signals, branches: plan.branches, skipped: plan.skipped };
}
