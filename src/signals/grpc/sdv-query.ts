// The query language of sdv.databroker.v1 Subscribe, as the Velocitas SDK's query builder emits it:
//   SELECT <expr> [AS <alias>], … [WHERE <expr>]
// with signal paths, numbers, 'strings', true/false, = != <> < <= > >=, [NOT] BETWEEN a AND b, AND, OR, NOT and
// parentheses. Compiled once against the model (unknown paths and type mismatches are refused up front), then run
// on every change. Databroker 0.4's LAG() and sub-queries are refused by name. Bounded in length, depth, fields and
// terms: a change runs every query that reads the signal, so what one query costs on every write is its terms
// (a 2 700-term OR chain, 1 024 times, made each write of its signal cost ~90 ms and the agent hold 0.7 GB).
import type { SignalValue } from '../values';
import type { VssDataType } from '../vss';

export const QUERY_LIMITS = {
  maxLength: 16_384,
  maxDepth: 32,
  maxFields: 256,
  /** Terms of one query (signals, values, comparisons, BETWEEN, AND, OR, NOT): what one run of it evaluates at most. */
  maxNodes: 512,
} as const;

export class QueryError extends Error { override name = 'QueryError'; }

type CmpOp = '=' | '!=' | '<' | '<=' | '>' | '>=';
type Kind = 'number' | 'string' | 'boolean' | 'array';
type Expr =
  | { k: 'path'; path: string; type: VssDataType }
  | { k: 'lit'; v: string | number | boolean; raw: string }
  | { k: 'not'; e: Expr }
  | { k: 'and' | 'or'; l: Expr; r: Expr }
  | { k: 'cmp'; op: CmpOp; l: Expr; r: Expr }
  | { k: 'between'; e: Expr; lo: Expr; hi: Expr; negated: boolean };

export interface CompiledQuery {
  /** Selected fields in order: the reply's key (alias, path, or field_<index>), the expression and its type. */
  readonly fields: ReadonlyArray<{ name: string; expr: Expr; type: VssDataType }>;
  readonly where: Expr | null;
  /** Every path the query reads: a change of one of them runs it again. */
  readonly inputs: string[];
  /** Its terms (at most QUERY_LIMITS.maxNodes): the work and memory of one run, held against the server's bounds. */
  readonly nodes: number;
}

// ------------------------------------------------------------------------------------------------ tokens
type Tok = { t: 'id' | 'num' | 'str' | 'op' | 'end'; v: string; at: number };
const KEYWORDS = new Set(['SELECT', 'AS', 'WHERE', 'AND', 'OR', 'NOT', 'BETWEEN', 'TRUE', 'FALSE']);

