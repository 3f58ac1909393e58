// The sdv.databroker.v1 query language (src/signals/grpc/sdv-query.ts, a pure module): the strings the Velocitas SDK's
// query builder emits, the operators, what is refused and why, and the bounds.
import t from 'tap';
import { compileQuery, QUERY_LIMITS, QueryError, runQuery } from '../../src/signals/grpc/sdv-query';
import type { SignalValue } from '../../src/signals/values';
import type { VssDataType } from '../../src/signals/vss';

const TYPES: Record<string, VssDataType> = {
  'Vehicle.Speed': 'float', 'Vehicle.Body.Lights.Beam.Low.IsOn': 'boolean', 'Vehicle.Cabin.Seat.Row1.DriverSide.Position': 'uint16',
  'Vehicle.Powertrain.Transmission.CurrentGear': 'int8', 'Vehicle.Powertrain.Type': 'string', 'Vehicle.Cabin.Tags': 'string[]',
  'Vehicle.TraveledDistance': 'double', 'Vehicle.Odo': 'int64',
};
const typeOf = (p: string) => TYPES[p];
const compile = (q: string) => compileQuery(q, typeOf);
const run = (q: string, values: Record<string, SignalValue | null>) => {
  const r = runQuery(compile(q), (p) => values[p] ?? null);
  return r && Object.fromEntries(r.map((f) => [f.name, f.value]));
};

t.test('the strings the Velocitas SDK builds', async (t) => {
  // DataPoint.get_query(): "SELECT " + path; .join(b) → "SELECT a, b"; .where(c) → "SELECT a WHERE c";
  // @subscribe_data_points("a, b", "c") → "SELECT a, b WHERE c"
  const v = { 'Vehicle.Speed': 80, 'Vehicle.Body.Lights.Beam.Low.IsOn': true, 'Vehicle.Cabin.Seat.Row1.DriverSide.Position': 300 };
  t.same(run('SELECT Vehicle.Speed', v), { 'Vehicle.Speed': 80 });
  t.same(run('SELECT Vehicle.Speed, Vehicle.Body.Lights.Beam.Low.IsOn', v), { 'Vehicle.Speed': 80, 'Vehicle.Body.Lights.Beam.Low.IsOn': true });
  t.same(run('SELECT Vehicle.Speed WHERE Vehicle.Speed > 50', v), { 'Vehicle.Speed': 80 });
  t.equal(run('SELECT Vehicle.Speed WHERE Vehicle.Speed > 90', v), null, 'does not hold: no reply');
  t.same(run('SELECT Vehicle.Speed, Vehicle.Body.Lights.Beam.Low.IsOn WHERE Vehicle.Body.Lights.Beam.Low.IsOn = true', v), { 'Vehicle.Speed': 80, 'Vehicle.Body.Lights.Beam.Low.IsOn': true });
  t.same(run('SELECT Vehicle.Cabin.Seat.Row1.DriverSide.Position AS pos', v), { pos: 300 }, 'an alias names the field');
  t.same(compile('SELECT Vehicle.Speed WHERE Vehicle.Speed > 50 AND Vehicle.Body.Lights.Beam.Low.IsOn').inputs.sort(), ['Vehicle.Body.Lights.Beam.Low.IsOn', 'Vehicle.Speed'], 'inputs: every path read');
});

