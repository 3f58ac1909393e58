// Velocitas apps with the real Velocitas Python SDK 0.14.1 against the agent's default embedded store (served as
// sdv.databroker.v1): `get` after a local write, a `subscribe` that sees the next local write, a WHERE subscription
// that fires only when it holds, a `set` of an actuator that the local API and a kuksa.val v2 subscriber read, and
// the playground's template app (set Low.IsOn, read it back, print it).
import * as fs from 'node:fs';
import * as nodePath from 'node:path';
import t from 'tap';
import * as grpc from '@grpc/grpc-js';
import { ApiClient, eventually, tmpDir } from './helpers/agent';
import { startMosquitto } from './helpers/mosquitto';
import { rawClients, startUpstream } from './helpers/signals';
import { runVelocitasApp } from './helpers/velocitas';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const LOW = 'Vehicle.Body.Lights.Beam.Low.IsOn';
const LEAVES = { 'Vehicle.Speed': 'float', [LOW]: 'boolean' };

const APP = `
import asyncio, json, signal
from vehicle import Vehicle, vehicle
from velocitas_sdk.vdb.reply import DataPointReply
from velocitas_sdk.vehicle_app import VehicleApp


def out(**kw):
    print(json.dumps(kw), flush=True)


class SignalsApp(VehicleApp):
    def __init__(self, vehicle_client: Vehicle):
        super().__init__()
        self.Vehicle = vehicle_client

    async def on_start(self):
        out(step="get", value=(await self.Vehicle.Speed.get()).value)
        await self.Vehicle.Speed.where("Vehicle.Speed > 100").subscribe(self.on_fast)
        await self.Vehicle.Speed.subscribe(self.on_speed)
        await self.Vehicle.Body.Lights.Beam.Low.IsOn.set(True)
        out(step="set", readback=(await self.Vehicle.Body.Lights.Beam.Low.IsOn.get()).value)

    async def on_speed(self, reply: DataPointReply):
        out(step="speed", value=reply.get(self.Vehicle.Speed).value)

    async def on_fast(self, reply: DataPointReply):
        out(step="fast", value=reply.get(self.Vehicle.Speed).value)


async def main():
    await SignalsApp(vehicle).run()


LOOP = asyncio.get_event_loop()
LOOP.add_signal_handler(signal.SIGTERM, LOOP.stop)
LOOP.run_until_complete(main())
LOOP.close()
`;

t.test('a Velocitas app gets, subscribes and sets signals on the default embedded store', async (t) => {
  const mqtt = await startMosquitto(t);
  t.teardown(() => mqtt.stop());
  const up = await startUpstream(t);
  const c = await ApiClient.connect(up.agent.apiUrl);
  t.teardown(() => c.close());
  const raw = rawClients(up.port);
  t.teardown(() => { for (const x of Object.values(raw)) x.close(); });

  // a kuksa.val v2 subscriber of the actuator, open before the app sets it
  const v2seen: unknown[] = [];
  const v2sub = raw.v2.Subscribe({ signal_paths: [LOW] }) as grpc.ClientReadableStream<Obj>;
  t.teardown(() => v2sub.cancel());
  v2sub.on('error', () => {});
  v2sub.on('data', (r: Obj) => v2seen.push(r.entries?.[LOW]?.value?.bool));

  t.notOk((await c.request({ type: 'write_signals_value', data: { 'Vehicle.Speed': 42 } })).errors, 'local write of the speed');
  const app = runVelocitasApp(t, APP, { grpcPort: up.port, mqttUrl: mqtt.url, leaves: LEAVES });
  t.teardown(() => { app.proc.kill('SIGKILL'); });
  // python's json prints a float 42 as 42.0
  const step = async (name: string, value?: number) => JSON.parse(await app.waitOut(new RegExp(`"step": "${name}"${value === undefined ? '' : `, "value": ${value}(\\.0)?[,}]`}`), 30_000));

  t.same(await step('get'), { step: 'get', value: 42 }, '.get() reads the value written through the local API');
  t.same(await step('set'), { step: 'set', readback: true }, '.set(True) then .get() reads True (echoed target)');
  t.same((await c.request({ type: 'get_signals_value', apis: [LOW] })).result, { [LOW]: true }, 'the local API reads the value the app set');
  await eventually('the v2 subscriber sees the value the app set', () => v2seen.includes(true), { stepMs: 20 });
  t.ok(v2seen.includes(true), `a kuksa.val v2 subscriber sees it (${JSON.stringify(v2seen)})`);

  await step('speed', 42); // the subscription's first reply: the current value
  for (const [v, fires] of [[55, false], [120, true], [60, false], [130, true]] as const) {
    t.notOk((await c.request({ type: 'write_signals_value', data: { 'Vehicle.Speed': v } })).errors);
    await step('speed', v);
    if (fires) await step('fast', v);
  }
  t.pass('.subscribe() sees each next local write');
  const fast = app.out.filter((l) => l.includes('"step": "fast"')).map((l) => JSON.parse(l).value);
  t.same(fast, [120, 130], 'the WHERE subscription fired only while Vehicle.Speed > 100');
});

