// scripts/install.sh under a DESTDIR, without root: installs, keeps an edited config, is idempotent, uninstalls
// (keeping config and data), and the installed unit passes `systemd-analyze verify`.
import t from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BOX_HEAP_FLAGS, ROOT, tmpDir } from './helpers/agent';
import { buildWheel } from './helpers/wheel';

const SCRIPT = path.join(ROOT, 'scripts', 'install.sh');

function run(args: string[]): string {
  return execFileSync('bash', [SCRIPT, ...args], { encoding: 'utf8', env: { ...process.env } });
}

t.test('install, reinstall, uninstall under a DESTDIR', async (t) => {
  const dir = tmpDir(t, 'sdv-install-');
  const dest = path.join(dir, 'root');
  // a stand-in binary: install.sh copies whatever it is given; the real one is exercised by ci-binary-smoke.sh
  const fake = path.join(dir, 'sdv-agent-fake');
  fs.writeFileSync(fake, '#!/bin/sh\necho fake\n', { mode: 0o755 });
  const common = ['--destdir', dest, '--prefix', '/opt/sdv', '--binary', fake];

  const out1 = run(common);
  t.match(out1, /installed .*\/opt\/sdv\/bin\/sdv-agent/);
  const bin = path.join(dest, 'opt/sdv/bin/sdv-agent');
  const unit = path.join(dest, 'etc/systemd/system/sdv-agent.service');
  const conf = path.join(dest, 'etc/sdv-agent/config.yaml');
  t.ok(fs.statSync(bin).mode & 0o111, 'binary is executable');
  t.match(fs.readFileSync(unit, 'utf8'), /^ExecStart=\/usr\/bin\/python3 -I -S -c "[^"]+" \/opt\/sdv\/bin\/sdv-agent --config \/etc\/sdv-agent\/config.yaml (?:"--node-options=[^"]+"|--node-options=\S+)$/m, 'unit points at the prefix (behind the launcher that hands it its notify socket)');
  // The unit runs the binary with the heap the binary carries as its default (scripts/build-sea.mjs): one source.
  const flags = BOX_HEAP_FLAGS;
  const inUnit = / (?:"--node-options=([^"]+)"|--node-options=(\S+))$/m.exec(fs.readFileSync(unit, 'utf8'));
  t.equal(inUnit?.[1] ?? inUnit?.[2], flags.join(' '), 'the unit\'s heap flags are scripts/heap-flags.json\'s');
  t.notMatch(fs.readFileSync(unit, 'utf8'), /\/usr\/local\/bin/, 'nothing of the default prefix is left');
  t.equal(fs.readFileSync(conf, 'utf8'), fs.readFileSync(path.join(ROOT, 'config.example.yaml'), 'utf8'), 'config from the example');
  t.equal(fs.statSync(conf).mode & 0o777, 0o640, 'config not world-readable (may hold tokens)');

  // an operator edits the config; a reinstall keeps it and changes nothing else
  fs.writeFileSync(conf, 'runtime:\n  name: Edited\n');
  const out2 = run(common);
  t.match(out2, /kept existing/);
  t.equal(fs.readFileSync(conf, 'utf8'), 'runtime:\n  name: Edited\n', 'existing config never overwritten');
  t.ok(fs.existsSync(bin) && fs.existsSync(unit));

  // data the service wrote stays through an uninstall
  const data = path.join(dest, 'var/lib/sdv-agent');
  fs.mkdirSync(data, { recursive: true });
  fs.writeFileSync(path.join(data, 'registry.json'), '{}');

  const out3 = run(['--uninstall', '--destdir', dest, '--prefix', '/opt/sdv']);
  t.match(out3, /removed/);
  t.notOk(fs.existsSync(bin), 'binary removed');
  t.notOk(fs.existsSync(unit), 'unit removed');
  t.ok(fs.existsSync(conf), 'config kept');
  t.ok(fs.existsSync(path.join(data, 'registry.json')), 'data kept');
  const out4 = run(['--uninstall', '--destdir', dest, '--prefix', '/opt/sdv']);
  t.notMatch(out4, /removed/, 'second uninstall is a no-op');
});

t.test('bad arguments are refused with a clear message', async (t) => {
  const r = spawnSync('bash', [SCRIPT, '--prefix', 'relative/path', '--destdir', tmpDir(t)], { encoding: 'utf8' });
  t.equal(r.status, 2);
  t.match(r.stderr, /--prefix must be absolute/);
  const r2 = spawnSync('bash', [SCRIPT, '--destdir', tmpDir(t), '--binary', '/nonexistent/x'], { encoding: 'utf8' });
  t.equal(r2.status, 1);
  t.match(r2.stderr, /no binary at/);
});

