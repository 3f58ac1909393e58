// Pure modules of the signals area: VSS validation and wildcard expansion, value conversion, and the batcher's
// bounds (congested client, full-set frames, leases).
import t from 'tap';
import { Batcher } from '../../src/signals/batcher';
import { coerce, fromWire, toWire } from '../../src/signals/values';
import { VssModel } from '../../src/signals/vss';
import { ManualClock } from '../helpers/manual-clock';
import { MemoryClient } from '../helpers/memory-client';

t.test('vss: default model, wildcards, validation', async (t) => {
  const m = VssModel.loadDefault();
  t.equal(m.size, 910, 'the default model is VSS 4.0 as released');
  t.match(m.get('Vehicle.Speed'), { entryType: 'sensor', dataType: 'float', unit: 'km/h' });
  t.match(m.get('Vehicle.Cabin.HVAC.Station.Row1.Driver.Temperature'), { entryType: 'actuator' });
  t.same(m.expand('Vehicle.Speed'), ['Vehicle.Speed']);
  t.equal(m.expand('Vehicle.**')!.length, m.size);
  t.same(m.expand('Vehicle.Body.Lights.*'), m.expand('Vehicle.Body.Lights.**'));
  t.same(m.expand('Vehicle.Body.Lights'), m.expand('Vehicle.Body.Lights.*'), 'a branch path means everything under it');
  t.ok(m.expand('Vehicle.Cabin.Door.*.DriverSide.IsOpen')!.includes('Vehicle.Cabin.Door.Row1.DriverSide.IsOpen'), '* inside a path: one level');
  t.equal(m.expand('Vehicle.Nope'), null);
  t.throws(() => VssModel.parse({ Vehicle: { type: 'branch', children: { A: { type: 'branch', children: { B: { type: 'sensor', datatype: 'int7' } } } } } }), /Vehicle\.A\.B: datatype/);
  t.throws(() => VssModel.parse({ Vehicle: { type: 'branch', children: { 'x y': { type: 'sensor', datatype: 'int8' } } } }), /Vehicle\.x y: node names/);
  t.throws(() => VssModel.parse([]), /expected an object/);
});

