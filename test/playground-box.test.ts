// The box as the playground (test/helpers/playground.ts: the real frontend's list and reply handling) sees it, through
// the stand-in Kit-Manager, beyond the default template's run (issue 25): Stop of the default template is a stop, not
// a traceback; RUNTIME_PREFIX names the kit; List Python Libraries shows the interpreter's packages (grpcio) beside
// python-packages, each labelled.
import t, { type Test } from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startAgent, tmpDir } from './helpers/agent';
import { StandInKitManager } from './helpers/kit-manager';
import { peerPython, VELOCITAS_SDK } from './helpers/peers';
import { Playground, type PlaygroundOptions } from './helpers/playground';

/** The frontend's default Python template (backend/src/config/predefinedProjectTemplates.js DEFAULT_PYTHON_APP). */
const DEFAULT_PYTHON_APP = `import time
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
        # on app started, this function will be trigger, your logic SHOULD start from HERE
        while True:
            # sleep for 2 second
            await asyncio.sleep(2)
            # write an actuator signal with value
            await self.Vehicle.Body.Lights.Beam.Low.IsOn.set(True)
            await asyncio.sleep(1)
            # read an actuator back
            value = (await self.Vehicle.Body.Lights.Beam.Low.IsOn.get()).value
            print("Light value ", value)

            await asyncio.sleep(2)
            # write an actuator signal with value
            await self.Vehicle.Body.Lights.Beam.Low.IsOn.set(False)
            await asyncio.sleep(1)
            # read an actuator back
            value = (await self.Vehicle.Body.Lights.Beam.Low.IsOn.get()).value
            print("Light value ", value)

async def main():
    vehicle_app = TestApp(vehicle)
    await vehicle_app.run()


LOOP = asyncio.get_event_loop()
LOOP.add_signal_handler(signal.SIGTERM, LOOP.stop)
LOOP.run_until_complete(main())
LOOP.close()`;

interface Box { km: StandInKitManager; kit: string; dataDir: string; open(opts?: PlaygroundOptions): Promise<Playground> }

/** A Kit-Manager, a box with the Velocitas SDK in python-packages registered with it, and pages selecting the box. */
async function box(t: Test, name: string, opts: { km?: Parameters<typeof StandInKitManager.start>[1]; config?: Record<string, unknown>; env?: Record<string, string>; kit?: string } = {}): Promise<Box> {
  const km = await StandInKitManager.start(0, opts.km);
  t.teardown(() => km.close());
  const dataDir = path.join(tmpDir(t, 'sdv-box-'), 'data');
  fs.mkdirSync(path.join(dataDir, 'python-packages'), { recursive: true });
  fs.cpSync(VELOCITAS_SDK, path.join(dataDir, 'python-packages'), { recursive: true });
  await startAgent(t, {
    dataDir, ...(opts.env ? { env: opts.env } : {}),
    config: { runtime: { name }, apps: { python: peerPython(), adhocMaxS: 120, stopGraceMs: 5000 }, kuksa: { serve: true, address: '127.0.0.1:0' }, kitManager: { url: km.url, reconnect: { minMs: 50, maxMs: 500 } }, ...opts.config },
  });
  const kit = opts.kit ?? `RunTime-${name}`;
  return {
    km, kit, dataDir,
    open: async (o: PlaygroundOptions = {}) => {
      const p = await Playground.open(km.url, { assets: [{ type: 'CLOUD_RUNTIME', name: kit }], ...o });
      t.teardown(() => p.close());
      await p.selected(kit);
      return p;
    },
  };
}

t.test('Stop of the default template: the run says it was stopped and its exit status, no traceback', async (t) => {
  const b = await box(t, 'StopBox');
  const p = await b.open({ prototype: { id: 'tpl', name: 'Default template', language: 'python', code: DEFAULT_PYTHON_APP } });
  p.run();
  await p.logShows(/Light value\s+True/);
  p.stop(); // R 193-209 handleStop → C 223-229 stop_python_app {data: {}}
  const log = await p.logShows(/Exit code/);
  t.notMatch(log, /Traceback|RuntimeError|Event loop stopped/, 'no traceback the agent\'s own stop signal caused');
  t.match(log, /\[sdv-agent\] stopped on request \(stop_python_app\): the run's processes were ended with SIGKILL\r\nExit code 137\r\n$/, 'that it was stopped, then its exit status');
  t.equal(p.isRunning, false);
  t.equal(p.replies.filter((r) => r.cmd === 'stop_python_app').map((r) => r.result).join(), 'Successful');
});

t.test('RUNTIME_PREFIX=Kit- RUNTIME_NAME=x registers Kit-x', async (t) => {
  const b = await box(t, 'Ignored', { env: { RUNTIME_PREFIX: 'Kit-', RUNTIME_NAME: 'x' }, kit: 'Kit-x' });
  const reg = await b.km.waitRegistration((r) => r.kit.kit_id === 'Kit-x');
  t.match(reg.kit, { kit_id: 'Kit-x', name: 'Kit-x' });
  // The hardware-kit page lists kits by the prefixes Kit- and PilotCar- (H 245-249; C 497-507).
  const hw = await b.open({ isDeployMode: true, targetPrefix: ['Kit-', 'PilotCar-'], assets: [{ type: 'HARDWARE_KIT', name: 'Kit-x' }] });
  t.equal(hw.activeRtId, 'Kit-x', 'the hardware-kit page lists and selects it');
});
t.test('List Python Libraries: the interpreter\'s packages and python-packages, each labelled', async (t) => {
  const b = await box(t, 'LibBox');
  const p = await b.open();
  p.listPythonLibs(); // C 247-254, shown by C 602-605
  const log = await p.logShows(/grpcio==/);
  t.match(log, /^Installed python libs on "RunTime-LibBox"\r\n/);
  t.match(log, /^# python-packages \(.*python-packages\): what install_python_packages installed$/m, 'the box folder, labelled');
  t.match(log, /^velocitas-sdk==0\.14\.1$/m, 'the SDK copied there');
  t.match(log, /^# the interpreter \(.*python.* [0-9.]+\): its own packages, in .*$/m, 'the interpreter, labelled');
  const section = log.slice(log.indexOf('# the interpreter'));
  t.match(section, /^grpcio==[0-9.]+$/m, 'grpcio, which every Velocitas app imports, is listed');
  t.ok(log.indexOf('velocitas-sdk==') < log.indexOf('# the interpreter'), 'each package under its own label');
});
