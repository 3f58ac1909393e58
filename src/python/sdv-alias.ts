// The `sdv` import: the Velocitas SDK was renamed velocitas_sdk in 0.12 and playground code still says
// `from sdv.vehicle_app import VehicleApp`. The agent writes a one-file `sdv` package into its own Python folder
// (dataDir/python-agent, see user-code/python-folders.ts) when velocitas_sdk imports and no other `sdv` comes first on the path. It is
// an alias, not a copy: a meta-path finder hands out velocitas_sdk's own module objects for every `sdv.X`, so
// `sdv.model.DataPointFloat is velocitas_sdk.model.DataPointFloat` and isinstance holds between user code and the
// generated `vehicle` model (a second import of the same files under another name would make every class a different
// one).
import { cryptoModule } from '../core/crypto-module';
import fs = require('node:fs');
import path = require('node:path');
import { makeDirSync, writeNewFileSync } from './agent-tree';
import type { AgentAccess } from '../user-code/python-folders';

/** How every alias an agent wrote starts (older agents wrote it into python-packages: see old-layout.ts). */
export const ALIAS_MARKER = '# sdv-agent alias';
const MARKER = `${ALIAS_MARKER} of velocitas_sdk, format 1`;

export const SDV_ALIAS = `${MARKER}
"""sdv: the Velocitas SDK (velocitas_sdk) under the name playground apps import.

Written by sdv-agent into its own folder because velocitas_sdk is installed and no other sdv package comes first.
Every sdv.X is the module velocitas_sdk.X itself, so classes are the same objects under both names.
"""
import importlib
import importlib.abc
import importlib.util
import sys

try:
    import velocitas_sdk as _sdk
except ModuleNotFoundError as _missing:
    raise ModuleNotFoundError(
        "No module named 'velocitas_sdk' (sdv is sdv-agent's alias of the Velocitas SDK): install it with "
        'install_python_packages "velocitas-sdk==0.14.1"',
        name="velocitas_sdk",
    ) from _missing

_PREFIX = __name__ + "."


class _SameModule(importlib.abc.Loader):
    """Loads sdv.X as the already imported (or now imported) module velocitas_sdk.X."""

    def __init__(self, real):
        self._real = real
        self._spec = None

    def create_module(self, spec):
        module = importlib.import_module(self._real)
        self._spec = module.__spec__
        return module

    def exec_module(self, module):
        # The import system has just put the alias's spec on the module: it keeps its own.
        module.__spec__ = self._spec


class _AliasFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        if not fullname.startswith(_PREFIX):
            return None
        real = "velocitas_sdk." + fullname[len(_PREFIX):]
        if importlib.util.find_spec(real) is None:
            return None
        return importlib.util.spec_from_loader(fullname, _SameModule(real))


sys.meta_path.insert(0, _AliasFinder())
sys.modules[__name__] = _sdk
`;

/** Whether the agent's folder holds the alias. */
export function aliasPresent(dir: string): boolean {
  return fs.existsSync(path.join(dir, 'sdv', '__init__.py'));
}

/**
 * Writes (or updates) the alias in the agent's folder `dir`, which only the agent writes: a new file under a random
 * name, renamed into place. False when the current one is already this text with this access.
 */
export function writeAlias(dir: string, access: AgentAccess): boolean {
  const pkg = path.join(dir, 'sdv');
  const file = path.join(pkg, '__init__.py');
  try {
    const st = fs.lstatSync(file);
    if (st.isFile() && (st.mode & 0o777) === access.fileMode && (access.gid === null || st.gid === access.gid) && fs.readFileSync(file, 'utf8') === SDV_ALIAS) return false;
  } catch { /* absent */ }
  makeDirSync(pkg, access);
  const tmp = path.join(pkg, `.__init__.py.${cryptoModule().randomBytes(8).toString('hex')}.tmp`);
  writeNewFileSync(tmp, SDV_ALIAS, access);
  try { fs.renameSync(tmp, file); } catch (e) { fs.rmSync(tmp, { force: true }); throw e; }
  return true;
}

/** Removes the alias from the agent's folder. */
export function removeAlias(dir: string): boolean {
  if (!fs.existsSync(path.join(dir, 'sdv'))) return false;
  fs.rmSync(path.join(dir, 'sdv'), { recursive: true, force: true });
  return true;
}
