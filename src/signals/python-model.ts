// The Python `vehicle` package for Velocitas apps, generated from the vehicle model the agent serves, in the form the
// Velocitas model generator gives it: one package per VSS branch (`vehicle/Cabin/Door/__init__.py` holds
// `class Door(Model)`), a `DataPoint<Type>` of velocitas_sdk.model per leaf (`DataPointFloat`, `DataPointUint8Array`…),
// expanded instances as plain branches (`vehicle.Cabin.Door.Row1.DriverSide.IsOpen`), class docstrings from the VSS
// descriptions, and the module-level `vehicle = Vehicle("Vehicle")`. Pure: a model in, file texts out, the same bytes
// for the same model (files in tree order, imports sorted), so a hash of the output says whether it must be rewritten.
import * as crypto from 'node:crypto';
import type { SignalMeta, VssModel } from './vss';

/** Bumped when the output changes for the same model, so packages written by an older agent are rewritten. */
export const PYTHON_MODEL_FORMAT = 2;

export interface PythonModel {
  /** Relative path (`vehicle/__init__.py`, `vehicle/Cabin/__init__.py`, …) → file text. */
  readonly files: ReadonlyMap<string, string>;
  /** sha256 of the format and every file: equal hashes, equal packages. */
  readonly hash: string;
  /** Leaves offered as data points. */
  readonly signals: number;
  readonly branches: number;
  /** Paths left out: a name the SDK's Model already uses (`name`, `parent`, `get`…), or roots other than Vehicle. */
  readonly skipped: readonly string[];
}

/** Attributes of velocitas_sdk.model.Model and Node: a VSS child with one of these names would break the node. */
const RESERVED = new Set(['name', 'parent', 'get_path', 'get_client', 'start', 'get_context', 'set_context', 'set_many', 'getNode']);
const PY_KEYWORDS = new Set(('False None True and as assert async await break class continue def del elif else except finally for from global if '
  + 'import in is lambda nonlocal not or pass raise return try while with yield match case type').split(' '));
const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** VSS datatype → the SDK's data point class. */
export function dataPointClass(dataType: string): string {
  const array = dataType.endsWith('[]');
  const base = array ? dataType.slice(0, -2) : dataType;
  return `DataPoint${base[0]!.toUpperCase()}${base.slice(1)}${array ? 'Array' : ''}`;
}

/** A VSS name as a Python class and package name (VSS allows names Python does not, like `12V` or `None`). */
function pyName(name: string): string {
  if (!IDENT.test(name) || name.startsWith('__')) return `N_${name}`;
  return PY_KEYWORDS.has(name) ? `${name}_` : name;
}

interface BranchNode { path: string; name: string; children: Array<BranchNode | SignalMeta> }

const isBranch = (c: BranchNode | SignalMeta): c is BranchNode => 'children' in c;

/** Rebuilds the branch tree from the leaves (they come in tree order; a branch appears where its first leaf does). */
function buildTree(model: VssModel, skipped: string[]): BranchNode | null {
  const root: BranchNode = { path: 'Vehicle', name: 'Vehicle', children: [] };
  const branches = new Map<string, BranchNode>([['Vehicle', root]]);
  for (const leaf of model.leaves.values()) {
    const parts = leaf.path.split('.');
    if (parts[0] !== 'Vehicle') { if (!skipped.includes(parts[0]!)) skipped.push(parts[0]!); continue; }
    let node = root;
    let blocked = false;
    for (let i = 1; i < parts.length - 1 && !blocked; i++) {
      const path = parts.slice(0, i + 1).join('.');
      let next = branches.get(path);
      if (!next) {
        if (RESERVED.has(parts[i]!)) { blocked = true; if (!skipped.includes(path)) skipped.push(path); break; }
        next = { path, name: parts[i]!, children: [] };
        branches.set(path, next);
        node.children.push(next);
      }
      node = next;
    }
    if (blocked) continue;
    if (RESERVED.has(parts[parts.length - 1]!)) { skipped.push(leaf.path); continue; }
    node.children.push(leaf);
  }
  return root.children.length ? root : null;
}