t.test('the installed unit verifies', async (t) => {
  const dir = tmpDir(t, 'sdv-unit-');
  const fake = path.join(dir, 'sdv-agent');
  fs.writeFileSync(fake, '#!/bin/sh\n', { mode: 0o755 });
  // verify needs ExecStart to exist on this host: point the unit at the stand-in binary
  const unit = path.join(dir, 'sdv-agent.service');
  fs.writeFileSync(unit, fs.readFileSync(path.join(ROOT, 'systemd', 'sdv-agent.service'), 'utf8').replace(' /usr/local/bin/sdv-agent --config ', ` ${fake} --config `));
  const r = spawnSync('systemd-analyze', ['verify', unit], { encoding: 'utf8' });
  t.equal(r.status, 0, `systemd-analyze verify: ${r.stderr}`);
  t.equal(r.stderr.trim(), '', 'no warnings');
  const sec = spawnSync('systemd-analyze', ['security', '--offline=yes', unit], { encoding: 'utf8' });
  const m = /Overall exposure level for sdv-agent.service: ([\d.]+)/.exec(sec.stdout + sec.stderr);
  t.ok(m, 'exposure figure reported');
  t.ok(m && Number(m[1]) <= 2.5, `exposure ${m?.[1]} stays low (docs/operations.md states the figure)`);
});

t.test('--sdk provisions the Velocitas SDK into the packages folder: from wheels offline, from a source folder', async (t) => {
  const dest = tmpDir(t, 'sdv-install-sdk-');
  // A stand-in SDK wheel (the real one needs its dependencies' wheels too): pip --no-index finds it there only.
  const wheels = tmpDir(t, 'sdv-install-wheels-');
  buildWheel(wheels, 'velocitas_sdk', '0.14.1', { 'velocitas_sdk/__init__.py': 'STANDIN = True\n' });
  const out = run(['--sdk-only', '--sdk', wheels, '--destdir', dest]);
  t.match(out, /installing the Velocitas SDK from the wheels in .* into .*\/var\/lib\/sdv-agent\/python-packages/);
  const pkgs = path.join(dest, 'var', 'lib', 'sdv-agent', 'python-packages');
  t.equal(fs.readFileSync(path.join(pkgs, 'velocitas_sdk', '__init__.py'), 'utf8'), 'STANDIN = True\n');
  t.ok(fs.existsSync(path.join(pkgs, 'velocitas_sdk-0.14.1.dist-info', 'METADATA')), 'with its metadata (List Python Libraries shows it)');
  t.notOk(fs.existsSync(path.join(dest, 'usr')), '--sdk-only installs nothing else');

  // A source folder of the SDK (what a checkout or an sdist unpacked is).
  const src = tmpDir(t, 'sdv-install-src-');
  fs.writeFileSync(path.join(src, 'pyproject.toml'), '[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n');
  fs.writeFileSync(path.join(src, 'backend.py'), BACKEND);
  const other = path.join(dest, 'pkgs2');
  t.match(run(['--sdk-only', '--sdk', src, '--destdir', dest, '--packages-dir', '/pkgs2']), /from the source folder/);
  t.ok(fs.existsSync(path.join(other, 'velocitas_sdk', '__init__.py')), 'installed from source');

  const bad = spawnSync('bash', [SCRIPT, '--sdk-only', '--sdk', tmpDir(t, 'sdv-install-empty-'), '--destdir', dest], { encoding: 'utf8' });
  t.equal(bad.status, 2);
  t.match(bad.stderr, /not a folder of wheels \(\*\.whl\), a source folder/);
});

/** A PEP 517 backend with no dependency (pip builds offline): a wheel of velocitas_sdk/__init__.py. */
const BACKEND = `
import base64, hashlib, os, zipfile
def _rec(data):
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
def get_requires_for_build_wheel(config_settings=None):
    return []
def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    name = "velocitas_sdk-0.14.1-py3-none-any.whl"
    files = {"velocitas_sdk/__init__.py": b"SOURCE = True\\n",
             "velocitas_sdk-0.14.1.dist-info/METADATA": b"Metadata-Version: 2.1\\nName: velocitas-sdk\\nVersion: 0.14.1\\n",
             "velocitas_sdk-0.14.1.dist-info/WHEEL": b"Wheel-Version: 1.0\\nGenerator: test\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n"}
    record = "".join("%s,%s,%d\\n" % (k, _rec(v), len(v)) for k, v in files.items()) + "velocitas_sdk-0.14.1.dist-info/RECORD,,\\n"
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w") as z:
        for k, v in files.items():
            z.writestr(k, v)
        z.writestr("velocitas_sdk-0.14.1.dist-info/RECORD", record)
    return name
`;
