// The box as the playground (test/helpers/playground.ts: the real frontend's list and reply handling) sees it, through
// the stand-in Kit-Manager, beyond the default template's run (issue 25): Stop of the default template is a stop, not
// a traceback; behind a Kit-Manager that caps frames at 2 000 000 bytes a 3 MB read-file is answered in the page and
// the link stays up; RUNTIME_PREFIX names the kit; List Python Libraries shows the interpreter's packages (grpcio) beside
// python-packages, each labelled.
import t, { type Test } from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { eventually, startAgent, tmpDir } from './helpers/agent';
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
  // The stop's own reply and the run's end are two frames: the end may come first.
  await eventually('the stop answered', () => p.replies.some((r) => r.cmd === 'stop_python_app'));
  t.equal(p.replies.filter((r) => r.cmd === 'stop_python_app').map((r) => r.result).join(), 'Successful');
});

t.test('a 2 000 000-byte frame cap: a 3 MB read-file is answered in the page, the link stays up', async (t) => {
  const b = await box(t, 'CapBox', { km: { maxHttpBufferSize: 2_000_000 } });
  const files = path.join(b.dataDir, 'files', 'app', 'remote_access');
  fs.mkdirSync(files, { recursive: true });
  fs.writeFileSync(path.join(files, 'vss.json'), JSON.stringify({ pad: 'x'.repeat(3_000_000) }));
  fs.writeFileSync(path.join(files, 'small.json'), '{"ok":true}');
  // The hardware-kit page (H 228-236 via C 325-331, 619-621); it selects the box once the box has registered.
  const hw = await b.open({ isDeployMode: true, targetPrefix: ['Kit-', 'PilotCar-'], forceKitId: b.kit, assets: [{ type: 'HARDWARE_KIT', name: b.kit }] });
  const registrations = b.km.registrations.length;
  hw.readFile('/app/remote_access/vss.json');
  await hw.until('the read-file reply', () => hw.readFiles.length === 1);
  const shown = hw.readFiles[0]!;
  t.equal(shown.path, '/app/remote_access/vss.json');
  t.match(shown.content, /^Error: .*3000010 bytes.*2000000 bytes/, `the file's size and the cap, where the editor shows it: ${shown.content}`);
  hw.readFile('/app/remote_access/small.json');
  await hw.until('the second read', () => hw.readFiles.length === 2);
  t.equal(hw.readFiles[1]!.content, '{"ok":true}', 'the link is still up: the next read is answered');
  t.equal(b.km.registrations.length, registrations, 'no redial: the Kit-Manager never saw a frame over its cap');
  // A run whose output arrives faster than the cap allows in one frame still reaches the page whole.
  const p = await b.open({ prototype: { id: 'big', name: 'Big', language: 'python', code: 'import sys\nsys.stdout.write("y" * 2500000 + "\\n")\nprint("end")\n' } });
  p.run();
  const log = await p.logShows(/Exit code/);
  t.match(log, /end\r\nExit code 0\r\n$/);
  t.equal((log.match(/y/g) ?? []).length, 2_500_000, 'every byte of the line, in frames under the cap');
  t.equal(b.km.registrations.length, registrations, 'still no redial');
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
