// The vehicle model: a VSS tree in the COVESA JSON export form, validated once, flattened to leaves, with the
// wildcard expansion KUKSA uses (`A.B.*` and `A.**` mean every leaf under A.B / A; an exact leaf path is itself).
// Indexed for models of up to VSS_LIMITS.maxLeaves: the leaves are kept in tree order, so the leaves under a branch
// are one contiguous range of that order (a branch → range map answers `A.B`, `A.B.*`, `A.B.**` in time proportional
// to what they name), ids map to leaves without a search, and a pattern with wildcards inside is matched only
// against the range of its literal prefix. Leaves registered at run time have an index of their own beside it.
import fs = require('node:fs');
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

/** Leaves indexed: in tree order, each branch's range of that order, by id. */
class LeafIndex {
  /** Every leaf in tree order. */
  readonly order: readonly SignalMeta[];
  /** Branch path → its range of `order` (a branch without leaves has none). */
  private readonly ranges: ReadonlyMap<string, Range>;
  readonly ids: ReadonlyArray<SignalMeta | undefined>;
  readonly maxId: number;

  constructor(readonly leaves: ReadonlyMap<string, SignalMeta>, readonly branches: ReadonlySet<string>) {
    ({ order: this.order, ranges: this.ranges } = treeOrder(leaves));
    const ids: Array<SignalMeta | undefined> = [];
    let maxId = 0;
    for (const m of this.order) { ids[m.id] = m; maxId = Math.max(maxId, m.id); }
    this.ids = ids;
    this.maxId = maxId;
  }

  /** The leaves a pattern names here, in tree order (see VssModel.expand). */
  expand(pattern: string): string[] {
    if (this.leaves.has(pattern)) return [pattern];
    const prefix = branchOf(pattern, (p) => this.branches.has(p));
    const out: string[] = [];
    if (prefix !== null) {
      const r = this.ranges.get(prefix);
      if (r) for (let i = r.start; i < r.end; i++) out.push(this.order[i]!.path);
    } else if (pattern.includes('*')) {
      // Only the leaves under the literal part before the first wildcard can match.
      const range = this.scanRange(pattern);
      if (range) {
        const re = wildcardRegExp(pattern);
        for (let i = range.start; i < range.end; i++) { const p = this.order[i]!.path; if (re.test(p)) out.push(p); }
      }
    }
    return out;
  }

  /** How many leaves expanding a (non-leaf) pattern looks at here. */
  scanSize(pattern: string): number {
    const r = this.scanRange(pattern);
    return r ? r.end - r.start : 0;
  }

  /** The range of the segments before the first wildcard (all leaves when the pattern starts with one). */
  private scanRange(pattern: string): Range | undefined {
    const lit = literalPrefix(pattern);
    return lit === '' ? { start: 0, end: this.order.length } : this.ranges.get(lit);
  }
}

/**
 * The leaves feeders registered at run time, appended and never changed, so that a registration costs what it adds
 * (a rebuilt index of every registered leaf was ~100 MB of garbage over 1 000 single registrations). In order of
 * registration (ids ascending), with every branch's leaves in that order too. Models made from one another share it,
 * each seeing its first `count` leaves.
 */
class AddedLeaves {
  readonly order: SignalMeta[] = [];
  readonly leaves = new Map<string, SignalMeta>();
  readonly ids: Array<SignalMeta | undefined> = [];
  /** Branch path → the leaves under it (at any depth). */
  readonly under = new Map<string, SignalMeta[]>();

  add(m: SignalMeta): void {
    this.order.push(m);
    this.leaves.set(m.path, m);
    this.ids[m.id] = m;
    const parts = m.path.split('.');
    for (let i = 1; i < parts.length; i++) {
      const branch = parts.slice(0, i).join('.');
      const list = this.under.get(branch);
      if (list) list.push(m); else this.under.set(branch, [m]);
    }
  }

  /** A copy holding the first `count` leaves (a model that is not the newest registers again: rare). */
  upTo(count: number): AddedLeaves {
    const copy = new AddedLeaves();
    for (const m of this.order.slice(0, count)) copy.add(m);
    return copy;
  }
}

// The built-in model: COVESA VSS 4.0 as released (910 leaves), what the sdv-runtime image starts from (less its extras).
export const DEFAULT_MODEL = 'resources/vss/vss_release_4.0.json';

