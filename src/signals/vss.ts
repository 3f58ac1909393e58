// The vehicle model: a VSS tree in the COVESA JSON export form, validated once, flattened to leaves, with the
// wildcard expansion KUKSA uses (`A.B.*` and `A.**` mean every leaf under A.B / A; an exact leaf path is itself).
// Indexed for models of up to VSS_LIMITS.maxLeaves: the leaves are kept in tree order, so the leaves under a branch
// are one contiguous range of that order (a branch → range map answers `A.B`, `A.B.*`, `A.B.**` in time proportional
// to what they name), ids map to leaves without a search, and a pattern with wildcards inside is matched only
// against the range of its literal prefix.
import * as fs from 'node:fs';
import { resourcePath } from '../resources';

export type EntryKind = 'sensor' | 'actuator' | 'attribute';

export const SCALAR_TYPES = ['string', 'boolean', 'int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32', 'uint64', 'float', 'double'] as const;
export type ScalarType = (typeof SCALAR_TYPES)[number];
/** A VSS datatype: a scalar or `scalar[]`. */
export type VssDataType = ScalarType | `${ScalarType}[]`;

export interface SignalMeta {
  readonly path: string;
  /** Stable within one model; used as the v2 signal id. */
  readonly id: number;
  readonly entryType: EntryKind;
  readonly dataType: VssDataType;
  readonly unit?: string;
  readonly min?: number;
  readonly max?: number;
  readonly allowed?: readonly (string | number)[];
  readonly description?: string;
  readonly comment?: string;
}

/** What a branch says about itself (for the generated Python model's docstrings). */
export interface BranchMeta { readonly description?: string; readonly comment?: string }

export class VssError extends Error { override name = 'VssError'; }

/**
 * Bounds that keep a hostile model from eating the box: leaves (the store's index and the request bounds are sized for
 * 100 000), branches (each is a module of the Python vehicle package: VSS 4.0 has 287, one leaf per branch 10 000),
 * so at most 110 000 nodes; depth and name length.
 */
export const VSS_LIMITS = { maxLeaves: 100_000, maxBranches: 10_000, maxDepth: 32, maxNameLength: 128 } as const;

const NAME = /^[A-Za-z0-9_]+$/;

/** The leaves under one branch: order[start] … order[end - 1]. */
interface Range { readonly start: number; readonly end: number }

export class VssModel {
  /** Every leaf in tree order. */
  private readonly order: readonly SignalMeta[];
  /** Branch path → its range of `order` (a branch without leaves has none). */
  private readonly ranges: ReadonlyMap<string, Range>;
  private readonly ids: ReadonlyArray<SignalMeta | undefined>;

  private constructor(
    readonly leaves: ReadonlyMap<string, SignalMeta>,
    private readonly branches: ReadonlySet<string>,
    private readonly texts: ReadonlyMap<string, BranchMeta> = new Map(),
  ) {
    ({ order: this.order, ranges: this.ranges } = treeOrder(leaves));
    const ids: Array<SignalMeta | undefined> = [];
    for (const m of this.order) ids[m.id] = m;
    this.ids = ids;
  }

  /** What a branch's description and comment say (empty for a branch that has neither). */
  branchMeta(path: string): BranchMeta { return this.texts.get(path) ?? {}; }

  get size(): number { return this.leaves.size; }

  get(path: string): SignalMeta | undefined { return this.leaves.get(path); }

  /** The leaf with this id (v2 signal ids), without a search. */
  byId(id: number): SignalMeta | undefined { return Number.isInteger(id) && id >= 1 ? this.ids[id] : undefined; }