t.test('operators, literals and precedence', async (t) => {
  const v = { 'Vehicle.Speed': 80, 'Vehicle.Powertrain.Transmission.CurrentGear': -1, 'Vehicle.Powertrain.Type': "it's", 'Vehicle.Body.Lights.Beam.Low.IsOn': false, 'Vehicle.Odo': -5 };
  const holds = (where: string) => run(`select Vehicle.Speed where ${where}`, v) !== null;
  for (const [w, want] of [
    ['Vehicle.Speed = 80', true], ['Vehicle.Speed != 80', false], ['Vehicle.Speed <> 81', true], ['Vehicle.Speed < 80', false],
    ['Vehicle.Speed <= 80', true], ['Vehicle.Speed >= 80.5', false], ['80 < Vehicle.Speed', false], ['Vehicle.Speed > 7.5e1', true],
    ['Vehicle.Speed BETWEEN 50 AND 100', true], ['Vehicle.Speed NOT BETWEEN 50 AND 100', false], ['Vehicle.Speed between 81 and 100', false],
    ['Vehicle.Powertrain.Transmission.CurrentGear = -1', true], ['Vehicle.Odo < -4', true],
    ["Vehicle.Powertrain.Type = 'it''s'", true], ['Vehicle.Powertrain.Type = "it\'s"', true],
    ['NOT Vehicle.Body.Lights.Beam.Low.IsOn', true], ['Vehicle.Body.Lights.Beam.Low.IsOn = false', true],
    ['Vehicle.Speed > 90 OR Vehicle.Speed < 100 AND Vehicle.Body.Lights.Beam.Low.IsOn', false], // AND binds tighter
    ['(Vehicle.Speed > 90 OR Vehicle.Speed < 100) AND NOT Vehicle.Body.Lights.Beam.Low.IsOn', true],
    ['NOT (Vehicle.Speed = 80) OR true', true], ['Vehicle.Speed BETWEEN 50 AND 100 AND Vehicle.Body.Lights.Beam.Low.IsOn', false],
  ] as const) t.equal(holds(w), want, w);
  t.same(run('SELECT Vehicle.Speed > 50 AS fast, Vehicle.Speed = 1', v), { fast: true, field_1: false }, 'conditions can be selected');
});

t.test('a signal without a value', async (t) => {
  t.same(run('SELECT Vehicle.Speed', {}), { 'Vehicle.Speed': null }, 'selected: null (NOT_AVAILABLE on the wire)');
  t.equal(run('SELECT Vehicle.Speed WHERE Vehicle.Speed > 1', {}), null, 'in WHERE: the condition is unknown, no reply');
  t.equal(run('SELECT Vehicle.Speed WHERE Vehicle.Odo = 1 OR true', { 'Vehicle.Speed': 1 }), null, 'as databroker 0.4: any comparison on it stops the reply');
});

t.test('refused with a clear reason', async (t) => {
  for (const [q, re] of [
    ['', /empty/], ['Vehicle.Speed', /starts with SELECT/], ['SELECT', /expected a signal path/], ['SELECT *', /SELECT \* is not supported/],
    ['SELECT Vehicle.Nope', /Vehicle\.Nope: no such signal/], ['SELECT Vehicle.Speed FROM x', /FROM is not supported/],
    ['SELECT LAG(Vehicle.Speed)', /LAG\(\) is not supported/], ['SELECT Vehicle.Speed WHERE lag(Vehicle.Speed) > 1', /LAG\(\) is not supported/],
    ['SELECT COUNT(Vehicle.Speed)', /function COUNT\(\) is not supported/], ['SELECT (SELECT Vehicle.Speed)', /sub-queries are not supported/],
    ['SELECT Vehicle.Speed WHERE Vehicle.Speed', /WHERE clause is not a condition/], ["SELECT Vehicle.Speed WHERE Vehicle.Speed = 'x'", /cannot compare Vehicle\.Speed \(number\) with 'x' \(string\)/],
    ['SELECT Vehicle.Speed WHERE Vehicle.Powertrain.Type > 1', /cannot compare/], ["SELECT Vehicle.Speed WHERE Vehicle.Powertrain.Type < 'a'", /< compares numbers/],
    ['SELECT Vehicle.Speed WHERE Vehicle.Cabin.Tags = 1', /arrays is not supported/], ['SELECT Vehicle.Speed WHERE Vehicle.Powertrain.Transmission.CurrentGear > 300', /300 does not fit Vehicle\.Powertrain\.Transmission\.CurrentGear \(int8\)/],
    ['SELECT Vehicle.Speed WHERE Vehicle.Cabin.Seat.Row1.DriverSide.Position = -1', /does not fit/], ['SELECT Vehicle.Speed WHERE Vehicle.Cabin.Seat.Row1.DriverSide.Position = 1.5', /does not fit/],
    ['SELECT Vehicle.Speed WHERE Vehicle.Speed > 1 AND 2', /AND needs conditions/], ['SELECT Vehicle.Speed WHERE NOT Vehicle.Speed', /NOT needs a condition/],
    ['SELECT Vehicle.Speed WHERE Vehicle.Speed BETWEEN 1 OR 2', /expected AND in BETWEEN/], ['SELECT Vehicle.Speed WHERE (Vehicle.Speed > 1', /expected "\)"/],
    ["SELECT Vehicle.Speed WHERE Vehicle.Powertrain.Type = 'open", /unterminated string/], ['SELECT Vehicle.Speed; DROP', /unexpected character ";"/],
    ['SELECT 5', /bare number/], ['SELECT Vehicle.Speed Vehicle.Odo', /expected "," or WHERE/], ['SELECT Vehicle.Speed AS', /expected a name after AS/],
    ['SELECT Vehicle.Speed WHERE Vehicle.Speed > 1e999', /not a number/],
  ] as const) {
    t.throws(() => compile(q), { name: 'QueryError', message: re }, JSON.stringify(q));
  }
});

