// One look at the Python that runs the apps: apps.python started with the environment apps get (as apps.runAs), a
// standard-library script read from stdin (`python - <the agent's folder>`), one JSON line back. It imports velocitas_sdk itself (its __init__ is empty)
// but nothing below it: velocitas_sdk.model and .vehicle_app connect to MQTT on import. Run by core/child-runner: the
// time limit takes whatever the interpreter started too.
import { runChild } from '../core/child-runner';
import type { RunAs } from '../user-code/run-as';

const PROBE_TIMEOUT_MS = 10_000;
const MAX_OUTPUT = 64 * 1024;

const SCRIPT = `
import importlib.util, json, os, sys
from importlib.machinery import PathFinder
own = os.path.realpath(sys.argv[1])
out = {"executable": sys.executable, "version": sys.version.split()[0]}
sdk = {"importable": False}
try:
    import velocitas_sdk
    sdk["importable"] = True
    sdk["path"] = os.path.dirname(os.path.abspath(velocitas_sdk.__file__ or ""))
    try:
        from importlib import metadata
        sdk["version"] = metadata.version("velocitas-sdk")
    except Exception:
        sdk["version"] = None
except Exception as e:
    sdk["error"] = "%s: %s" % (type(e).__name__, e)
missing = []
for mod in ("grpc", "paho.mqtt", "google.protobuf"):
    try:
        if importlib.util.find_spec(mod) is None:
            missing.append(mod)
    except Exception:
        missing.append(mod)
sdk["missingDependencies"] = missing
out["velocitasSdk"] = sdk
# The path as apps see it, without the probe's own working folder ("").
entries = [p for p in sys.path if p]
agent_at = next((i for i, p in enumerate(entries) if os.path.realpath(p) == own), len(entries))
def first(name, where):
    for i in where:
        spec = PathFinder.find_spec(name, [entries[i]])
        if spec is not None:
            return i, next(iter(spec.submodule_search_locations or []), None) or spec.origin or "namespace package"
    return None, None
at, where = first("sdv", [i for i in range(len(entries)) if i != agent_at])
if where is None:
    out["sdvElsewhere"] = None
else:
    # An sdv that is the SDK's own folder under the old name (the sdv-runtime image symlinks it) is no collision.
    same = bool(sdk.get("path")) and os.path.realpath(where) == os.path.realpath(sdk["path"])
    out["sdvElsewhere"] = {"path": where, "isVelocitasSdk": same, "beforeAgent": at < agent_at}
# A vehicle package ahead of the agent's own (one a user installed into packages.dir) is the one apps import.
out["vehicleBefore"] = first("vehicle", range(agent_at))[1]
# The interpreter's own package folders (List Python Libraries): site's, and any site-/dist-packages on the path.
import site
sp = []
try:
    sp += list(site.getsitepackages())
except Exception:
    pass
try:
    sp.append(site.getusersitepackages())
except Exception:
    pass
sp += [p for p in entries if os.path.basename(p.rstrip("/")) in ("site-packages", "dist-packages")]
out["sitePackages"] = [p for p in dict.fromkeys(sp) if os.path.isdir(p) and os.path.realpath(p) != own][:32]
print(json.dumps(out))
`;

export interface ProbeResult {
  readonly executable?: string;
  readonly version?: string;
  readonly velocitasSdk?: { importable: boolean; version?: string | null; path?: string; error?: string; missingDependencies?: string[] };
  /**
   * The first `sdv` on the path outside the agent's folder (kuksa-client ships one; the sdv-runtime image links the
   * SDK), and whether it comes before the agent's folder (then it is the one apps import).
   */
  readonly sdvElsewhere?: { path: string; isVelocitasSdk: boolean; beforeAgent?: boolean } | null;
  /** A `vehicle` package that comes before the agent's folder on the path. */
  readonly vehicleBefore?: string | null;
  /** The interpreter's own package folders (site-packages, dist-packages), at most 32. */
  readonly sitePackages?: string[];
  /** Set when the interpreter could not be run or did not answer. */
  readonly error?: string;
}

export async function probePython(python: string, env: Record<string, string>, agentFolder: string, runAs: RunAs | null, timeoutMs = PROBE_TIMEOUT_MS): Promise<ProbeResult> {
  const r = await runChild({ file: python, args: ['-', agentFolder], env, cwd: '/', runAs, input: SCRIPT, timeoutMs, maxKeptBytes: MAX_OUTPUT });
  if (r.startError) return { error: r.notInstalled ? `python interpreter "${python}" not found (set apps.python)` : `cannot start ${python}: ${r.startError.message}` };
  if (r.timedOut) return { error: `${python} did not answer within ${timeoutMs / 1000} s` };
  const line = r.stdout.trim().split('\n').pop() ?? '';
  try { return JSON.parse(line) as ProbeResult; } catch {
    return { error: `${python} exited with ${r.exitCode}: ${(r.stderr.trim().split('\n').pop() ?? '').slice(0, 300)}` };
  }
}
