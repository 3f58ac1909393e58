// A playground-style Velocitas app on a fresh box: dataDir/python-packages holds only a copy of the SDK, embedded
// mode, nothing else started (the agent's own MQTT broker and databroker). The app sets an actuator in an on_start
// loop, reads it back and prints it, and prints a sensor the test writes from a subscribe callback: deployed through
// the local API, as a Kit-Manager run_python_app, and after a generate_vehicle_model that adds the signal it uses.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ApiClient, tmpDir } from './helpers/agent';
import { agentBehindKitManager } from './helpers/kit-manager';
import { peerPython, VELOCITAS_SDK } from './helpers/peers';
import { FULL_VSS } from './helpers/signals';
import { deployPython, probedInfo, velocitasBox } from './helpers/velocitas-box';

/** The playground's template shape: imports by the old `sdv` name, the generated model, an on_start loop. */
function playgroundApp(actuator: string, sensor: string): string {
  return `import asyncio
import signal

from sdv.vdb.reply import DataPointReply
from sdv.vehicle_app import VehicleApp
from vehicle import Vehicle, vehicle


class TestApp(VehicleApp):
    def __init__(self, vehicle_client: Vehicle):
        super().__init__()
        self.Vehicle = vehicle_client

    async def on_start(self):
        await self.Vehicle.${sensor}.subscribe(self.on_sensor)
        for i in range(1, 600):
            await self.Vehicle.${actuator}.set(i)
            value = (await self.Vehicle.${actuator}.get()).value
            print(f"actuator={value}", flush=True)
            await asyncio.sleep(0.5)

    async def on_sensor(self, reply: DataPointReply):
        print(f"sensor={reply.get(self.Vehicle.${sensor}).value}", flush=True)


async def main():
    app = TestApp(vehicle)
    await app.run()


LOOP = asyncio.get_event_loop()
LOOP.add_signal_handler(signal.SIGTERM, LOOP.stop)
LOOP.run_until_complete(main())
LOOP.close()
`;
}

// A uint8 actuator of the built-in model; the app writes 1, 2, 3… into it.
const ACTUATOR = 'Cabin.Seat.Row1.DriverSide.Position';

t.test('deployed through the local API: the actuator it set, read back; the sensor the test writes', async (t) => {
  const box = await velocitasBox(t);
  const c = await ApiClient.connect(box.agent.apiUrl);
  t.teardown(() => c.close());
  await probedInfo(c);
  const app = await deployPython(c, 'playground', playgroundApp(ACTUATOR, 'Speed'));
  t.match(await app.waitLine(/^actuator=/), /^actuator=\d+$/, 'the value it set, read back through the SDK');
  await app.waitLine(/^actuator=2$/);
  // The subscription is made before the first set; the test's write reaches the callback.
  const w = await c.request({ type: 'write_signals_value', data: { 'Vehicle.Speed': 87.5 } });
  t.not(w.type, 'error', JSON.stringify(w));
  t.match(await app.waitLine(/^sensor=87\.5$/), 'sensor=87.5');
  t.notOk(app.output().some((l) => /Traceback|Error/.test(l)), app.output().join('\n'));
  const info = await c.request({ type: 'get_runtime_info' });
  t.ok(((info.mqtt as Record<string, Record<string, number>>).broker!.clients) >= 2, 'the SDK\'s two MQTT clients are connected to the agent');
});