/**
 * A model: the leaves it was parsed with, indexed once, and the leaves feeders registered at run time (withLeaves),
 * kept apart so that a registration costs what it adds, not what the model is (a copy of a 100 000-leaf index took
 * ~80 ms of the event loop per RegisterDatapoints). Registered leaves come after the parsed ones, in order of
 * registration.
 */
export class VssModel {
  private combined: { all: readonly SignalMeta[]; leaves: ReadonlyMap<string, SignalMeta> } | null = null;
  /** The last id of a registered leaf this model sees (0: none). */
  private readonly lastAdded: number;

  private constructor(
    private readonly base: LeafIndex,
    private readonly added: AddedLeaves | null,
    /** How many of `added` this model sees. */
    private readonly addedCount: number,
    private readonly texts: ReadonlyMap<string, BranchMeta> = new Map(),
  ) {
    this.lastAdded = addedCount > 0 ? added!.order[addedCount - 1]!.id : 0;
  }

  /** Every leaf by path (a copy is made once, the first time it is asked for after a registration). */
  get leaves(): ReadonlyMap<string, SignalMeta> { return this.addedCount ? this.join().leaves : this.base.leaves; }

  private join(): { all: readonly SignalMeta[]; leaves: ReadonlyMap<string, SignalMeta> } {
    if (!this.combined) {
      const all = [...this.base.order, ...this.added!.order.slice(0, this.addedCount)];
      this.combined = { all, leaves: new Map(all.map((m) => [m.path, m])) };
    }
    return this.combined;
  }

  /** A registered leaf, if this model sees it. */
  private seen(m: SignalMeta | undefined): SignalMeta | undefined { return m && m.id <= this.lastAdded ? m : undefined; }

  /** The registered leaves under a branch ('' = all of them) that this model sees, in order of registration. */
  private addedUnder(branch: string): readonly SignalMeta[] {
    if (!this.addedCount) return [];
    const list = branch === '' ? this.added!.order : this.added!.under.get(branch) ?? [];
    let n = list.length;
    while (n > 0 && list[n - 1]!.id > this.lastAdded) n--;
    return n === list.length ? list : list.slice(0, n);
  }

  /** What a branch's description and comment say (empty for a branch that has neither). */
  branchMeta(path: string): BranchMeta { return this.texts.get(path) ?? {}; }

  get size(): number { return this.base.leaves.size + this.addedCount; }

  get(path: string): SignalMeta | undefined { return this.base.leaves.get(path) ?? this.seen(this.added?.leaves.get(path)); }

  private isBranch(path: string): boolean { return this.base.branches.has(path) || (path !== '' && this.addedUnder(path).length > 0); }