t.test('vss: the indexes answer as a scan of every leaf would', async (t) => {
  const m = VssModel.loadDefault();
  const all = m.all().map((x) => x.path);
  // What expand meant before the indexes: a prefix filter or a regular expression over every leaf, in model order.
  const reference = (p: string): string[] | null => {
    if (all.includes(p)) return [p];
    const isBranch = all.some((k) => k.startsWith(p + '.'));
    let prefix: string | null = null;
    if (isBranch) prefix = p;
    else if (p.endsWith('.**') && !p.slice(0, -3).includes('*')) prefix = p.slice(0, -3);
    else if (p.endsWith('.*') && !p.slice(0, -2).includes('*')) prefix = p.slice(0, -2);
    let out: string[] = [];
    if (prefix !== null) out = all.filter((k) => k.startsWith(prefix + '.'));
    else if (p.includes('*')) {
      const re = new RegExp('^' + p.split('.').map((seg, i, arr) => seg === '**' ? '.*' : seg === '*' ? (i === arr.length - 1 ? '.+' : '[^.]+') : seg.replace(/[^A-Za-z0-9_]/g, (c) => (c === '*' ? '[^.]*' : '\\' + c))).join('\\.') + '$');
      out = all.filter((k) => re.test(k));
    }
    return out.length ? out : null;
  };
  const patterns = ['Vehicle', 'Vehicle.*', 'Vehicle.**', '*', '**', '*.Speed', 'Vehicle.Speed', 'Vehicle.Speed.*', 'Vehicle.Cabin', 'Vehicle.Cabin.**',
    'Vehicle.Cabin.Door.*.DriverSide.IsOpen', 'Vehicle.**.IsOpen', 'Vehicle.Cabin.*', 'Vehicle.Cabin.*.*', 'Vehicle.Body.Lights.Is*', 'Vehicle.Nope.**',
    'Vehicle.Cabin.Door.Row1.*', 'Vehicle.*.Door', 'Nope', 'Vehicle.', 'Vehicle..*', 'Vehicle.Cab*.**'];
  for (const p of patterns) t.same(m.expand(p), reference(p), p);
  for (const x of m.all()) if (m.byId(x.id) !== x) { t.fail(`byId(${x.id})`); break; }
  t.equal(m.byId(0), undefined);
  t.equal(m.byId(m.size + 1), undefined);
  t.equal(m.byId(1.5), undefined);
  t.equal(m.scanSize('Vehicle.Speed'), 1, 'an exact path looks at one leaf');
  t.equal(m.scanSize('Vehicle.**'), m.size, 'Vehicle.** looks at all');
  t.equal(m.scanSize('Vehicle.Cabin.*.IsOpen'), m.expand('Vehicle.Cabin.**')!.length, 'a wildcard looks at its literal prefix\'s range');

  // Leaves registered at run time (withLeaves) are indexed apart, and every answer is still the scan's over all().
  const r1 = m.withLeaves([{ path: 'Vehicle.Cabin.Feeder.Rpm', entryType: 'sensor', dataType: 'uint32' }, { path: 'Vehicle.Extra', entryType: 'sensor', dataType: 'float' }]);
  const r2 = r1.withLeaves([{ path: 'Vehicle.Cabin.Feeder.Temp', entryType: 'sensor', dataType: 'float' }, { path: 'Other.Root.Leaf', entryType: 'sensor', dataType: 'boolean' }]);
  t.equal(m.size + 4, r2.size, 'four leaves more');
  t.equal(m.get('Vehicle.Extra'), undefined, 'the model registered to is unchanged');
  all.splice(0, all.length, ...r2.all().map((x) => x.path));
  t.same(new Set(all).size, r2.size, 'all() lists each leaf once');
  for (const p of [...patterns, 'Vehicle.Cabin.Feeder', 'Vehicle.Cabin.Feeder.*', 'Vehicle.Extra', 'Other', 'Other.**', '*.Root.*', '**.Temp']) t.same(r2.expand(p), reference(p), `registered: ${p}`);
  t.same(['Vehicle.Cabin.Feeder.Rpm', 'Vehicle.Extra', 'Vehicle.Cabin.Feeder.Temp', 'Other.Root.Leaf'].map((p) => r2.get(p)?.id), [m.size + 1, m.size + 2, m.size + 3, m.size + 4], 'numbered after the last id, in order of registration');
  t.same(r2.all().slice(-4).map((x) => x.path), ['Vehicle.Cabin.Feeder.Rpm', 'Vehicle.Extra', 'Vehicle.Cabin.Feeder.Temp', 'Other.Root.Leaf'], 'listed after the parsed leaves, in order of registration');
  t.equal(r1.size, m.size + 2, 'a model registered to keeps what it saw');
  t.equal(r1.get('Vehicle.Cabin.Feeder.Temp'), undefined);
  t.equal(r1.byId(m.size + 3), undefined);
  t.same(r1.expand('Vehicle.Cabin.Feeder'), ['Vehicle.Cabin.Feeder.Rpm']);
  const r3 = r1.withLeaves([{ path: 'Vehicle.Cabin.Feeder.Temp', entryType: 'sensor', dataType: 'int8' }]);
  t.match(r3.get('Vehicle.Cabin.Feeder.Temp'), { id: m.size + 3, dataType: 'int8' }, 'and registers on its own line');
  t.match(r2.get('Vehicle.Cabin.Feeder.Temp'), { id: m.size + 3, dataType: 'float' }, 'without changing the model registered to after it');
  t.equal(r2.expand(''), null, 'an empty pattern names nothing');
  for (const x of r2.all()) if (r2.byId(x.id) !== x || r2.get(x.path) !== x || r2.leaves.get(x.path) !== x) { t.fail(`lookup of ${x.path}`); break; }
  t.equal(r2.scanSize('Vehicle.**'), r2.size - 1, 'Vehicle.** looks at every leaf under Vehicle, the registered ones too');
  t.equal(r2.branchMeta('Vehicle.Cabin').description, m.branchMeta('Vehicle.Cabin').description, 'branch texts are kept');
  for (const [extra, re] of [
    [{ path: 'Vehicle.Cabin.Feeder', entryType: 'sensor', dataType: 'float' }, /is a branch/],
    [{ path: 'Vehicle.Extra', entryType: 'sensor', dataType: 'float' }, /already a signal/],
    [{ path: 'Vehicle.Extra.Below', entryType: 'sensor', dataType: 'float' }, /Vehicle\.Extra is a signal/],
    [{ path: 'Vehicle.Speed.Below', entryType: 'sensor', dataType: 'float' }, /Vehicle\.Speed is a signal/],
  ] as const) t.throws(() => r2.withLeaves([extra]), re, extra.path);
});

t.test('values: conversion and wire form', async (t) => {
  t.equal(coerce({ dataType: 'boolean' }, 'True'), true);
  t.equal(coerce({ dataType: 'boolean' }, '0'), false);
  t.equal(coerce({ dataType: 'int32' }, '-12'), -12);
  t.same(coerce({ dataType: 'float[]' }, '[1.5, 2]'), [1.5, 2]);
  t.throws(() => coerce({ dataType: 'uint8' }, -1), /does not fit uint8/);
  t.throws(() => coerce({ dataType: 'float', min: 0, max: 10 }, 11), /above the maximum/);
  t.throws(() => coerce({ dataType: 'boolean' }, 'maybe'), /expected a boolean/);
  t.same(toWire('int64', -5), { int64: '-5' });
  t.same(toWire('int16', -5), { int32: -5 });
  t.same(toWire('uint64[]', [1, 2]), { uint64_array: { values: ['1', '2'] } });
  t.same(fromWire({ int64_array: { values: ['-3', '4'] } }), [-3, 4]);
});