  /** Parses and validates a tree; the error names the offending node path. */
  static parse(tree: unknown): VssModel {
    if (!isObj(tree) || Object.keys(tree).length === 0) throw new VssError('vehicle model: expected an object of root branches (e.g. {"Vehicle": {...}})');
    const leaves = new Map<string, SignalMeta>();
    const branches = new Set<string>();
    const branchTexts = new Map<string, BranchMeta>();
    const texts = (node: Record<string, unknown>) => ({
      ...(typeof node.description === 'string' ? { description: node.description } : {}),
      ...(typeof node.comment === 'string' ? { comment: node.comment } : {}),
    });
    const walk = (node: unknown, path: string, depth: number): void => {
      if (depth > VSS_LIMITS.maxDepth) throw new VssError(`${path}: tree deeper than ${VSS_LIMITS.maxDepth} levels`);
      if (!isObj(node)) throw new VssError(`${path}: expected an object node`);
      const type = node.type;
      if (type === 'branch') {
        if (branches.size >= VSS_LIMITS.maxBranches) throw new VssError(`${path}: more than ${VSS_LIMITS.maxBranches} branches`);
        branches.add(path);
        branchTexts.set(path, texts(node));
        const children = node.children ?? {};
        if (!isObj(children)) throw new VssError(`${path}.children: expected an object`);
        for (const [name, child] of Object.entries(children)) {
          if (!NAME.test(name) || name.length > VSS_LIMITS.maxNameLength) throw new VssError(`${path}.${name}: node names are letters, digits and "_"`);
          walk(child, `${path}.${name}`, depth + 1);
        }
        return;
      }
      if (type !== 'sensor' && type !== 'actuator' && type !== 'attribute') {
        throw new VssError(`${path}: type must be branch, sensor, actuator or attribute, got ${JSON.stringify(type)}`);
      }
      const dataType = node.datatype;
      if (typeof dataType !== 'string' || !isDataType(dataType)) {
        throw new VssError(`${path}: datatype must be one of ${SCALAR_TYPES.join(', ')} (or an array form like float[]), got ${JSON.stringify(dataType)}`);
      }
      const num = (k: 'min' | 'max'): number | undefined => {
        const v = node[k];
        if (v === undefined) return undefined;
        if (typeof v !== 'number' || !Number.isFinite(v)) throw new VssError(`${path}.${k}: expected a number`);
        return v;
      };
      const allowed = node.allowed;
      if (allowed !== undefined && (!Array.isArray(allowed) || allowed.some((a) => typeof a !== 'string' && typeof a !== 'number'))) {
        throw new VssError(`${path}.allowed: expected an array of strings or numbers`);
      }
      if (leaves.size >= VSS_LIMITS.maxLeaves) throw new VssError(`${path}: more than ${VSS_LIMITS.maxLeaves} leaves`);
      const meta: SignalMeta = {
        path, id: leaves.size + 1, entryType: type, dataType,
        ...(typeof node.unit === 'string' ? { unit: node.unit } : {}),
        ...(num('min') !== undefined ? { min: num('min') } : {}),
        ...(num('max') !== undefined ? { max: num('max') } : {}),
        ...(allowed !== undefined ? { allowed: allowed as (string | number)[] } : {}),
        ...texts(node),
      };
      leaves.set(path, meta);
    };
    for (const [name, root] of Object.entries(tree)) {
      if (!NAME.test(name)) throw new VssError(`${name}: node names are letters, digits and "_"`);
      walk(root, name, 1);
    }
    if (leaves.size === 0) throw new VssError('vehicle model: no sensor, actuator or attribute leaves');
    return new VssModel(leaves, branches, branchTexts);
  }

  static load(file: string): VssModel {
    let text: string;
    try { text = fs.readFileSync(file, 'utf8'); } catch (e) { throw new VssError(`${file}: ${(e as Error).message}`); }
    let tree: unknown;
    try { tree = JSON.parse(text); } catch (e) { throw new VssError(`${file}: not JSON (${(e as Error).message})`); }
    try { return VssModel.parse(tree); } catch (e) { throw new VssError(`${file}: ${(e as Error).message}`); }
  }

  /** The built-in model (resources/default-vss.json, a curated VSS 4.0 subset). */
  static loadDefault(): VssModel { return VssModel.load(resourcePath('resources/default-vss.json')); }

  /**
   * Leaf paths a pattern names, in model order, or null when it names nothing. Exact leaf → itself; a branch path,
   * `Branch.*` or `Branch.**` → every leaf under it; `*` inside a path matches one name, `**` any number.
   */
  expand(pattern: string): string[] | null {
    if (this.leaves.has(pattern)) return [pattern];
    let prefix: string | null = null;
    if (this.branches.has(pattern)) prefix = pattern;
    else if (pattern.endsWith('.**') && !pattern.slice(0, -3).includes('*')) prefix = pattern.slice(0, -3);
    else if (pattern.endsWith('.*') && !pattern.slice(0, -2).includes('*')) prefix = pattern.slice(0, -2);
    let out: string[] = [];
    if (prefix !== null) {
      const r = this.ranges.get(prefix);
      if (r) out = this.paths(r);
    } else if (pattern.includes('*')) {
      // Only the leaves under the literal part before the first wildcard can match.
      const range = this.scanRange(pattern);
      if (range) {
        const re = wildcardRegExp(pattern);
        for (let i = range.start; i < range.end; i++) { const p = this.order[i]!.path; if (re.test(p)) out.push(p); }
      }
    }
    return out.length ? out : null;
  }

  /** How many leaves a pattern's expansion looks at (its literal prefix's range; 1 for an exact path). */
  scanSize(pattern: string): number {
    if (this.leaves.has(pattern)) return 1;
    const r = this.scanRange(pattern);
    return r ? r.end - r.start : 0;
  }