t.test('bounds: length, depth, fields and terms', async (t) => {
  t.throws(() => compile(`SELECT Vehicle.Speed WHERE ${'x'.repeat(QUERY_LIMITS.maxLength)}`), { message: /longer than 16384/ });
  const nested = (n: number) => `SELECT Vehicle.Speed WHERE ${'('.repeat(n)}Vehicle.Speed > 1${')'.repeat(n)}`;
  t.ok(compile(nested(QUERY_LIMITS.maxDepth - 2)), 'nesting up to the bound compiles');
  t.throws(() => compile(nested(QUERY_LIMITS.maxDepth)), { message: /nested deeper than 32/ });
  t.throws(() => compile(`SELECT Vehicle.Speed WHERE ${'NOT '.repeat(40)}true`), { message: /nested deeper/ }, 'NOT chains count');
  const fields = (n: number) => `SELECT ${Array.from({ length: n }, () => 'Vehicle.Speed').join(', ')}`;
  t.ok(compile(fields(QUERY_LIMITS.maxFields)), `${QUERY_LIMITS.maxFields} fields compile`);
  t.throws(() => compile(fields(QUERY_LIMITS.maxFields + 1)), { message: /more than 256 selected fields/ });
  t.throws(() => compile(`SELECT ${'Vehicle.Speed,'.repeat(1200)}`), QueryError, 'many fields in a long query: refused at the field bound');
  // The red team's query: 2 700 terms OR-ed in 16 242 characters, no parentheses (only they count as nesting).
  const chain = (n: number) => `SELECT Vehicle.Speed WHERE Vehicle.Speed>0${'OR-1<2'.repeat(n)}`;
  t.throws(() => compile(chain(2700)), { name: 'QueryError', message: /more than 512 terms \(signals, values, comparisons, AND, OR, NOT\): split it/ });
  // SELECT path (1) + the first comparison (3) + 4 per "OR -1<2": the longest chain that fits the bound.
  const fits = Math.floor((QUERY_LIMITS.maxNodes - 4) / 4);
  t.equal(compile(chain(fits)).nodes, 4 + 4 * fits, `${fits} ORs: ${4 + 4 * fits} terms compile`);
  t.throws(() => compile(chain(fits + 1)), /more than 512 terms/);
  t.equal(compile('SELECT Vehicle.Speed WHERE Vehicle.Speed BETWEEN 1 AND 2 AND NOT Vehicle.Body.Lights.Beam.Low.IsOn').nodes, 8, 'every term counts once: path, BETWEEN and its three operands, AND, NOT and its path');
});
