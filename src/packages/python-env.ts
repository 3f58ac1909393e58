// The Python vehicle environment (Parts.python): what a Velocitas app finds when it starts. The part keeps the
// generated `vehicle` package in step with the model the agent serves, provides the `sdv` alias when velocitas_sdk is
// there and no other `sdv` is, and knows (from one probe of apps.python, run off the hot path and cached; again after
// installs and model changes) the interpreter, the SDK and its version, for get_runtime_info and for the one console
// line that tells a run whose import failed what is missing and how to install it.
//
// PART API: python.start() (alias fast path, deferred probe); python.syncModel(hub) (sync, before a model command
// replies); python.refresh() → Promise (probe);
// python.info() → the get_runtime_info `python` object; python.hint(missingModule) → a console line or null.
import * as fs from 'node:fs';
import type { Config } from '../config';
import type { Logger } from '../log';
import { appEnv, type ServiceAddresses } from '../apps/spawn-spec';
import type { RunAs } from '../apps/run-as';
import { generatePythonModel } from '../signals/python-model';
import { VssModel } from '../signals/vss';
import type { SignalHub } from '../signals/hub';
import { ensurePythonPackagesDir, pythonPackagesDir } from './folder';
import { probePython, type ProbeResult } from './python-probe';
import { aliasState, removeAlias, writeAlias } from './sdv-alias';
import { readStamp, removeVehiclePackage, writeVehiclePackage } from './vehicle-package';

export const SDK_REQUIREMENT = 'velocitas-sdk==0.14.1';
const INSTALL = `install_python_packages "${SDK_REQUIREMENT}"`;
/** The first probe waits this long after start (or until someone asks get_runtime_info). */
const PROBE_DELAY_MS = 3000;

export interface ModelState {
  readonly signals: number;
  readonly branches: number;
  readonly hash: string;
  readonly source: string;
  readonly skipped: readonly string[];
  /** Generation or write time of the last change, ms. */
  readonly tookMs: number;
}

export class PythonEnvironment {
  readonly dir: string;
  private probe: ProbeResult | null = null;
  private probing: Promise<void> | null = null;
  private again = false;
  private model: ModelState | null = null;
  private modelNote: string | null = null;
  private sdvNote: string | null = null;
  private synced = false;
  private startTimer: NodeJS.Timeout | null = null;
  private readonly log: Logger;

  constructor(private readonly config: Config, log: Logger, private readonly notices: string[], private readonly runAs: RunAs | null, private readonly addresses: ServiceAddresses) {
    this.dir = pythonPackagesDir(config);
    this.log = log.child({ part: 'python' });
  }

  /**
   * Writes the `vehicle` package for the model the hub serves (or removes the agent's package when the agent does
   * not know the tree: external mode without kuksa.vss or a generated model). Never throws: a failure is kept for
   * get_runtime_info and the hint, and the old package stays.
   */
  syncModel(hub: SignalHub | undefined): ModelState | null {
    const t0 = performance.now();
    const served = hub ? servedModel(hub, this.config) : null;
    try {
      if (!served) {
        removeVehiclePackage(this.dir);
        this.model = null;
        this.modelNote = this.config.kuksa.mode === 'external'
          ? 'kuksa.mode is external and the agent does not know the databroker\'s VSS tree: set kuksa.vss to it, or send generate_vehicle_model'
          : 'no vehicle model is loaded';
        return null;
      }
      const py = generatePythonModel(served.model);
      if (!py) {
        this.model = null;
        this.modelNote = 'the vehicle model has no Vehicle branch with signals, so there is no Python vehicle package';
        return null;
      }
      ensurePythonPackagesDir(this.config, this.runAs);
      const wrote = writeVehiclePackage(this.dir, py, served.source, this.runAs, !this.synced);
      this.synced = true;
      this.model = { signals: py.signals, branches: py.branches, hash: py.hash, source: served.source, skipped: py.skipped, tookMs: Math.round(performance.now() - t0) };
      this.modelNote = null;
      if (wrote) this.log.info({ signals: py.signals, branches: py.branches, source: served.source, ms: this.model.tookMs }, 'python vehicle model written');
      if (py.skipped.length) this.log.warn({ skipped: py.skipped.slice(0, 20) }, 'python vehicle model: paths left out (a name the SDK\'s Model uses, or not under Vehicle)');
      return this.model;
    } catch (e) {
      this.modelNote = `the python vehicle model could not be written to ${this.dir}: ${(e as Error).message}`;
      this.log.error(this.modelNote);
      const stamp = readStamp(this.dir);
      this.model = stamp ? { signals: stamp.signals, branches: stamp.branches, hash: stamp.hash, source: stamp.source, skipped: [], tookMs: 0 } : null;
      return this.model;
    }
  }