/** Text safe inside a triple-quoted docstring. */
function docText(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/"""/g, '\\"\\"\\"').replace(/\r\n?/g, '\n').trim();
}

function indent(text: string, spaces: number): string {
  const pad = ' '.repeat(spaces);
  return text.split('\n').map((l) => (l ? pad + l : l)).join('\n');
}

function classDoc(model: VssModel, node: BranchNode): string {
  const meta = model.branchMeta(node.path);
  const out: string[] = [meta.description ? `${node.name}: ${docText(meta.description)}` : `${node.name} branch of the vehicle model.`];
  if (meta.comment) out.push('', docText(meta.comment));
  out.push('', `VSS path: ${node.path}`, '', 'Attributes', '----------');
  for (const c of node.children) {
    if (isBranch(c)) {
      const m = model.branchMeta(c.path);
      out.push(`${c.name}: branch`);
      if (m.description) out.push(indent(docText(m.description), 4));
      continue;
    }
    out.push(`${c.path.slice(c.path.lastIndexOf('.') + 1)}: ${c.entryType} (${c.dataType})`);
    const lines: string[] = [];
    if (c.description) lines.push(docText(c.description));
    if (c.comment) lines.push('', docText(c.comment));
    const facts: string[] = [];
    if (c.min !== undefined || c.max !== undefined) facts.push(`Value range: [${c.min ?? ''}, ${c.max ?? ''}]`);
    if (c.unit) facts.push(`Unit: ${docText(c.unit)}`);
    if (c.allowed?.length) facts.push(`Allowed values: ${c.allowed.map((a) => docText(String(a))).join(', ')}`);
    if (facts.length) lines.push('', ...facts);
    if (lines.length) out.push(indent(lines.join('\n'), 4));
  }
  return `"""${out.join('\n')}\n"""`;
}

/** The python statement that makes child `name` an attribute (setattr when the VSS name is no Python identifier). */
function assign(name: string, expr: string): string {
  return IDENT.test(name) && !PY_KEYWORDS.has(name) ? `self.${name} = ${expr}` : `setattr(self, ${JSON.stringify(name)}, ${expr})`;
}

function moduleText(model: VssModel, node: BranchNode, isRoot: boolean): string {
  const cls = pyName(node.name);
  const modulePath = ['vehicle', ...node.path.split('.').slice(1).map(pyName)].join('.');
  const sdk = new Set<string>(['Model']);
  for (const c of node.children) if (!isBranch(c)) sdk.add(dataPointClass(c.dataType));
  // Names this module defines or imports must not collide: an SDK name or the class itself wins over a child class,
  // which is then imported under another name.
  const taken = new Set<string>([cls, ...sdk]);
  const childRef = new Map<BranchNode, string>();
  const childImports: string[] = [];
  for (const c of node.children) {
    if (!isBranch(c)) continue;
    const childCls = pyName(c.name);
    let ref = childCls;
    while (taken.has(ref)) ref = `${ref}_`;
    taken.add(ref);
    childRef.set(c, ref);
    childImports.push(`from ${modulePath}.${childCls} import ${childCls}${ref === childCls ? '' : ` as ${ref}`}`);
  }
  const sdkRef = (n: string) => (n === cls ? `_sdk_${n}` : n);
  const lines: string[] = [
    `"""${docText(node.path)}: generated by sdv-agent from the vehicle model it serves; rewritten when that model changes."""`,
    '',
  ];
  // Branch imports first: importing the child package vehicle.X.Model sets this package's global `Model` to that
  // module, so the SDK's names are bound after them.
  if (childImports.length) lines.push(...childImports.sort(), '');
  lines.push(
    'from velocitas_sdk.model import (',
    ...[...sdk].sort().map((n) => `    ${n}${sdkRef(n) === n ? '' : ` as ${sdkRef(n)}`},`),
    ')',
  );
  lines.push('', '', `class ${cls}(${sdkRef('Model')}):`, indent(classDoc(model, node), 4), '');
  lines.push(isRoot ? '    def __init__(self, name):' : '    def __init__(self, name, parent):');
  lines.push(`        """Create the ${docText(node.name)} branch (VSS ${docText(node.path)})."""`);
  lines.push(isRoot ? '        super().__init__()' : '        super().__init__(parent)', '        self.name = name');
  if (node.children.length) lines.push('');
  for (const c of node.children) {
    if (isBranch(c)) lines.push(`        ${assign(c.name, `${childRef.get(c)}(${JSON.stringify(c.name)}, self)`)}`);
    else {
      const leafName = c.path.slice(c.path.lastIndexOf('.') + 1);
      lines.push(`        ${assign(leafName, `${sdkRef(dataPointClass(c.dataType))}(${JSON.stringify(leafName)}, self)`)}`);
    }
  }
  if (isRoot) lines.push('', '', `vehicle = ${cls}("Vehicle")`);
  return lines.join('\n') + '\n';
}

/** The package for `model`, or null when it has no `Vehicle` root with leaves. */
export function generatePythonModel(model: VssModel): PythonModel | null {
  const skipped: string[] = [];
  const root = buildTree(model, skipped);
  if (!root) return null;
  const files = new Map<string, string>();
  let signals = 0;
  let branches = 0;
  const walk = (node: BranchNode, dir: string, isRoot: boolean) => {
    branches++;
    files.set(`${dir}/__init__.py`, moduleText(model, node, isRoot));
    for (const c of node.children) {
      if (isBranch(c)) walk(c, `${dir}/${pyName(c.name)}`, false);
      else signals++;
    }
  };
  walk(root, 'vehicle', true);
  const h = crypto.createHash('sha256').update(`format ${PYTHON_MODEL_FORMAT}\n`);
  for (const [p, text] of files) h.update(`${p}\n${text.length}\n`).update(text);
  return { files, hash: h.digest('hex'), signals, branches, skipped };
}
