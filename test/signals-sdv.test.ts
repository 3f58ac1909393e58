// sdv.databroker.v1 (Broker + Collector) served by the embedded store, through a raw gRPC client: the .proto files
// match the Velocitas SDK's generated stubs, each rpc behaves as databroker 0.4.4's, and one store sits behind all
// three APIs (a value written through one is read and streamed through the others).
import * as path from 'node:path';
import t from 'tap';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { ApiClient, ROOT, eventually, sleep } from './helpers/agent';
import { runPython, VELOCITAS_SDK } from './helpers/peers';
import { call, rawClients, startUpstream, writeAllTypesVss } from './helpers/signals';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

t.test('proto/sdv/databroker/v1 agrees with the Velocitas SDK 0.14.1 stubs on every number and kind', async (t) => {
  // Both sides flattened the same way: message.field → [number, TYPE_x, LABEL_x, message/enum name or map<key,value>].
  const py = runPython(t, `
import json, sys
sys.path.insert(0, ${JSON.stringify(VELOCITAS_SDK)})
from google.protobuf import descriptor_pb2
from velocitas_sdk.proto import types_pb2, broker_pb2, collector_pb2
T = descriptor_pb2.FieldDescriptorProto
out = {"fields": {}, "enums": {}, "rpcs": {}}
def ref(f):
    if f.message_type and f.message_type.GetOptions().map_entry:
        k, v = f.message_type.fields_by_name["key"], f.message_type.fields_by_name["value"]
        return "map<%s,%s>" % (T.Type.Name(k.type), ref(v) or T.Type.Name(v.type))
    t = f.message_type or f.enum_type
    return t.name if t else ""
def walk(d):
    if d.GetOptions().map_entry:
        return
    for f in d.fields:
        out["fields"][d.full_name + "." + f.name] = [f.number, T.Type.Name(f.type), T.Label.Name(f.label), ref(f)]
    for n in d.nested_types: walk(n)
    for e in d.enum_types: out["enums"][e.full_name] = {v.name: v.number for v in e.values}
for m in (types_pb2, broker_pb2, collector_pb2):
    for d in m.DESCRIPTOR.message_types_by_name.values(): walk(d)
    for e in m.DESCRIPTOR.enum_types_by_name.values(): out["enums"][e.full_name] = {v.name: v.number for v in e.values}
    for s in m.DESCRIPTOR.services_by_name.values():
        for x in s.methods: out["rpcs"][s.full_name + "." + x.name] = [x.input_type.name, x.output_type.name, x.client_streaming, x.server_streaming]
print(json.dumps(out))
`);
  const sdk = JSON.parse(await py.waitOut(/^\{/));
  const def = protoLoader.loadSync(['sdv/databroker/v1/broker.proto', 'sdv/databroker/v1/collector.proto'], { includeDirs: [path.join(ROOT, 'proto')], keepCase: true });
  type Field = { name: string; number: number; type: string; label: string; typeName: string };
  type Desc = { field: Field[]; nestedType: Array<Desc & { name: string; options?: { mapEntry?: boolean } }>; enumType: Array<{ name: string; value: Array<{ name: string; number: number }> }> };
  const ours: Record<string, unknown[]> = {};
  const enums: Record<string, Record<string, number>> = {};
  const short = (n: string) => n.split('.').pop()!;
  for (const [name, d] of Object.entries(def)) {
    const desc = (d as { type?: Desc }).type;
    if (!desc || !('field' in desc)) {
      if (desc && 'value' in (desc as object)) enums[name] = Object.fromEntries((desc as unknown as { value: Array<{ name: string; number: number }> }).value.map((v) => [v.name, v.number]));
      continue;
    }
    for (const e of desc.enumType) enums[`${name}.${e.name}`] = Object.fromEntries(e.value.map((v) => [v.name, v.number]));
    for (const f of desc.field) {
      const entry = desc.nestedType.find((n) => n.name === short(f.typeName) && n.options?.mapEntry);
      const ref = entry
        ? `map<${entry.field[0]!.type},${entry.field[1]!.typeName ? short(entry.field[1]!.typeName) : entry.field[1]!.type}>`
        : f.typeName ? short(f.typeName) : '';
      ours[`${name}.${f.name}`] = [f.number, f.type, f.label, ref];
    }
  }
  for (const [name, want] of Object.entries(sdk.fields as Record<string, unknown[]>)) t.same(ours[name], want, `${name}: ${JSON.stringify(want)}`);
  for (const [name, values] of Object.entries(sdk.enums as Record<string, Record<string, number>>)) t.same(enums[name], values, `enum ${name}`);
  for (const [name, [req, res, cs, ss]] of Object.entries(sdk.rpcs as Record<string, [string, string, boolean, boolean]>)) {
    const i = name.lastIndexOf('.');
    const m = (def[name.slice(0, i)] as unknown as Record<string, { requestType: { type: { name: string } }; responseType: { type: { name: string } }; requestStream: boolean; responseStream: boolean }>)[name.slice(i + 1)];
    t.same(m && [m.requestType.type.name, m.responseType.type.name, m.requestStream, m.responseStream], [req, res, cs, ss], `rpc ${name}`);
  }
});

t.test('Broker and Collector against the embedded store', async (t) => {
  const up = await startUpstream(t, { kuksa: { vss: writeAllTypesVss(t) } });
  const raw = rawClients(up.port);
  t.teardown(() => { for (const c of Object.values(raw)) c.close(); });
  const api = await ApiClient.connect(up.agent.apiUrl);
  t.teardown(() => api.close());

  await t.test('GetDatapoints: values, NOT_AVAILABLE, UNKNOWN_DATAPOINT, and an empty request', async (t) => {
    await t.rejects(call(raw.broker, 'GetDatapoints', { datapoints: [] }), { code: grpc.status.INVALID_ARGUMENT });
    await api.request({ type: 'write_signals_value', data: { 'Vehicle.T.S_i32': -7 } });
    const r = await call(raw.broker, 'GetDatapoints', { datapoints: ['Vehicle.T.S_i32', 'Vehicle.T.S_u8', 'Vehicle.Nope'] });
    t.match(r.datapoints['Vehicle.T.S_i32'], { int32_value: -7, timestamp: { seconds: String } });
    t.match(r.datapoints['Vehicle.T.S_u8'], { failure_value: 'NOT_AVAILABLE' }, 'known, no value yet');
    t.match(r.datapoints['Vehicle.Nope'], { failure_value: 'UNKNOWN_DATAPOINT' }, 'unknown: answered in the map');
  });

  await t.test('SetDatapoints: actuator targets only, errors by kind, echoed when unclaimed', async (t) => {
    const r = await call(raw.broker, 'SetDatapoints', { datapoints: {
      'Vehicle.Act.Lamp': { bool_value: true }, 'Vehicle.Act.Level': { uint32_value: 150 }, 'Vehicle.T.S_i32': { int32_value: 1 },
      'Vehicle.Nope': { bool_value: true }, 'Vehicle.Act.Lamp2': { bool_value: true },
    } });
    t.same(r.errors, { 'Vehicle.Act.Level': 'OUT_OF_BOUNDS', 'Vehicle.T.S_i32': 'ACCESS_DENIED', 'Vehicle.Nope': 'UNKNOWN_DATAPOINT', 'Vehicle.Act.Lamp2': 'UNKNOWN_DATAPOINT' });
    t.same((await call(raw.broker, 'SetDatapoints', { datapoints: { 'Vehicle.Act.Level': { string_value: '5' } } })).errors, { 'Vehicle.Act.Level': 'INVALID_TYPE' });
    const v1 = await call(raw.v1, 'Get', { entries: [{ path: 'Vehicle.Act.Lamp', view: 'VIEW_ALL' }] });
    t.match(v1.entries[0], { actuator_target: { bool: true }, value: { bool: true } }, 'the target is set and, unclaimed, echoed as the value');
  });

  await t.test('GetMetadata: named, unknown left out, empty = all; sdv numbering and restrictions', async (t) => {
    const r = await call(raw.broker, 'GetMetadata', { names: ['Vehicle.T.S_i8', 'Vehicle.Nope', 'Vehicle.Act.Lamp', 'Vehicle.T.Enum', 'Vehicle.T.A_u64'] });
    t.match(r.list, [
      { name: 'Vehicle.T.S_i8', data_type: 'INT8', entry_type: 'ENTRY_TYPE_SENSOR', min: { int32: -100 }, max: { int32: 100 }, id: Number },
      { name: 'Vehicle.Act.Lamp', data_type: 'BOOL', entry_type: 'ENTRY_TYPE_ACTUATOR' },
      { name: 'Vehicle.T.Enum', data_type: 'STRING', allowed: { string_values: { values: ['PARK', 'DRIVE'] } } },
      { name: 'Vehicle.T.A_u64', data_type: 'UINT64_ARRAY' },
    ]);
    t.equal(r.list.length, 4);
    t.equal((await call(raw.broker, 'GetMetadata', { names: [] })).list.length, 25, 'every leaf of the model');
  });

  await t.test('one store, three APIs', async (t) => {
    const id = (await call(raw.broker, 'GetMetadata', { names: ['Vehicle.T.S_i64'] })).list[0].id as number;
    t.same((await call(raw.collector, 'UpdateDatapoints', { datapoints: { [id]: { int64_value: '-1234567890123' } } })).errors ?? {}, {});
    t.equal((await call(raw.v2, 'GetValue', { signal_id: { path: 'Vehicle.T.S_i64' } })).data_point.value.int64, '-1234567890123', 'Collector → kuksa.val v2');
    t.same((await api.request({ type: 'get_signals_value', apis: ['Vehicle.T.S_i64'] })).result, { 'Vehicle.T.S_i64': -1234567890123 }, 'Collector → local API');
    await call(raw.v1, 'Set', { updates: [{ entry: { path: 'Vehicle.T.A_double', value: { double_array: { values: [1.25, -3] } } }, fields: ['FIELD_VALUE'] }] });
    t.same((await call(raw.broker, 'GetDatapoints', { datapoints: ['Vehicle.T.A_double'] })).datapoints['Vehicle.T.A_double'].double_array.values, [1.25, -3], 'kuksa.val v1 → Broker');

    const sub = raw.broker.Subscribe({ query: 'SELECT Vehicle.T.S_i16 AS small, Vehicle.T.S_string WHERE Vehicle.T.S_i16 < 0' }) as grpc.ClientReadableStream<Obj>;
    t.teardown(() => sub.cancel());
    sub.on('error', () => {});
    const replies: Obj[] = [];
    sub.on('data', (r: Obj) => replies.push(r.fields));
    await sleep(200);
    t.same(replies, [], 'no first reply while the WHERE clause cannot hold (no value yet)');
    await call(raw.v2, 'PublishValue', { signal_id: { path: 'Vehicle.T.S_i16' }, data_point: { value: { int32: 5 } } });
    await call(raw.v2, 'PublishValue', { signal_id: { path: 'Vehicle.T.S_i16' }, data_point: { value: { int32: -3 } } });
    await eventually('a Subscribe reply', () => replies.length > 0, { stepMs: 10 });
    t.match(replies, [{ small: { int32_value: -3 }, 'Vehicle.T.S_string': { failure_value: 'NOT_AVAILABLE' } }], 'kuksa.val v2 → Broker Subscribe, by alias, only when it holds');
  });

  await t.test('RegisterDatapoints, UpdateDatapoints and StreamDatapoints', async (t) => {
    const reg = await call(raw.collector, 'RegisterDatapoints', { list: [
      { name: 'Vehicle.Feeder.Rpm', data_type: 'UINT32', description: 'engine speed', change_type: 'CONTINUOUS' },
      { name: 'Vehicle.T.S_bool', data_type: 'BOOL' },
    ] });
    t.match(reg.results, { 'Vehicle.Feeder.Rpm': 26, 'Vehicle.T.S_bool': Number }, 'a new signal gets the next id; a known one its own');
    t.match((await call(raw.broker, 'GetMetadata', { names: ['Vehicle.Feeder.Rpm'] })).list, [{ name: 'Vehicle.Feeder.Rpm', data_type: 'UINT32', entry_type: 'ENTRY_TYPE_SENSOR', description: 'engine speed' }]);
    for (const [item, re] of [
      [{ name: 'Vehicle.T.S_bool', data_type: 'STRING' }, /is BOOL, registered as STRING/], [{ name: 'Vehicle.T', data_type: 'BOOL' }, /is a branch/],
      [{ name: 'Vehicle.Speed.Sub', data_type: 'BOOL' }, /Vehicle\.Speed is a signal/], [{ name: 'bad name!', data_type: 'BOOL' }, /a signal path is/],
      [{ name: 'Vehicle.Feeder.When', data_type: 'TIMESTAMP' }, /TIMESTAMP is not supported/],
    ] as const) {
      await t.rejects(call(raw.collector, 'RegisterDatapoints', { list: [{ name: 'Vehicle.Feeder.Other', data_type: 'BOOL' }, item] }), { code: grpc.status.INVALID_ARGUMENT, details: re }, JSON.stringify(item));
    }
    t.match((await call(raw.broker, 'GetDatapoints', { datapoints: ['Vehicle.Feeder.Other'] })).datapoints['Vehicle.Feeder.Other'], { failure_value: 'UNKNOWN_DATAPOINT' }, 'a refused request registers nothing');

    const rpm = reg.results['Vehicle.Feeder.Rpm'] as number;
    const u = await call(raw.collector, 'UpdateDatapoints', { datapoints: { [rpm]: { uint32_value: 3000 }, 999999: { uint32_value: 1 }, [rpm - 1]: { bool_value: true } } });
    t.same(u.errors, { 999999: 'UNKNOWN_DATAPOINT', [rpm - 1]: 'INVALID_TYPE' }, 'errors by id; the good value is written');
    t.same((await api.request({ type: 'get_signals_value', apis: ['Vehicle.Feeder.Rpm'] })).result, { 'Vehicle.Feeder.Rpm': 3000 }, 'a registered signal is a signal of the store');

    const s = raw.collector.StreamDatapoints() as grpc.ClientDuplexStream<Obj, Obj>;
    const errs: Obj[] = [];
    s.on('data', (r: Obj) => errs.push(r.errors));
    const ended = new Promise<number>((resolve) => { s.on('error', (e: grpc.ServiceError) => resolve(e.code)); s.on('end', () => resolve(0)); });
    s.write({ datapoints: { [rpm]: { uint32_value: 3100 } } });
    s.write({ datapoints: { [rpm]: { int32_value: -1 } } });
    s.write({ datapoints: { [rpm]: { uint32_value: 3200 } } });
    s.end();
    t.equal(await ended, 0, 'ends OK after the feeder half-closes');
    t.same(errs, [{ [rpm]: 'INVALID_TYPE' }], 'a reply only for the refused value');
    t.same((await call(raw.broker, 'GetDatapoints', { datapoints: ['Vehicle.Feeder.Rpm'] })).datapoints['Vehicle.Feeder.Rpm'].uint32_value, 3200);
  });

  await t.test('a query that reads a signal the model loses ends NOT_FOUND', async (t) => {
    const sub = raw.broker.Subscribe({ query: 'SELECT Vehicle.Speed' }) as grpc.ClientReadableStream<Obj>;
    const status = new Promise<grpc.ServiceError>((resolve) => sub.on('error', resolve));
    // The first reply (the signal's current state) says the stream is open on the server before the model changes.
    await new Promise<void>((resolve) => sub.once('data', () => resolve()));
    sub.on('data', () => {});
    const tree = { Vehicle: { type: 'branch', children: { Other: { type: 'sensor', datatype: 'float' } } } };
    t.match(await api.request({ type: 'generate_vehicle_model', data: tree }), { leaves: 1 });
    t.match(await status, { code: grpc.status.NOT_FOUND, details: /Vehicle\.Speed: no longer in the vehicle model/ });
  });
});

t.test('RegisterDatapoints is bounded per connection and per server', async (t) => {
  const up = await startUpstream(t);
  // A client of its own channel is a connection of its own (the unit of the per-connection bounds).
  const sets = Array.from({ length: 6 }, () => rawClients(up.port, { 'grpc.use_local_subchannel_pool': 1 }));
  t.teardown(() => { for (const c of sets.flatMap((x) => Object.values(x))) c.close(); });
  const conns = sets.map((x) => x.collector);
  const list = (from: number, n: number) => Array.from({ length: n }, (_, i) => ({ name: `Vehicle.Reg.S${from + i}`, data_type: 'FLOAT' }));
  const register = (c: (typeof conns)[number], from: number, n: number) => call(c, 'RegisterDatapoints', { list: list(from, n) });
  t.equal(Object.keys((await register(conns[0]!, 0, 1000)).results).length, 1000, 'one connection registers 1000');
  await t.rejects(register(conns[0]!, 1000, 1), { code: grpc.status.RESOURCE_EXHAUSTED, details: /more than 1000 signals registered beyond the vehicle model from this connection \(1000 so far, 1 new/ }, 'its 1001st is refused');
  await t.rejects(register(conns[1]!, 1000, 1001), { code: grpc.status.RESOURCE_EXHAUSTED, details: /from this connection/ }, 'so is a request of 1001 at once');
  t.equal(Object.keys((await register(conns[1]!, 0, 3)).results).length, 3, 'signals another connection registered answer their ids (they take no share)');
  for (let k = 1; k < 5; k++) t.equal(Object.keys((await register(conns[k]!, 1000 * k, 1000)).results).length, 1000, `connection ${k + 1} registers 1000 more`);
  await t.rejects(register(conns[5]!, 5000, 1), { code: grpc.status.RESOURCE_EXHAUSTED, details: /more than 5000 signals registered beyond the vehicle model on this server/ }, 'the server\'s 5001st is refused');
  t.equal(Object.keys((await register(conns[5]!, 4990, 10)).results).length, 10, 'known ones still answer their ids');
});

t.test('sdv Subscribe: the terms of open queries are bounded per connection and per server', async (t) => {
  const up = await startUpstream(t);
  const sets = Array.from({ length: 5 }, () => rawClients(up.port, { 'grpc.use_local_subchannel_pool': 1 }));
  t.teardown(() => { for (const c of sets.flatMap((x) => Object.values(x))) c.close(); });
  // 4 + 4 × 127 = 512 terms: the most one query may have (true without a value of Vehicle.Speed: it answers at once).
  const query = `SELECT Vehicle.Speed WHERE 1 > 0${' OR -1 < 2'.repeat(127)}`;
  const first = (s: grpc.ClientReadableStream<Obj>) => new Promise<{ code: number; details: string }>((resolve) => {
    s.once('data', () => resolve({ code: 0, details: 'data' }));
    s.on('error', (e: grpc.ServiceError) => resolve({ code: e.code, details: e.details }));
  });
  const streams: grpc.ClientReadableStream<Obj>[] = [];
  t.teardown(() => { for (const s of streams) s.cancel(); });
  const open = async (k: number) => { const s = sets[k]!.broker.Subscribe({ query }) as grpc.ClientReadableStream<Obj>; streams.push(s); return first(s); };
  const tooLong = await first(sets[0]!.broker.Subscribe({ query: `${query} OR -1 < 2` }) as grpc.ClientReadableStream<Obj>);
  t.match(tooLong, { code: grpc.status.INVALID_ARGUMENT, details: /more than 512 terms/ }, 'a query of 516 terms does not compile');
  for (let i = 0; i < 32; i++) {
    const r = await open(0);
    if (r.code !== 0) { t.fail(`stream ${i + 1} of the first connection: ${r.details}`); return; }
  }
  t.match(await open(0), { code: grpc.status.RESOURCE_EXHAUSTED, details: /queries open on this connection would have more than 16384 terms/ }, 'a connection holds 32 maximal queries, then is refused');
  for (let k = 1; k < 4; k++) {
    for (let i = 0; i < 32; i++) {
      const r = await open(k);
      if (r.code !== 0) { t.fail(`stream ${i + 1} of connection ${k + 1}: ${r.details}`); return; }
    }
  }
  t.match(await open(4), { code: grpc.status.RESOURCE_EXHAUSTED, details: /queries open on this server would have more than 65536 terms/ }, 'the server holds 128 of them, then refuses even a new connection');
  t.match(await first(sets[4]!.broker.Subscribe({ query: 'SELECT Vehicle.Speed' }) as grpc.ClientReadableStream<Obj>), { code: grpc.status.RESOURCE_EXHAUSTED }, 'a small query too, while the server is full');
  for (const s of streams.splice(0, 32)) s.cancel();
  // The server hears of the cancels a moment later: try again until it has (20 s at most).
  let freed = false;
  for (const end = Date.now() + 20_000; !freed && Date.now() < end; await sleep(100)) freed = (await open(4)).code === 0;
  t.ok(freed, 'once the first connection closed its streams, another connection gets one');
});

t.test('kuksa.echoActuators: false keeps targets as targets and v2 Actuate needs a provider', async (t) => {
  const up = await startUpstream(t, { kuksa: { echoActuators: false } });
  const raw = rawClients(up.port);
  t.teardown(() => { for (const c of Object.values(raw)) c.close(); });
  const api = await ApiClient.connect(up.agent.apiUrl);
  t.teardown(() => api.close());
  const LOW = 'Vehicle.Body.Lights.Beam.Low.IsOn';
  t.same((await call(raw.broker, 'SetDatapoints', { datapoints: { [LOW]: { bool_value: true } } })).errors ?? {}, {}, 'SetDatapoints sets the target (as databroker 0.4)');
  t.match((await call(raw.v1, 'Get', { entries: [{ path: LOW, view: 'VIEW_ALL' }] })).entries[0], { actuator_target: { bool: true } });
  t.match((await call(raw.broker, 'GetDatapoints', { datapoints: [LOW] })).datapoints[LOW], { failure_value: 'NOT_AVAILABLE' }, 'no echo: the current value is untouched');
  await t.rejects(call(raw.v2, 'Actuate', { signal_id: { path: LOW }, value: { bool: true } }), { code: grpc.status.UNAVAILABLE, details: /no provider.*kuksa\.echoActuators is off/ });
  t.match((await api.request({ type: 'write_signals_value', data: { [LOW]: true } })).errors, { [LOW]: /no provider.*echoActuators/ }, 'the local API says why');
});

t.test('a claimed actuator is forwarded to its provider, not echoed', async (t) => {
  const up = await startUpstream(t);
  const raw = rawClients(up.port);
  t.teardown(() => { for (const c of Object.values(raw)) c.close(); });
  const LOW = 'Vehicle.Body.Lights.Beam.Low.IsOn';
  const provider = raw.v2.OpenProviderStream() as grpc.ClientDuplexStream<Obj, Obj>;
  t.teardown(() => provider.cancel());
  provider.on('error', () => {});
  const got: Obj[] = [];
  provider.on('data', (m: Obj) => got.push(m));
  provider.write({ provide_actuation_request: { actuator_identifiers: [{ path: LOW }] } });
  await eventually('the claim answered', () => got.length > 0, { stepMs: 10 });
  t.same((await call(raw.broker, 'SetDatapoints', { datapoints: { [LOW]: { bool_value: true } } })).errors ?? {}, {});
  await eventually('the target forwarded', () => got.some((m) => m.batch_actuate_stream_request), { stepMs: 10 });
  t.ok(got.some((m) => m.batch_actuate_stream_request), 'the provider gets the target');
  t.match((await call(raw.broker, 'GetDatapoints', { datapoints: [LOW] })).datapoints[LOW], { failure_value: 'NOT_AVAILABLE' }, 'the provider, not the store, sets the value');
});