  /**
   * At start, before apps are restored: an SDK in the agent's own folder gets its alias at once (a file check, no
   * process); the probe, which may still take the alias back (an sdv elsewhere on the path), follows once the start's
   * burst of work is over, so it does not compete with the apps being restored.
   */
  start(): void {
    try {
      if (fs.existsSync(`${this.dir}/velocitas_sdk/__init__.py`) && aliasState(this.dir) !== 'foreign') writeAlias(this.dir, this.runAs);
    } catch (e) { this.log.warn({ err: (e as Error).message }, 'sdv alias not written'); }
    this.startTimer = setTimeout(() => { this.startTimer = null; void this.refresh(); }, PROBE_DELAY_MS);
    this.startTimer.unref();
  }

  stop(): void { if (this.startTimer) clearTimeout(this.startTimer); }

  /** Probes the interpreter (one probe at a time; a call during one runs one more after it) and applies the alias rule. */
  refresh(): Promise<void> {
    if (this.probing) { this.again = true; return this.probing; }
    this.probing = (async () => {
      do {
        this.again = false;
        try { ensurePythonPackagesDir(this.config, this.runAs); } catch { /* a read-only dataDir: probe anyway */ }
        const env = appEnv(this.config, this.dir, this.runAs, {}, this.addresses);
        this.probe = await probePython(this.config.apps.python, env, this.dir, this.runAs);
        this.applyAliasRule();
      } while (this.again);
      this.probing = null;
    })();
    return this.probing;
  }

  private applyAliasRule(): void {
    const p = this.probe;
    const sdkThere = p?.velocitasSdk?.importable === true;
    let here = aliasState(this.dir);
    // The SDK's folder linked as sdv in this folder (packages.dir pointed at the sdv-runtime image's python-packages)
    // is the SDK under its old name: the image's, left as it is, and no collision.
    if (here === 'foreign' && sdkThere && p?.velocitasSdk?.path && sameFolder(`${this.dir}/sdv`, p.velocitasSdk.path)) here = 'absent';
    if (here === 'absent' && fs.existsSync(`${this.dir}/sdv`)) { this.sdvNote = null; return; }
    // The SDK's own folder linked as sdv (the sdv-runtime image) is no collision; the agent's alias, first on the path,
    // then serves instead of it, without importing every module twice.
    const elsewhere = p?.sdvElsewhere && !p.sdvElsewhere.isVelocitasSdk ? p.sdvElsewhere.path : null;
    let note: string | null = null;
    try {
      if (here === 'foreign' || elsewhere) {
        if (here === 'ours') removeAlias(this.dir);
        const where = here === 'foreign' ? `${this.dir}/sdv` : elsewhere;
        if (sdkThere) note = `an sdv package that is not the Velocitas SDK is installed (${where}; kuksa-client 0.5 and later ship one), so the agent does not alias sdv to velocitas_sdk: \`from sdv.vehicle_app import VehicleApp\` fails; import velocitas_sdk instead, or remove that package`;
      } else if (sdkThere) {
        if (writeAlias(this.dir, this.runAs)) this.log.info({ dir: this.dir }, 'sdv alias of velocitas_sdk written');
      }
    } catch (e) {
      note = `the sdv alias could not be written to ${this.dir}: ${(e as Error).message}`;
    }
    if (note && note !== this.sdvNote) { this.log.warn(note); if (!this.notices.includes(note)) this.notices.push(note); }
    this.sdvNote = note;
  }

