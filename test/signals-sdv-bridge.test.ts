// The sdv.databroker.v1 bridge: an agent in external mode whose databroker serves kuksa.val.v2 only (an upstream agent
// with `kuksa.serveApis: [kuksa.val.v2]`, the stand-in for databroker 0.7) serves sdv.databroker.v1 to its apps and
// carries it onto the upstream. A Velocitas app with the real SDK sets Vehicle.Speed through it, reads it back, and a
// WHERE subscription (evaluated in the bridge) fires only while it holds; the upstream holds the value.
import t from 'tap';
import * as grpc from '@grpc/grpc-js';
import { ApiClient } from './helpers/agent';
import { startMosquitto } from './helpers/mosquitto';
import { call, rawClients, startDownstream, startUpstream } from './helpers/signals';
import { runVelocitasApp } from './helpers/velocitas';

const LOW = 'Vehicle.Body.Lights.Beam.Low.IsOn';
const LEAVES = { 'Vehicle.Speed': 'float', [LOW]: 'boolean' };

const APP = `
import asyncio, json, signal
from vehicle import Vehicle, vehicle
from velocitas_sdk.vdb.reply import DataPointReply
from velocitas_sdk.vehicle_app import VehicleApp


def out(**kw):
    print(json.dumps(kw), flush=True)


class BridgeApp(VehicleApp):
    def __init__(self, vehicle_client: Vehicle):
        super().__init__()
        self.Vehicle = vehicle_client

    async def on_start(self):
        await self.Vehicle.Speed.where("Vehicle.Speed > 100").subscribe(self.on_fast)
        await self.Vehicle.Speed.set(42.5)
        out(step="set", readback=(await self.Vehicle.Speed.get()).value)
        await self.Vehicle.Body.Lights.Beam.Low.IsOn.set(True)
        out(step="low", readback=(await self.Vehicle.Body.Lights.Beam.Low.IsOn.get()).value)
        for v in (60, 120, 70, 130):
            await self.Vehicle.Speed.set(float(v))
            await asyncio.sleep(0.2)
        out(step="done")

    async def on_fast(self, reply: DataPointReply):
        out(step="fast", value=reply.get(self.Vehicle.Speed).value)


async def main():
    await BridgeApp(vehicle).run()


LOOP = asyncio.get_event_loop()
LOOP.add_signal_handler(signal.SIGTERM, LOOP.stop)
LOOP.run_until_complete(main())
LOOP.close()
`;

t.test('a Velocitas app on an external databroker without sdv.databroker.v1, through the bridge', async (t) => {
  const mqtt = await startMosquitto(t);
  t.teardown(() => mqtt.stop());
  const up = await startUpstream(t, { kuksa: { serveApis: ['kuksa.val.v2'] } });
  const raw = rawClients(up.port);
  t.teardown(() => { for (const x of Object.values(raw)) x.close(); });
  await t.rejects(call(raw.broker, 'GetDatapoints', { datapoints: ['Vehicle.Speed'] }), { code: grpc.status.UNIMPLEMENTED }, 'the upstream has no sdv.databroker.v1');

  const down = await startDownstream(t, up.port, 'auto');
  const decided = await down.waitLog((l) => typeof l.upstreamHasSdv === 'boolean');
  t.equal(decided.upstreamHasSdv, false, 'the agent finds the upstream without sdv.databroker.v1');
  const port = decided.port as number;
  t.ok(port > 0, `the bridge listens (port ${port})`);
  const c = await ApiClient.connect(down.apiUrl);
  t.teardown(() => c.close());

  // the apps the agent runs are given the bridge's address
  const exe = Buffer.from('#!/bin/sh\necho "addr=$SDV_VEHICLEDATABROKER_ADDRESS port=$KUKSA_DATA_BROKER_PORT"\n').toString('base64');
  await c.request({ type: 'deploy_request', prototype: { id: 'env', type: 'binary', code: exe, config: {} } });
  c.send({ type: 'console_subscribe', id: 'sub-env', appId: 'VEA-env' });
  await c.waitFor((f) => f.id === 'sub-env');
  await c.request({ type: 'run_app', appId: 'VEA-env' });
  const line = await c.waitFor((f) => f.type === 'console_output' && String(f.output).startsWith('addr='));
  t.equal(line.output, `addr=grpc://127.0.0.1:${port} port=${up.port}`, 'an app deployed on the agent is given the bridge\'s address for Velocitas, the databroker\'s for kuksa-client');

  const app = runVelocitasApp(t, APP, { grpcPort: port, mqttUrl: mqtt.url, leaves: LEAVES });
  t.teardown(() => { app.proc.kill('SIGKILL'); });
  const step = async (name: string) => JSON.parse(await app.waitOut(new RegExp(`"step": "${name}"`)));
  t.same(await step('set'), { step: 'set', readback: 42.5 }, 'Vehicle.Speed.set(42.5) then .get() through the bridge reads 42.5');
  t.same(await step('low'), { step: 'low', readback: true }, 'an actuator set through the bridge (a target, echoed upstream) reads back');
  await step('done');
  await app.waitOut(/"step": "fast", "value": 130/);
  const fast = app.out.filter((l) => l.includes('"step": "fast"')).map((l) => JSON.parse(l).value);
  t.same(fast, [120, 130], 'the WHERE subscription fired only while Vehicle.Speed > 100 (evaluated in the bridge)');
  t.equal((await call(raw.v2, 'GetValue', { signal_id: { path: 'Vehicle.Speed' } })).data_point.value.float, 130, 'the upstream holds the value the app set');
  t.same((await c.request({ type: 'get_signals_value', apis: ['Vehicle.Speed'] })).result, { 'Vehicle.Speed': 130 }, 'the downstream agent reads it too');
});

t.test('kuksa.sdvBridge auto: an upstream that serves sdv.databroker.v1 is used directly; off: no bridge', async (t) => {
  const up = await startUpstream(t);
  const down = await startDownstream(t, up.port, 'auto');
  const decided = await down.waitLog((l) => typeof l.upstreamHasSdv === 'boolean');
  t.equal(decided.upstreamHasSdv, true, 'the upstream answers sdv.databroker.v1: apps use it directly');
  const off = await startDownstream(t, up.port, 'auto', { sdvBridge: 'off' });
  await off.waitLog((l) => l.msg === 'kuksa databroker connected');
  t.notOk(off.logs.some((l) => l.msg === 'sdv.databroker.v1 bridge listening'), 'sdvBridge off: no bridge');
});

t.test('kuksa.sdvBridge on, the databroker not reachable: the app gets UNAVAILABLE, not a hang', async (t) => {
  const down = await startDownstream(t, 1, 'v2', { sdvBridge: 'on' }); // port 1: nothing listens
  const listening = await down.waitLog((l) => l.msg === 'sdv.databroker.v1 bridge listening');
  const raw = rawClients(listening.port as number);
  t.teardown(() => { for (const x of Object.values(raw)) x.close(); });
  await t.rejects(call(raw.broker, 'GetDatapoints', { datapoints: ['Vehicle.Speed'] }), { code: grpc.status.UNAVAILABLE, details: /behind the sdv.databroker.v1 bridge/ }, 'GetDatapoints: UNAVAILABLE naming the bridge');
  await t.rejects(call(raw.collector, 'UpdateDatapoints', { datapoints: {} }), { code: grpc.status.UNIMPLEMENTED }, 'the Collector is not bridged: UNIMPLEMENTED');
});