  /** The leaf with this id (v2 signal ids), without a search. */
  byId(id: number): SignalMeta | undefined {
    return Number.isInteger(id) && id >= 1 ? this.base.ids[id] ?? this.seen(this.added?.ids[id]) : undefined;
  }

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
    return new VssModel(new LeafIndex(leaves, branches), null, 0, branchTexts);
  }

  static load(file: string): VssModel {
    let text: string;
    try { text = fs.readFileSync(file, 'utf8'); } catch (e) { throw new VssError(`${file}: ${(e as Error).message}`); }
    let tree: unknown;
    try { tree = JSON.parse(text); } catch (e) { throw new VssError(`${file}: not JSON (${(e as Error).message})`); }
    try { return VssModel.parse(tree); } catch (e) { throw new VssError(`${file}: ${(e as Error).message}`); }
  }

  /** The built-in model: COVESA VSS 4.0 as released (DEFAULT_MODEL, 910 leaves). */
  static loadDefault(): VssModel { return VssModel.load(resourcePath(DEFAULT_MODEL)); }

  /**
   * Leaf paths a pattern names, in model order, or null when it names nothing. Exact leaf → itself; a branch path,
   * `Branch.*` or `Branch.**` → every leaf under it; `*` inside a path matches one name, `**` any number.
   */
  expand(pattern: string): string[] | null {
    if (this.get(pattern)) return [pattern];
    const out = this.base.expand(pattern);
    if (this.addedCount) {
      const prefix = branchOf(pattern, (p) => this.isBranch(p));
      if (prefix !== null) for (const m of this.addedUnder(prefix)) out.push(m.path);
      else if (pattern.includes('*')) {
        const re = wildcardRegExp(pattern);
        for (const m of this.addedUnder(literalPrefix(pattern))) if (re.test(m.path)) out.push(m.path);
      }
    }
    return out.length ? out : null;
  }

  /** How many leaves a pattern's expansion looks at (its literal prefix's range; 1 for an exact path). */
  scanSize(pattern: string): number {
    if (this.get(pattern)) return 1;
    return this.base.scanSize(pattern) + this.addedUnder(literalPrefix(pattern)).length;
  }

  /**
   * A new model with extra leaves (signals a feeder registers at run time), numbered after the last id. Throws a
   * VssError naming the first path that is not a valid new leaf: a bad name, an existing branch, a leaf below a
   * leaf, past the depth or leaf bound. Existing leaves are the caller's business (it compares their types).
   */
  withLeaves(extra: ReadonlyArray<Omit<SignalMeta, 'id'>>): VssModel {
    const fresh = new Set<string>();
    const freshBranches = new Set<string>();
    let branchCount: number | undefined;
    const isLeaf = (p: string) => !!this.get(p) || fresh.has(p);
    for (const m of extra) {
      const parts = m.path.split('.');
      if (parts.length < 2 || parts.some((p) => !NAME.test(p) || p.length > VSS_LIMITS.maxNameLength)) {
        throw new VssError(`${m.path}: a signal path is two or more names of letters, digits and "_" joined by "."`);
      }
      if (parts.length > VSS_LIMITS.maxDepth) throw new VssError(`${m.path}: deeper than ${VSS_LIMITS.maxDepth} levels`);
      if (this.isBranch(m.path) || freshBranches.has(m.path)) throw new VssError(`${m.path}: is a branch of the vehicle model`);
      if (isLeaf(m.path)) throw new VssError(`${m.path}: already a signal`);
      for (let i = 1; i < parts.length; i++) {
        const prefix = parts.slice(0, i).join('.');
        if (isLeaf(prefix)) throw new VssError(`${m.path}: ${prefix} is a signal, not a branch`);
      }
      if (this.size + fresh.size >= VSS_LIMITS.maxLeaves) throw new VssError(`${m.path}: more than ${VSS_LIMITS.maxLeaves} leaves`);
      fresh.add(m.path);
      for (let i = 1; i < parts.length; i++) {
        const branch = parts.slice(0, i).join('.');
        if (freshBranches.has(branch) || this.isBranch(branch)) continue;
        freshBranches.add(branch);
        branchCount ??= this.branchCount();
        if (branchCount + freshBranches.size > VSS_LIMITS.maxBranches) throw new VssError(`${m.path}: more than ${VSS_LIMITS.maxBranches} branches`);
      }
    }
    // Appended to the shared list when this model is its newest; a model that was registered to before copies it.
    const added = !this.added ? new AddedLeaves() : this.addedCount === this.added.order.length ? this.added : this.added.upTo(this.addedCount);
    let id = Math.max(this.base.maxId, this.lastAdded);
    for (const m of extra) added.add({ ...m, id: ++id });
    return new VssModel(this.base, added, this.addedCount + extra.length, this.texts);
  }

  /** Branches: the parsed ones and those only registered leaves made (counted when a registration needs it). */
  private branchCount(): number {
    let n = this.base.branches.size;
    if (this.added) for (const b of this.added.under.keys()) if (!this.base.branches.has(b) && this.addedUnder(b).length > 0) n++;
    return n;
  }

  /** Every leaf: the parsed ones in tree order, then the registered ones (the model's own array: callers must not change it). */
  all(): readonly SignalMeta[] { return this.addedCount ? this.join().all : this.base.order; }
}

/** The branch a pattern names as a whole (`A.B`, `A.B.*`, `A.B.**`), or null. */
function branchOf(pattern: string, isBranch: (p: string) => boolean): string | null {
  if (isBranch(pattern)) return pattern;
  if (pattern.endsWith('.**') && !pattern.slice(0, -3).includes('*')) return pattern.slice(0, -3);
  if (pattern.endsWith('.*') && !pattern.slice(0, -2).includes('*')) return pattern.slice(0, -2);
  return null;
}

/** The segments of a pattern before its first wildcard ('' when it starts with one). */
function literalPrefix(pattern: string): string {
  const segs = pattern.split('.');
  const first = segs.findIndex((x) => x.includes('*'));
  return (first < 0 ? segs : segs.slice(0, first)).join('.');
}

/**
 * The leaves in tree order and each branch's range of it. Siblings keep the order they were first seen in, so a model
 * from parse() keeps its file's order.
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