  /** The range of the segments before the first wildcard (all leaves when the pattern starts with one). */
  private scanRange(pattern: string): Range | undefined {
    const segs = pattern.split('.');
    const first = segs.findIndex((x) => x.includes('*'));
    const lit = (first < 0 ? segs : segs.slice(0, first)).join('.');
    return lit === '' ? { start: 0, end: this.order.length } : this.ranges.get(lit);
  }

  private paths(r: Range): string[] {
    const out = new Array<string>(r.end - r.start);
    for (let i = r.start; i < r.end; i++) out[i - r.start] = this.order[i]!.path;
    return out;
  }

  /**
   * A new model with extra leaves (signals a feeder registers at run time), numbered after the last id. Throws a
   * VssError naming the first path that is not a valid new leaf: a bad name, an existing branch, a leaf below a
   * leaf, past the depth or leaf bound. Existing leaves are the caller's business (it compares their types).
   */
  withLeaves(extra: ReadonlyArray<Omit<SignalMeta, 'id'>>): VssModel {
    const leaves = new Map(this.leaves);
    const branches = new Set(this.branches);
    let id = 0;
    for (const m of this.leaves.values()) id = Math.max(id, m.id);
    for (const m of extra) {
      const parts = m.path.split('.');
      if (parts.length < 2 || parts.some((p) => !NAME.test(p) || p.length > VSS_LIMITS.maxNameLength)) {
        throw new VssError(`${m.path}: a signal path is two or more names of letters, digits and "_" joined by "."`);
      }
      if (parts.length > VSS_LIMITS.maxDepth) throw new VssError(`${m.path}: deeper than ${VSS_LIMITS.maxDepth} levels`);
      if (branches.has(m.path)) throw new VssError(`${m.path}: is a branch of the vehicle model`);
      if (leaves.has(m.path)) throw new VssError(`${m.path}: already a signal`);
      for (let i = 1; i < parts.length; i++) {
        const prefix = parts.slice(0, i).join('.');
        if (leaves.has(prefix)) throw new VssError(`${m.path}: ${prefix} is a signal, not a branch`);
      }
      if (leaves.size >= VSS_LIMITS.maxLeaves) throw new VssError(`${m.path}: more than ${VSS_LIMITS.maxLeaves} leaves`);
      for (let i = 1; i < parts.length; i++) branches.add(parts.slice(0, i).join('.'));
      if (branches.size > VSS_LIMITS.maxBranches) throw new VssError(`${m.path}: more than ${VSS_LIMITS.maxBranches} branches`);
      leaves.set(m.path, { ...m, id: ++id });
    }
    return new VssModel(leaves, branches);
  }

  /** Every leaf in tree order (the model's own array: callers must not change it). */
  all(): readonly SignalMeta[] { return this.order; }
}

/**
 * The leaves in tree order and each branch's range of it. Siblings keep the order they were first seen in, so a model
 * from parse() keeps its file's order, and leaves added later (withLeaves) join their branch.
 */
function treeOrder(leaves: ReadonlyMap<string, SignalMeta>): { order: SignalMeta[]; ranges: Map<string, Range> } {
  interface Node { readonly kids: Map<string, Node>; leaf: SignalMeta | null }
  const root: Node = { kids: new Map(), leaf: null };
  for (const m of leaves.values()) {
    let n = root;
    for (const seg of m.path.split('.')) {
      let k = n.kids.get(seg);
      if (!k) n.kids.set(seg, (k = { kids: new Map(), leaf: null }));
      n = k;
    }
    n.leaf = m;
  }
  const order: SignalMeta[] = [];
  const ranges = new Map<string, Range>();
  const walk = (n: Node, path: string): void => {
    if (n.leaf) { order.push(n.leaf); return; }
    const start = order.length;
    for (const [seg, k] of n.kids) walk(k, path ? `${path}.${seg}` : seg);
    if (path) ranges.set(path, { start, end: order.length });
  };
  walk(root, '');
  return { order, ranges };
}

function wildcardRegExp(pattern: string): RegExp {
  const parts = pattern.split('.').map((seg, i, arr) => {
    if (seg === '**') return '.*';
    if (seg === '*') return i === arr.length - 1 ? '.+' : '[^.]+';
    return seg.replace(/[^A-Za-z0-9_]/g, (c) => (c === '*' ? '[^.]*' : '\\' + c));
  });
  return new RegExp('^' + parts.join('\\.') + '$');
}

function isDataType(s: string): s is VssDataType {
  const base = s.endsWith('[]') ? s.slice(0, -2) : s;
  return (SCALAR_TYPES as readonly string[]).includes(base);
}

function isObj(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}