// The playground's default Python template, as the frontend sends it (imports from `sdv` and `vehicle`).
const PLAYGROUND = `
import time
import asyncio
import signal

from sdv.vdb.reply import DataPointReply
from sdv.vehicle_app import VehicleApp
from vehicle import Vehicle, vehicle


class TestApp(VehicleApp):

    def __init__(self, vehicle_client: Vehicle):
        super().__init__()
        self.Vehicle = vehicle_client

    async def on_start(self):
        await self.Vehicle.Body.Lights.Beam.Low.IsOn.set(True)
        value = (await self.Vehicle.Body.Lights.Beam.Low.IsOn.get()).value
        print("Light value", value, flush=True)


async def main():
    vehicle_app = TestApp(vehicle)
    await vehicle_app.run()


LOOP = asyncio.get_event_loop()
LOOP.add_signal_handler(signal.SIGTERM, LOOP.stop)
LOOP.run_until_complete(main())
LOOP.close()
`;

t.test('the playground template app sets Low.IsOn to True, reads it back and prints True (default config)', async (t) => {
  const mqtt = await startMosquitto(t);
  t.teardown(() => mqtt.stop());
  const up = await startUpstream(t);
  const app = runVelocitasApp(t, PLAYGROUND, { grpcPort: up.port, mqttUrl: mqtt.url, leaves: LEAVES });
  t.teardown(() => { app.proc.kill('SIGKILL'); });
  t.equal(await app.waitOut(/^Light value /), 'Light value True');
});

// Every value kind through the SDK's own DataPoint classes: sdv.databroker.v1 numbers its enums differently from
// kuksa.val and names its value fields int32_value…; negative 32/64-bit integers travel as sint32/sint64.
const KINDS: Record<string, [string, unknown, unknown]> = { // leaf → [VSS type, a value written locally, a value the app sets]
  S_string: ['string', 'hello', 'world'], S_bool: ['boolean', true, false],
  S_i8: ['int8', -100, -7], S_i16: ['int16', -32768, -300], S_i32: ['int32', -2147483648, -5], S_i64: ['int64', -9007199254740991, -1234567890123],
  S_u8: ['uint8', 255, 7], S_u16: ['uint16', 65535, 300], S_u32: ['uint32', 4294967295, 5], S_u64: ['uint64', 9007199254740991, 1234567890123],
  S_float: ['float', 1.5, -2.5], S_double: ['double', -1e300, 3.25],
  A_string: ['string[]', ['a', 'b'], ['x']], A_bool: ['boolean[]', [true, false], [false, false, true]],
  A_i8: ['int8[]', [-128, 127], [-1]], A_i16: ['int16[]', [-32768], [2, -2]], A_i32: ['int32[]', [-1, 2147483647], [-3, 4]], A_i64: ['int64[]', [-5, 1234567890123], [-9007199254740991]],
  A_u8: ['uint8[]', [0, 255], [9]], A_u16: ['uint16[]', [65535], [1, 2]], A_u32: ['uint32[]', [0, 4294967295], [7]], A_u64: ['uint64[]', [1, 9007199254740991], [9007199254740991]],
  A_float: ['float[]', [0.5, -2.25], [-0.5]], A_double: ['double[]', [3.141592653589793], [1e-300, -2]],
};
const SDV_TYPE = (vss: string) => (vss.replace('boolean', 'bool').replace('[]', '_array')).toUpperCase();

