// Packages and files as the playground shows them (test/helpers/playground.ts), through the stand-in Kit-Manager
// against the real agent: an install's log has pip's lines once and a summary, a refused requirement its reason; the
// hardware-kit page writes and reads its signal mapping in the agent's own file folder, and every path outside it is
// refused with the reason in what the page receives.
import t, { type Test } from 'tap';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startAgent, tmpDir } from './helpers/agent';
import { StandInKitManager } from './helpers/kit-manager';
import { Playground, type PlaygroundOptions } from './helpers/playground';
import { buildWheel } from './helpers/wheel';

const KIT = 'RunTime-Kit';
/** The paths the hardware-kit page uses (FormHardwareKitManager.tsx 207-208). */
const CONFIG_PATH = '/app/remote_access/signal-config.json';
const VSS_PATH = '/app/remote_access/vss.json';
const MAX = 256 * 1024;

async function open(t: Test, km: StandInKitManager, opts: PlaygroundOptions): Promise<Playground> {
  const p = await Playground.open(km.url, opts);
  t.teardown(() => p.close());
  await p.selected(KIT);
  return p;
}

const count = (text: string, needle: string) => text.split(needle).length - 1;

t.test('packages and files through the playground', async (t) => {
  const km = await StandInKitManager.start();
  t.teardown(() => km.close());
  const wheels = tmpDir(t, 'sdv-wheels-');
  buildWheel(wheels, 'sdvdemo', '1.0', { 'sdvdemo/__init__.py': 'VALUE = 1\n' });
  const agent = await startAgent(t, { config: { runtime: { name: 'Kit' }, api: { maxPayloadBytes: MAX }, packages: { findLinks: wheels, installTimeoutS: 60 }, kitManager: { url: km.url, reconnect: { minMs: 50, maxMs: 500 } } } });
  const files = path.join(agent.dataDir, 'files');

  t.test('install: pip\'s lines once, then what was installed; a refused requirement shows why', async (t) => {
    const p = await open(t, km, { assets: [{ type: 'CLOUD_RUNTIME', name: 'Runtime-Kit' }], prototype: { id: 'x', name: 'x' } });
    p.requestInstallLib(' sdvdemo==1.0 ');
    const log = await p.logShows(/^Done: /m);
    t.match(log, /^Installing packages: sdvdemo==1\.0\n/);
    t.equal(count(log, 'Successfully installed sdvdemo-1.0'), 1, 'pip\'s output appears once');
    t.match(log, /\nDone: sdvdemo==1\.0 installed \(sdvdemo-1\.0\); every python app on this box can import it/);
    t.notMatch(log, /\u001b\[/, 'no terminal colour codes');
    p.log = '';
    p.requestInstallLib('numpy; rm -rf /');
    t.match(await p.logShows(/\n/), /^Error: data: .*refused/, 'the reason, in what the page shows (data)');
    p.log = '';
    p.listPythonLibs();
    // Both places an app imports from, each labelled (issue 25): what was installed is under python-packages.
    t.match(await p.logShows(/# the interpreter/), /^Installed python libs on "RunTime-Kit"\r\n# python-packages \(.*\): what install_python_packages installed\nsdvdemo==1\.0\n# the interpreter /);
  });

  t.test('the hardware-kit page writes and reads its files in the agent\'s folder', async (t) => {
    const hw = await open(t, km, { isDeployMode: true, targetPrefix: ['Kit-', 'PilotCar-'], forceKitId: KIT, assets: [{ type: 'HARDWARE_KIT', name: KIT }] });
    const mapping = JSON.stringify({ 'Vehicle.Speed': { can: '0x123' } });
    hw.writeFile(CONFIG_PATH, mapping);
    hw.writeFile(VSS_PATH, '{"Vehicle":{}}');
    await hw.until('both written', () => hw.replies.filter((r) => r.cmd === 'write-file').length === 2);
    t.ok(hw.replies.filter((r) => r.cmd === 'write-file').every((r) => r.result === 'Successful'));
    const onDisk = path.join(files, 'app', 'remote_access', 'signal-config.json');
    t.equal(fs.readFileSync(onDisk, 'utf8'), mapping, 'kept in dataDir/files');
    t.equal(fs.statSync(onDisk).mode & 0o777, 0o600, 'private to the agent');
    hw.readFile(CONFIG_PATH);
    await hw.until('the read', () => hw.readFiles.length === 1);
    t.same(hw.readFiles[0], { path: CONFIG_PATH, content: mapping }, 'what the editor receives');
  });

  t.test('paths outside the folder, links out, NUL, names too long, big files, replies too big once escaped and FIFOs are refused with the reason', async (t) => {
    const hw = await open(t, km, { isDeployMode: true, targetPrefix: ['Kit-', 'PilotCar-'], forceKitId: KIT, assets: [{ type: 'HARDWARE_KIT', name: KIT }] });
    fs.mkdirSync(files, { recursive: true });
    fs.symlinkSync('/etc', path.join(files, 'etc-link'));
    fs.symlinkSync('/etc/passwd', path.join(files, 'pw'));
    fs.writeFileSync(path.join(files, 'big.json'), 'x'.repeat(MAX + 1));
    // Within the size bound, but six times larger as a JSON string: every byte a control character (\u0001).
    fs.writeFileSync(path.join(files, 'escaped.json'), '\u0001'.repeat(Math.floor(MAX / 5)));
    // Anything of the agent's user can make one (an app without apps.runAs); opening it to read waited for a writer.
    execFileSync('mkfifo', [path.join(files, 'fifo.json')]);
    const cases: Array<[string, RegExp]> = [
      ['/app/../../../etc/passwd', /climbs out of the box's file folder with "\.\."/],
      ['../secret', /climbs out/],
      ['/etc-link/passwd', /leads out of the box's file folder \(a symbolic link\)/],
      ['/pw', /leads out of the box's file folder|symbolic link/],
      ['/a\u0000b', /must not contain NUL/],
      ['/etc/passwd', /no file \/etc\/passwd in the box's file folder yet \(runtime\.filesDir\): write it first/],
      ['/big.json', new RegExp(`has ${MAX + 1} bytes, more than the ${MAX}`)],
      ['/escaped.json', new RegExp(`has ${Math.floor(MAX / 5)} bytes, but as JSON text .* the reply would be about ${Math.floor(MAX / 5) * 6 + 2 + 15 + 1024} bytes, more than the ${MAX} a reply may carry`)],
      ['/fifo.json', /fifo\.json is a FIFO \(named pipe\), not a file; the box reads only regular files/],
      ['/', /names the folder itself/],
      // 64 emoji are 64 × 4 bytes: over Linux's 255-byte name limit (was ENAMETOOLONG, answered as an internal error).
      [`/${'\u{1F697}'.repeat(64)}.json`, /a file or folder name longer than 255 bytes/],
    ];
    for (const [p, re] of cases) {
      const n = hw.readFiles.length;
      hw.readFile(p);
      await hw.until(`the read of ${JSON.stringify(p)}`, () => hw.readFiles.length > n);
      const got = hw.readFiles.at(-1)!;
      t.match(got.content, /^Error: /, `${JSON.stringify(p)}: the page gets the reason, not an empty file`);
      t.match(got.content, re, `${JSON.stringify(p)}: ${got.content}`);
      t.notMatch(got.content, /root:/, 'never a file of the box outside the folder');
    }
    const writes = hw.replies.filter((r) => r.cmd === 'write-file').length;
    hw.writeFile('/fifo.json', 'x');
    await hw.until('the write to the FIFO', () => hw.replies.filter((r) => r.cmd === 'write-file').length === writes + 1);
    t.match(hw.replies.filter((r) => r.cmd === 'write-file').at(-1), { errorCode: 'BAD_REQUEST', error: /fifo\.json is a FIFO \(named pipe\), not a file/ }, 'a write to the FIFO is refused');
    t.ok(fs.statSync(path.join(files, 'fifo.json')).isFIFO(), 'and leaves it as it was');
    hw.writeFile('/etc-link/sdv-agent-evil', 'x');
    hw.writeFile('/../evil', 'x');
    await hw.until('two refusals', () => hw.replies.filter((r) => r.cmd === 'write-file').length === writes + 3);
    const refusals = hw.replies.filter((r) => r.cmd === 'write-file').slice(-2);
    t.ok(refusals.every((r) => r.errorCode === 'FORBIDDEN' && typeof (r.data as Record<string, unknown>)?.error === 'string'), `writes outside refused (${refusals.map((r) => r.error).join(' | ')})`);
    t.notOk(fs.existsSync('/etc/sdv-agent-evil'), 'nothing written through the link');
  });
});