t.test('as a Kit-Manager run_python_app through the stand-in Kit-Manager', async (t) => {
  const dataDir = path.join(tmpDir(t, 'sdv-velocitas-km-'), 'data');
  fs.mkdirSync(path.join(dataDir, 'python-packages'), { recursive: true });
  fs.cpSync(VELOCITAS_SDK, path.join(dataDir, 'python-packages'), { recursive: true });
  const { agent, fe } = await agentBehindKitManager(t, 'VelocitasBox', { runtime: { dataDir }, apps: { python: peerPython(), adhocMaxS: 120 }, kuksa: { serve: true, address: '127.0.0.1:0' } });
  const c = await ApiClient.connect(agent.apiUrl);
  t.teardown(() => c.close());
  await probedInfo(c);
  const before = fe.replies.length;
  fe.send('RunTime-VelocitasBox', { cmd: 'run_python_app', usedAPIs: [], data: { code: playgroundApp(ACTUATOR, 'Speed'), name: 'Playground' } });
  const text = () => fe.replies.slice(before).filter((r) => r.cmd === 'run_python_app' && r.isDone === false).map((r) => String(r.result)).join('');
  await fe.waitFor((r) => fe.replies.indexOf(r) >= before && r.cmd === 'run_python_app' && /actuator=2\r\n/.test(text()))
    .catch((e: Error) => { throw new Error(`${e.message.slice(0, 200)}; output: ${text().slice(-3000)}`); });
  t.match(text(), /actuator=1\r\nactuator=2\r\n/, 'the values it set, read back, in the playground\'s output');
  await c.request({ type: 'write_signals_value', data: { 'Vehicle.Speed': 12.25 } });
  await fe.waitFor(() => /sensor=12\.25\r\n/.test(text()));
  t.pass('the subscribe callback printed the written sensor');
  fe.send('RunTime-VelocitasBox', { cmd: 'stop_python_app', data: {} });
  await fe.waitFor((r) => fe.replies.indexOf(r) >= before && r.cmd === 'run_python_app' && r.isDone === true);
});

t.test('after a generate_vehicle_model that adds a signal, the next run uses it', async (t) => {
  const box = await velocitasBox(t);
  const c = await ApiClient.connect(box.agent.apiUrl);
  t.teardown(() => c.close());
  await probedInfo(c);
  const tree = JSON.parse(fs.readFileSync(FULL_VSS, 'utf8'));
  tree.Vehicle.children.Playground = {
    type: 'branch', description: 'Signals a playground prototype added.', children: {
      Counter: { type: 'actuator', datatype: 'uint16', description: 'A counter the app drives.' },
      Reading: { type: 'sensor', datatype: 'float', description: 'A reading the test writes.' },
    },
  };
  const r = await c.request({ type: 'generate_vehicle_model', data: JSON.stringify(tree) });
  t.match(r, { result: 'Successful', leaves: 912, pythonModel: { signals: 912 } });
  const app = await deployPython(c, 'newsignal', playgroundApp('Playground.Counter', 'Playground.Reading'));
  t.match(await app.waitLine(/^actuator=/), /^actuator=\d+$/, 'the new actuator, set and read back');
  await c.request({ type: 'write_signals_value', data: { 'Vehicle.Playground.Reading': 3.5 } });
  t.match(await app.waitLine(/^sensor=3\.5$/), 'sensor=3.5', 'the new sensor through the subscribe callback');
});

t.test('the generated model reads a leaf through the SDK: the built-in model and VSS 4.0', async (t) => {
  const box = await velocitasBox(t);
  const c = await ApiClient.connect(box.agent.apiUrl);
  t.teardown(() => c.close());
  await probedInfo(c);
  const read = (leaf: string, marker: string) => deployPython(c, marker, `import asyncio
from vehicle import vehicle
async def main():
    print("${marker}", (await vehicle.${leaf}.get()).value, flush=True)
asyncio.run(main())
`);
  await c.request({ type: 'write_signals_value', data: { 'Vehicle.Speed': 61.5 } });
  const a = await read('Speed', 'builtin');
  t.equal(await a.waitLine(/^builtin /), 'builtin 61.5');
  const vss = fs.readFileSync(FULL_VSS, 'utf8');
  t.match(await c.request({ type: 'generate_vehicle_model', data: vss }), { result: 'Successful', pythonModel: { signals: 910 } });
  await c.request({ type: 'write_signals_value', data: { 'Vehicle.Cabin.HVAC.AmbientAirTemperature': 21.5 } });
  const b = await read('Cabin.HVAC.AmbientAirTemperature', 'vss40');
  t.equal(await b.waitLine(/^vss40 /), 'vss40 21.5');
});