t.test('batcher: coalescing, congestion, full set, leases', async (t) => {
  const clock = new ManualClock();
  clock.t = 1000;
  let unionChanges = 0;
  const b = new Batcher(10, () => unionChanges++, clock);
  const slow = new MemoryClient('slow');
  const full = new MemoryClient('full');
  b.add({ id: 's1', client: slow, paths: new Set(['A', 'B']), fullSet: false, ttlMs: null, expiresAt: null });
  b.add({ id: 's2', client: full, paths: new Set(['A', 'B', 'C']), fullSet: true, ttlMs: 5000, expiresAt: clock.now() + 5000 });
  await Promise.resolve();
  t.equal(unionChanges, 1, 'one union change for the adds in one tick');
  b.ingest(new Map([['A', 1], ['B', 2], ['C', 3]]));
  b.flush();
  t.same(slow.frames.at(-1)!.result, { A: 1, B: 2 });
  slow.congestedNow = true;
  for (let i = 0; i < 10_000; i++) b.ingest(new Map([['A', i]]));
  b.flush();
  t.equal(slow.frames.length, 1, 'a congested client gets no frame');
  t.same(full.frames.at(-1)!.result, { A: 9999, B: 2, C: 3 }, 'full set frame carries every signal');
  t.ok(b.get('s1')!.dirty.size <= 2, 'pending state bounded by the signal list');
  slow.congestedNow = false;
  b.flush();
  t.same(slow.frames.at(-1)!.result, { A: 9999 }, 'after congestion: the newest value, once');
  clock.t += 6000;
  b.sweep();
  t.notOk(b.get('s2'), 'lease expired');
  t.ok(b.get('s1'));
  slow.close();
  t.equal(b.size, 0, 'closed client removed');
  b.stop();
});

t.test('batcher: the window — at most one frame per subscriber per window, the newest values, none when idle', async (t) => {
  const clock = new ManualClock();
  const b = new Batcher(100, () => {}, clock);
  const c = new MemoryClient('local');
  b.add({ id: 's', client: c, paths: new Set(['A', 'B']), fullSet: false, ttlMs: null, expiresAt: null });
  t.equal(clock.pending, 1, 'a new subscription arms the window (its first frame carries the known values)');
  clock.advance(100);
  t.equal(c.frames.length, 0, 'nothing known yet: no frame');
  for (let i = 0; i < 1000; i++) b.ingest(new Map([['A', i]]));
  t.equal(clock.pending, 1, 'a thousand updates arm one window');
  clock.advance(99);
  t.equal(c.frames.length, 0, 'nothing before the window ends');
  clock.advance(1);
  t.same(c.frames.map((f) => f.result), [{ A: 999 }], 'one frame at the end of the window, with the newest value');
  b.ingest(new Map([['A', 999]]));
  t.equal(clock.pending, 0, 'an unchanged value arms nothing');
  b.ingest(new Map([['B', 1]]));
  b.ingest(new Map([['A', 1000]]));
  clock.advance(250);
  t.same(c.frames.map((f) => f.result), [{ A: 999 }, { A: 1000, B: 1 }], 'changes within a window merged into one frame');
  t.same(c.frames.map((f) => f.timestamp), [new Date(200).toISOString(), new Date(300).toISOString()], 'each stamped with its window\'s end on the clock');
  clock.advance(10_000);
  t.equal(c.frames.length, 2, 'no frame without a change');
  b.stop();
  t.equal(clock.pending, 0, 'stop clears the window');
});

t.test('batcher: replacing a subscription in place keeps the known values', async (t) => {
  const b = new Batcher(10, () => {}, new ManualClock());
  const c = new MemoryClient('kit');
  b.add({ id: 'k', client: c, paths: new Set(['A', 'B']), fullSet: true, ttlMs: null, expiresAt: null });
  b.ingest(new Map([['A', 1], ['B', 2]]));
  b.flush();
  b.remove('k');
  b.add({ id: 'k', client: c, paths: new Set(['A', 'B']), fullSet: true, ttlMs: null, expiresAt: null });
  b.flush();
  t.same(c.frames.at(-1)!.result, { A: 1, B: 2 }, 'renewed subscriber gets the full set at once');
  b.remove('k');
  await Promise.resolve();
  t.equal(b.value('A'), undefined, 'values nobody wants are forgotten');
  b.stop();
});