  /** For get_runtime_info and the Kit-Manager's get-runtime-info. */
  info(): Record<string, unknown> {
    const p = this.probe;
    if (!p && !this.probing) void this.refresh(); // asked before the deferred first probe: it starts now
    return {
      interpreter: this.config.apps.python,
      executable: p?.executable ?? null,
      version: p?.version ?? null,
      probed: p !== null,
      ...(p?.error ? { error: p.error } : {}),
      velocitasSdk: p?.velocitasSdk ? { importable: p.velocitasSdk.importable, version: p.velocitasSdk.version ?? null, path: p.velocitasSdk.path ?? null,
        ...(p.velocitasSdk.error ? { error: p.velocitasSdk.error } : {}), missingDependencies: p.velocitasSdk.missingDependencies ?? [] } : null,
      sdvAlias: aliasState(this.dir) === 'ours',
      ...(this.sdvNote ? { sdvNote: this.sdvNote } : {}),
      vehicleModel: this.model ? { signals: this.model.signals, branches: this.model.branches, source: this.model.source, hash: this.model.hash.slice(0, 16) } : null,
      ...(this.modelNote ? { vehicleModelNote: this.modelNote } : {}),
      packagesDir: this.dir,
    };
  }

  /** The agent's line for a run whose import of `module` failed; null when the agent has nothing useful to add. */
  hint(module: string): string | null {
    const top = module.split('.')[0]!;
    const sdkThere = this.probe?.velocitasSdk?.importable === true;
    const how = `install it with ${INSTALL}${this.config.packages.findLinks ? ` (offline, from packages.findLinks ${this.config.packages.findLinks})` : ' (offline: set packages.findLinks to a folder with its wheels)'}`;
    switch (top) {
      case 'velocitas_sdk':
        return `[sdv-agent] the Velocitas SDK (velocitas_sdk) is not installed for ${this.config.apps.python}: ${how}; the agent then provides sdv and the vehicle model`;
      case 'sdv':
        if (this.sdvNote) return `[sdv-agent] ${this.sdvNote}`;
        if (module !== 'sdv') return null;
        return sdkThere
          ? '[sdv-agent] sdv (the alias of velocitas_sdk) was not there yet when this run started: run it again'
          : `[sdv-agent] sdv is the Velocitas SDK's old name and the SDK is not installed: ${how}; the agent then provides sdv as an alias of velocitas_sdk`;
      case 'vehicle':
        if (module !== 'vehicle') return null;
        return `[sdv-agent] no vehicle model package in ${this.dir}: ${this.modelNote ?? 'it is written from the served VSS tree at start and after generate_vehicle_model'}`;
      case 'grpc': case 'paho': case 'google':
        return `[sdv-agent] ${module} is missing: the Velocitas SDK needs grpcio, paho-mqtt and protobuf; ${INSTALL} installs them`;
      default:
        return null;
    }
  }
}

/** The model whose Python package apps should see, and where it came from; null when the agent does not know it. */
function servedModel(hub: SignalHub, config: Config): { model: VssModel; source: string } | null {
  const generated = fs.existsSync(hub.modelFile);
  if (hub.store) return { model: hub.store.vss, source: generated ? 'generate_vehicle_model' : config.kuksa.vss ? 'kuksa.vss' : 'built-in' };
  try {
    if (generated) return { model: VssModel.load(hub.modelFile), source: 'generate_vehicle_model' };
    if (config.kuksa.vss) return { model: VssModel.load(config.kuksa.vss), source: 'kuksa.vss' };
  } catch { /* an unreadable file: no package rather than a wrong one */ }
  return null;
}

function sameFolder(a: string, b: string): boolean {
  try { return fs.realpathSync(a) === fs.realpathSync(b); } catch { return false; }
}
