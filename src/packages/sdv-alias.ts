// The `sdv` import: the Velocitas SDK was renamed velocitas_sdk in 0.12 and playground code still says
// `from sdv.vehicle_app import VehicleApp`. The agent writes a one-file `sdv` package into its python-packages folder
// when velocitas_sdk imports and no other `sdv` exists. It is an alias, not a copy: a meta-path finder hands out
// velocitas_sdk's own module objects for every `sdv.X`, so `sdv.model.DataPointFloat is
// velocitas_sdk.model.DataPointFloat` and isinstance holds between user code and the generated `vehicle` model (a
// second import of the same files under another name would make every class a different one).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { handOver, type RunAs } from '../apps/run-as';

const MARKER = '# sdv-agent alias of velocitas_sdk, format 1';

export const SDV_ALIAS = `${MARKER}
"""sdv: the Velocitas SDK (velocitas_sdk) under the name playground apps import.

Written by sdv-agent into its python-packages folder because velocitas_sdk is installed and no other sdv package is.
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

export type AliasState = 'ours' | 'foreign' | 'absent';

/** What `dir/sdv` is: the agent's alias (any format), another package, or nothing. */
export function aliasState(dir: string): AliasState {
  const pkg = path.join(dir, 'sdv');
  if (!fs.existsSync(pkg)) return 'absent';
  try {
    if (fs.readFileSync(path.join(pkg, '__init__.py'), 'utf8').startsWith('# sdv-agent alias')) return 'ours';
  } catch { /* a folder without __init__.py, or a symlink to one: not ours */ }
  return 'foreign';
}

/** Writes (or updates) the alias; false when the current one is already this text. */
export function writeAlias(dir: string, runAs: RunAs | null): boolean {
  const pkg = path.join(dir, 'sdv');
  const file = path.join(pkg, '__init__.py');
  try { if (fs.readFileSync(file, 'utf8') === SDV_ALIAS) return false; } catch { /* absent */ }
  fs.mkdirSync(pkg, { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, SDV_ALIAS, { mode: 0o600 });
  fs.renameSync(tmp, file);
  handOver(runAs, pkg, file);
  return true;
}

export function removeAlias(dir: string): void {
  if (aliasState(dir) === 'ours') fs.rmSync(path.join(dir, 'sdv'), { recursive: true, force: true });
}