const NUM = /(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?/y;
const ID = /[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*/y;
const OP = /<=|>=|<>|!=|[=<>(),-]/y;
function match(re: RegExp, text: string, at: number): [RegExp, string] | null {
  re.lastIndex = at;
  const m = re.exec(text);
  return m ? [re, m[0]] : null;
}

function tokenize(text: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (/\s/.test(c)) { i++; continue; }
    const at = i;
    if (c === '\'' || c === '"') {
      let s = '';
      for (i++; ; i++) {
        if (i >= text.length) throw new QueryError(`unterminated string starting at position ${at + 1}`);
        if (text[i] === c) { if (text[i + 1] === c) { s += c; i++; continue; } i++; break; }
        s += text[i];
      }
      out.push({ t: 'str', v: s, at });
      continue;
    }
    const m = match(NUM, text, i) ?? match(ID, text, i) ?? match(OP, text, i);
    if (m) {
      const [re, v] = m;
      out.push({ t: re === NUM ? 'num' : re === ID ? 'id' : 'op', v: v === '<>' ? '!=' : v, at });
      i += v.length;
      continue;
    }
    if (c === '*') throw new QueryError('SELECT * is not supported: name the signals');
    throw new QueryError(`unexpected character ${JSON.stringify(c)} at position ${at + 1}`);
  }
  out.push({ t: 'end', v: '', at: text.length });
  return out;
}

const kw = (tok: Tok, word: string) => tok.t === 'id' && tok.v.toUpperCase() === word;
const show = (tok: Tok) => (tok.t === 'end' ? 'the end of the query' : `${JSON.stringify(tok.v)} at position ${tok.at + 1}`);

// ------------------------------------------------------------------------------------------------ parser + types
class Compiler {
  private pos = 0;
  private depth = 0;
  private nodes = 0;
  readonly inputs = new Set<string>();
  constructor(private readonly toks: Tok[], private readonly typeOf: (path: string) => VssDataType | undefined) {}

  private peek(n = 0): Tok { return this.toks[Math.min(this.pos + n, this.toks.length - 1)]!; }
  private next(): Tok { return this.toks[Math.min(this.pos++, this.toks.length - 1)]!; }
  private isOp(v: string): boolean { const t = this.peek(); return t.t === 'op' && t.v === v; }
  private expect(v: string, what: string): void {
    if (!this.isOp(v)) throw new QueryError(`expected ${what}, found ${show(this.peek())}`);
    this.pos++;
  }
  /** Every term is made here: past QUERY_LIMITS.maxNodes the query is refused while it is parsed. */
  private node<E extends Expr>(e: E): E {
    if (++this.nodes > QUERY_LIMITS.maxNodes) throw new QueryError(`more than ${QUERY_LIMITS.maxNodes} terms (signals, values, comparisons, AND, OR, NOT): split it into several subscriptions`);
    return e;
  }
  private nest<T>(fn: () => T): T {
    if (++this.depth > QUERY_LIMITS.maxDepth) throw new QueryError(`nested deeper than ${QUERY_LIMITS.maxDepth} levels`);
    try { return fn(); } finally { this.depth--; }
  }

  query(): CompiledQuery {
    if (!kw(this.peek(), 'SELECT')) throw new QueryError(`a query starts with SELECT, found ${show(this.peek())}`);
    this.pos++;
    const fields: Array<{ name: string; expr: Expr; type: VssDataType }> = [];
    for (;;) {
      if (fields.length >= QUERY_LIMITS.maxFields) throw new QueryError(`more than ${QUERY_LIMITS.maxFields} selected fields`);
      const expr = this.or();
      let name = expr.k === 'path' ? expr.path : `field_${fields.length}`;
      if (kw(this.peek(), 'AS')) {
        this.pos++;
        const a = this.next();
        if (a.t !== 'id' && a.t !== 'str') throw new QueryError(`expected a name after AS, found ${show(a)}`);
        name = a.v;
      }
      fields.push({ name, expr, type: this.selectable(expr) });
      if (!this.isOp(',')) break;
      this.pos++;
    }
    let where: Expr | null = null;
    if (kw(this.peek(), 'WHERE')) {
      this.pos++;
      where = this.or();
      if (this.kind(where) !== 'boolean') throw new QueryError('the WHERE clause is not a condition (true or false)');
    }
    const t = this.peek();
    if (t.t !== 'end') {
      const word = t.t === 'id' ? t.v.toUpperCase() : '';
      if (['FROM', 'JOIN', 'GROUP', 'ORDER', 'LIMIT', 'HAVING', 'UNION'].includes(word)) throw new QueryError(`${word} is not supported (SELECT … [WHERE …] only)`);
      throw new QueryError(`expected "," or WHERE or the end of the query, found ${show(t)}`);
    }
    return { fields, where, inputs: [...this.inputs], nodes: this.nodes };
  }

  private or(): Expr { return this.nest(() => this.binary('OR', () => this.and(), 'or')); }
  private and(): Expr { return this.binary('AND', () => this.not(), 'and'); }
  private binary(word: string, sub: () => Expr, k: 'and' | 'or'): Expr {
    let l = sub();
    while (kw(this.peek(), word)) {
      this.pos++;
      const r = sub();
      for (const side of [l, r]) if (this.kind(side) !== 'boolean') throw new QueryError(`${word} needs conditions on both sides`);
      l = this.node({ k, l, r });
    }
    return l;
  }
  private not(): Expr {
    if (!kw(this.peek(), 'NOT')) return this.comparison();
    this.pos++;
    return this.nest(() => {
      const e = this.not();
      if (this.kind(e) !== 'boolean') throw new QueryError('NOT needs a condition');
      return this.node<Expr>({ k: 'not', e });
    });
  }
  private comparison(): Expr {
    const l = this.primary();
    const t = this.peek();
    if (t.t === 'op' && ['=', '!=', '<', '<=', '>', '>='].includes(t.v)) {
      this.pos++;
      const r = this.primary();
      this.comparable(l, r, t.v as CmpOp);
      return this.node({ k: 'cmp', op: t.v as CmpOp, l, r });
    }
    const negated = kw(t, 'NOT') && kw(this.peek(1), 'BETWEEN');
    if (negated || kw(t, 'BETWEEN')) {
      this.pos += negated ? 2 : 1;
      const lo = this.primary();
      if (!kw(this.peek(), 'AND')) throw new QueryError(`expected AND in BETWEEN, found ${show(this.peek())}`);
      this.pos++;
      const hi = this.primary();
      this.comparable(l, lo, '>=');
      this.comparable(l, hi, '<=');
      return this.node({ k: 'between', e: l, lo, hi, negated });
    }
    return l;
  }
  private primary(): Expr {
    const t = this.next();
    if (t.t === 'op' && t.v === '(') {
      if (kw(this.peek(), 'SELECT')) throw new QueryError('sub-queries are not supported');
      const e = this.or();
      this.expect(')', '")"');
      return e;
    }
    if (t.t === 'op' && t.v === '-' && this.peek().t === 'num') { const n = this.next(); return this.number(`-${n.v}`); }
    if (t.t === 'num') return this.number(t.v);
    if (t.t === 'str') return this.node({ k: 'lit', v: t.v, raw: t.v });
    if (t.t === 'id') {
      const word = t.v.toUpperCase();
      if (this.isOp('(')) throw new QueryError(word === 'LAG' ? 'LAG() is not supported' : `function ${t.v}() is not supported`);
      if (word === 'TRUE' || word === 'FALSE') return this.node({ k: 'lit', v: word === 'TRUE', raw: word });
      if (KEYWORDS.has(word)) throw new QueryError(`unexpected ${word} at position ${t.at + 1}`);
      const type = this.typeOf(t.v);
      if (!type) throw new QueryError(`${t.v}: no such signal in the vehicle model`);
      this.inputs.add(t.v);
      return this.node({ k: 'path', path: t.v, type });
    }
    throw new QueryError(`expected a signal path, a number, a 'string', true or false, found ${show(t)}`);
  }
  private number(raw: string): Expr {
    const v = Number(raw);
    if (!Number.isFinite(v)) throw new QueryError(`${raw}: not a number this databroker can hold`);
    return this.node({ k: 'lit', v, raw });
  }

  /** The kind an expression yields (comparisons and logic are booleans). */
  kind(e: Expr): Kind {
    if (e.k === 'path') return e.type.endsWith('[]') ? 'array' : e.type === 'string' ? 'string' : e.type === 'boolean' ? 'boolean' : 'number';
    if (e.k === 'lit') return typeof e.v as Kind;
    return 'boolean';
  }

  /** Type-checks a comparison as databroker 0.4 does: a number literal must fit the signal's type. */
  private comparable(l: Expr, r: Expr, op: CmpOp): void {
    const kl = this.kind(l);
    const kr = this.kind(r);
    if (kl === 'array' || kr === 'array') throw new QueryError('comparing arrays is not supported');
    if (kl !== kr) throw new QueryError(`cannot compare ${describe(l)} (${kl}) with ${describe(r)} (${kr})`);
    if (kl !== 'number' && op !== '=' && op !== '!=') throw new QueryError(`${op} compares numbers; ${describe(l)} is a ${kl}`);
    for (const [a, b] of [[l, r], [r, l]] as const) {
      if (a.k === 'path' && b.k === 'lit' && typeof b.v === 'number' && !fits(a.type, b.v)) {
        throw new QueryError(`${b.raw} does not fit ${a.path} (${a.type})`);
      }
    }
  }

  /** The VSS type a selected expression yields; a bare literal has none (databroker 0.4 refuses it too). */
  private selectable(e: Expr): VssDataType {
    if (e.k === 'path') return e.type;
    if (e.k === 'lit') {
      if (typeof e.v === 'number') throw new QueryError(`${e.raw}: a bare number cannot be selected`);
      return typeof e.v === 'string' ? 'string' : 'boolean';
    }
    return 'boolean';
  }
}

const describe = (e: Expr): string => (e.k === 'path' ? e.path : e.k === 'lit' ? (typeof e.v === 'string' ? `'${e.v}'` : e.raw) : 'a condition');

const INT_BOUNDS: Partial<Record<VssDataType, [number, number]>> = {
  int8: [-128, 127], int16: [-32768, 32767], int32: [-2147483648, 2147483647], int64: [-(2 ** 63), 2 ** 63],
  uint8: [0, 255], uint16: [0, 65535], uint32: [0, 4294967295], uint64: [0, 2 ** 64],
};
function fits(type: VssDataType, v: number): boolean {
  const b = INT_BOUNDS[type];
  return !b || (Number.isInteger(v) && v >= b[0] && v <= b[1]);
}

export function compileQuery(text: string, typeOf: (path: string) => VssDataType | undefined): CompiledQuery {
  if (typeof text !== 'string' || text.trim() === '') throw new QueryError('the query is empty');
  if (text.length > QUERY_LIMITS.maxLength) throw new QueryError(`longer than ${QUERY_LIMITS.maxLength} characters`);
  return new Compiler(tokenize(text), typeOf).query();
}

// ------------------------------------------------------------------------------------------------ evaluation
/** A signal without a value makes a condition unknown: the query does not fire (databroker 0.4 does the same). */
class NoValue extends Error {}

function evaluate(e: Expr, value: (path: string) => SignalValue | null): SignalValue | null {
  switch (e.k) {
    case 'path': return value(e.path);
    case 'lit': return e.v;
    case 'not': return !truth(e.e, value);
    case 'and': return truth(e.l, value) && truth(e.r, value);
    case 'or': return truth(e.l, value) || truth(e.r, value);
    case 'cmp': return compare(e.op, known(e.l, value), known(e.r, value));
    case 'between': {
      const x = known(e.e, value);
      const inside = compare('>=', x, known(e.lo, value)) && compare('<=', x, known(e.hi, value));
      return e.negated ? !inside : inside;
    }
  }
}
function known(e: Expr, value: (path: string) => SignalValue | null): SignalValue {
  const v = evaluate(e, value);
  if (v === null) throw new NoValue();
  return v;
}
const truth = (e: Expr, value: (path: string) => SignalValue | null): boolean => known(e, value) === true;
function compare(op: CmpOp, a: SignalValue, b: SignalValue): boolean {
  switch (op) {
    case '=': return a === b;
    case '!=': return a !== b;
    case '<': return a < b;
    case '<=': return a <= b;
    case '>': return a > b;
    case '>=': return a >= b;
  }
}

/**
 * Runs a compiled query on the current values: the selected fields (null = that signal has no value yet), or null
 * when the WHERE clause does not hold or reads a signal without a value.
 */
export function runQuery(q: CompiledQuery, value: (path: string) => SignalValue | null): Array<{ name: string; type: VssDataType; value: SignalValue | null }> | null {
  try {
    if (q.where && !truth(q.where, value)) return null;
    return q.fields.map((f) => ({ name: f.name, type: f.type, value: f.expr.k === 'path' ? value(f.expr.path) : evaluate(f.expr, value) }));
  } catch (e) {
    if (e instanceof NoValue) return null;
    throw e;
  }
}