t.test('every value kind through the SDK: get, set, subscribe and metadata', async (t) => {
  const children = Object.fromEntries(Object.entries(KINDS).map(([k, [type]]) => [k, { type: 'actuator', datatype: type, description: `a ${type}` }]));
  const vss = nodePath.join(tmpDir(t, 'sdv-vss-'), 'kinds.json');
  fs.writeFileSync(vss, JSON.stringify({ Vehicle: { type: 'branch', children: { K: { type: 'branch', children } } } }));
  const mqtt = await startMosquitto(t);
  t.teardown(() => mqtt.stop());
  const up = await startUpstream(t, { kuksa: { vss } });
  const c = await ApiClient.connect(up.agent.apiUrl);
  t.teardown(() => c.close());
  const path = (k: string) => `Vehicle.K.${k}`;
  const written = Object.fromEntries(Object.entries(KINDS).map(([k, [, v]]) => [path(k), v]));
  t.notOk((await c.request({ type: 'write_signals_value', data: written })).errors, 'every kind written through the local API');

  const leaves = Object.fromEntries(Object.entries(KINDS).map(([k, [type]]) => [path(k), type]));
  const sets = Object.fromEntries(Object.entries(KINDS).map(([k, [, , v]]) => [k, v]));
  const app = runVelocitasApp(t, `
import asyncio, json
from vehicle import vehicle
from velocitas_sdk.vdb.client import VehicleDataBrokerClient

KEYS = ${JSON.stringify(Object.keys(KINDS))}
SETS = json.loads(${JSON.stringify(JSON.stringify(sets))})

async def main():
    k = vehicle.K
    got = {key: (await getattr(k, key).get()).value for key in KEYS}
    print("GOT " + json.dumps(got), flush=True)
    for key in KEYS:
        await getattr(k, key).set(SETS[key])
    print("SET", flush=True)
    replies = asyncio.Queue()
    first = getattr(k, KEYS[0])
    await first.join(*[getattr(k, key) for key in KEYS[1:]]).subscribe(lambda r: replies.put_nowait(r))
    reply = await asyncio.wait_for(replies.get(), 20)
    print("SUB " + json.dumps({key: reply.get(getattr(k, key)).value for key in KEYS}), flush=True)
    md = await VehicleDataBrokerClient().GetMetadata([])
    print("MD " + json.dumps({m.name: [m.data_type, m.id, m.description] for m in md.list}), flush=True)

asyncio.run(main())
`, { grpcPort: up.port, mqttUrl: mqtt.url, leaves });
  t.teardown(() => { app.proc.kill('SIGKILL'); });
  const line = async (tag: string) => JSON.parse((await app.waitOut(new RegExp(`^${tag} `))).slice(tag.length + 1));
  const byKey = (m: Record<string, unknown>) => Object.fromEntries(Object.entries(m).map(([k, v]) => [path(k), v]));

  t.same(byKey(await line('GOT')), written, 'each kind read back exactly by its DataPoint class');
  await app.waitOut(/^SET$/);
  const expected = Object.fromEntries(Object.entries(KINDS).map(([k, [, , v]]) => [path(k), v]));
  t.same((await c.request({ type: 'get_signals_value', apis: Object.keys(expected) })).result, expected, 'each kind the app set is read by the local API');
  t.same(byKey(await line('SUB')), expected, 'a joined subscription carries every kind');
  const md = await line('MD');
  // the SDK's DataType enum: STRING 0, BOOL 1, INT8 2 … DOUBLE 11, STRING_ARRAY 20 … DOUBLE_ARRAY 31
  const SDK_ENUM: Record<string, number> = {
    STRING: 0, BOOL: 1, INT8: 2, INT16: 3, INT32: 4, INT64: 5, UINT8: 6, UINT16: 7, UINT32: 8, UINT64: 9, FLOAT: 10, DOUBLE: 11,
    STRING_ARRAY: 20, BOOL_ARRAY: 21, INT8_ARRAY: 22, INT16_ARRAY: 23, INT32_ARRAY: 24, INT64_ARRAY: 25, UINT8_ARRAY: 26, UINT16_ARRAY: 27,
    UINT32_ARRAY: 28, UINT64_ARRAY: 29, FLOAT_ARRAY: 30, DOUBLE_ARRAY: 31,
  };
  for (const [k, [type]] of Object.entries(KINDS)) {
    t.match(md[path(k)], [SDK_ENUM[SDV_TYPE(type)], Number, `a ${type}`], `${k}: GetMetadata data_type ${SDV_TYPE(type)}`);
  }
});
