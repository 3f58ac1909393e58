// The Python vehicle environment (Parts.python): what a Velocitas app finds when it starts. The part keeps the
// generated `vehicle` package in step with the model the agent serves, provides the `sdv` alias when velocitas_sdk is
// there and no other `sdv` comes first, and knows (from one probe of apps.python, run off the hot path and cached;
// again after installs and model changes) the interpreter, the SDK and its version, for get_runtime_info and for the
// one console line that tells a run whose import failed what is missing and how to install it.
//
// Both live in the agent's own folder (dataDir/python-agent, see user-code/python-folders.ts), after packages.dir on PYTHONPATH; the
// part never writes into packages.dir, the app user's (with apps.runAs), and removes what older agents left there as
// that user (old-layout.ts).
//
// PART API: await python.start(hub) (older agents' files, the package for the served model, the alias fast path, the
// deferred probe); python.change(next, apply) (a model command: the new package staged before `apply` changes the
// model, swapped in after it); python.refresh() → Promise (probe); python.modelError() (for /health);
// python.info() → the get_runtime_info `python` object; python.hint(missingModule) → a console line or null.
import fs = require('node:fs');
import path = require('node:path');
import type { Config } from '../config';
import type { Logger } from '../log';
import { appEnv, type ServiceAddresses } from '../user-code/app-env';
import type { RunAs } from '../user-code/run-as';
import { planSteps } from './model-code';
import type { ModelSource } from '../signals/model-source';
import type { SignalHub } from '../signals/hub';
import { CommandError, errorText } from '../core/errors';
import { accessTag, agentAccess, agentPythonDir, ensureAgentPythonDir, ensurePythonPackagesDir, pythonPackagesDir, type AgentAccess } from '../user-code/python-folders';
import { probePython, type ProbeResult } from './probe';
import { aliasPresent, removeAlias, writeAlias } from './sdv-alias';
import { commitVehiclePackage, isCurrent, readStamp, removeLeftovers, removeVehiclePackage, sliced, stageVehiclePackage, type StagedPackage } from './vehicle-package';
import { removeOldAgentFiles, setAsideVehicle } from './old-layout';
import { removeInBackground } from './agent-tree';

export const SDK_REQUIREMENT = 'velocitas-sdk==0.14.1';
const INSTALL = `install_python_packages "${SDK_REQUIREMENT}"`;
/** The first probe waits this long after start (or until someone asks get_runtime_info). */
const PROBE_DELAY_MS = 3000;
/** Model changes waiting for the one being made; more are refused (LIMIT). */
const MAX_WAITING_CHANGES = 8;

export interface ModelState {
  readonly signals: number;
  readonly branches: number;
  /** The hash of the model text the package was made from. */
  readonly hash: string;
  readonly source: string;
  readonly skipped: readonly string[];
  /** Generation and write time of the last change, ms. */
  readonly tookMs: number;
}

/** A model change's package, staged and not yet in place: 'current' (nothing to write), 'none' (no package). */
export type PreparedPackage =
  | { readonly kind: 'staged'; readonly staged: StagedPackage; readonly source: ModelSource; readonly skipped: readonly string[]; readonly t0: number }
  | { readonly kind: 'current'; readonly source: ModelSource; readonly t0: number }
  | { readonly kind: 'none'; readonly note: string; readonly t0: number };

export class PythonEnvironment {
  /** packages.dir: the app user's (pip's target). */
  readonly dir: string;
  /** dataDir/python-agent: the agent's own (the vehicle package, the sdv alias). */
  readonly agentDir: string;
  private readonly access: AgentAccess;
  private probe: ProbeResult | null = null;
  private probing: Promise<void> | null = null;
  private again = false;
  private model: ModelState | null = null;
  private modelNote: string | null = null;
  /** Set while the package on disk does not match the model the agent serves: why. */
  private packageError: string | null = null;
  private sdvNote: string | null = null;
  private vehicleNote: string | null = null;
  private startTimer: NodeJS.Timeout | null = null;
  private changes: Promise<unknown> = Promise.resolve();
  private waiting = 0;
  private readonly log: Logger;

  constructor(private readonly config: Config, log: Logger, private readonly notices: string[], private readonly runAs: RunAs | null, private readonly addresses: ServiceAddresses) {
    this.dir = pythonPackagesDir(config);
    this.agentDir = agentPythonDir(config);
    this.access = agentAccess(runAs);
    this.log = log.child({ part: 'python' });
  }

  /**
   * At start, before apps are restored: what older agents left in packages.dir goes; the package is made for the
   * served model when the one there was made from another; an SDK in packages.dir gets its alias at once (a file
   * check, no process). The probe, which may still take the alias back (an sdv ahead on the path), follows once the
   * start's burst of work is over, so it does not compete with the apps being restored.
   */
  async start(hub: SignalHub): Promise<void> {
    try { ensurePythonPackagesDir(this.config, this.runAs); } catch (e) { this.log.warn({ err: (e as Error).message, dir: this.dir }, 'the python-packages folder cannot be made'); }
    const removed = await removeOldAgentFiles(this.dir, this.runAs);
    if (removed.length) this.log.info({ dir: this.dir, removed }, 'files of an older agent removed from the python-packages folder (the agent\'s own are in its folder now)');
    try {
      ensureAgentPythonDir(this.agentDir, this.access);
      removeLeftovers(this.agentDir);
    } catch (e) { this.log.error({ err: (e as Error).message, dir: this.agentDir }, 'the agent\'s python folder cannot be prepared'); }
    await this.change(hub.servedSource(), async () => null).catch((e: unknown) => {
      this.packageError = `the python vehicle model could not be written to ${this.agentDir}: ${errorText(e)}`;
      this.log.error(this.packageError);
    });
    try {
      if (fs.existsSync(path.join(this.dir, 'velocitas_sdk', '__init__.py')) && !fs.existsSync(path.join(this.dir, 'sdv'))) writeAlias(this.agentDir, this.access);
    } catch (e) { this.log.warn({ err: (e as Error).message }, 'sdv alias not written'); }
    this.startTimer = setTimeout(() => { this.startTimer = null; void this.refresh(); }, PROBE_DELAY_MS);
    this.startTimer.unref();
  }

  stop(): void { if (this.startTimer) clearTimeout(this.startTimer); }

  /** Why the package on disk does not match the served model, or null when it does (or there is none to have). */
  modelError(): string | null { return this.packageError; }

  /**
   * One model change at a time: the package for `next` (null: the agent will not know the model) is staged first, and a
   * model it cannot be made from is refused (PythonModelError, a write error) before `apply` changes anything; after
   * `apply` it is swapped in. Resolves with apply's result and the package's outcome; more than MAX_WAITING_CHANGES
   * waiting are refused (LIMIT).
   */
  change<T>(next: ModelSource | null, apply: () => Promise<T> | T): Promise<{ result: T; state: ModelState | null; error: string | null; note: string | null }> {
    if (this.waiting >= MAX_WAITING_CHANGES) {
      return Promise.reject(new CommandError('LIMIT', `${this.waiting} vehicle model changes are already waiting for the one being made; retry when they are done`));
    }
    this.waiting++;
    const run = this.changes.then(async () => {
      this.waiting--;
      const prepared = await this.prepare(next);
      let result: T;
      try { result = await apply(); } catch (e) { if (prepared.kind === 'staged') removeInBackground(prepared.staged.path); throw e; }
      const outcome = this.commit(prepared);
      // Someone else's vehicle in packages.dir would come first on the path and hide the package just put in place.
      if (this.model) {
        const aside = await setAsideVehicle(this.dir, this.runAs);
        if (aside) this.log.warn({ aside }, 'a vehicle package that is not the agent\'s was in the python-packages folder, ahead of the agent\'s on PYTHONPATH: set aside');
      }
      return { result, ...outcome };
    });
    this.changes = run.catch(() => {});
    return run;
  }

  /** Stages the package for `next`; throws a PythonModelError (a name Python cannot hold, past the bound) or a write error. */
  private async prepare(next: ModelSource | null): Promise<PreparedPackage> {
    const t0 = performance.now();
    if (!next) {
      const note = this.config.kuksa.mode === 'external'
        ? 'kuksa.mode is external and the agent does not know the databroker\'s VSS tree: set kuksa.vss to it, or send generate_vehicle_model'
        : 'no vehicle model is loaded';
      return { kind: 'none', note, t0 };
    }
    if (isCurrent(this.agentDir, next, accessTag(this.access))) return { kind: 'current', source: next, t0 };
    const plan = await sliced(planSteps(next.model));
    if (!plan) return { kind: 'none', note: 'the vehicle model has no Vehicle branch with signals, so there is no Python vehicle package', t0 };
    ensureAgentPythonDir(this.agentDir, this.access);
    const staged = await stageVehiclePackage(this.agentDir, plan, { model: next.hash, ...(next.file ? { modelFile: next.file } : {}), access: accessTag(this.access), source: next.source }, this.access);
    return { kind: 'staged', staged, source: next, skipped: plan.skipped, t0 };
  }

  /** Puts a prepared package in place; never throws: a failure is kept (packageError, /health degraded) and returned. */
  private commit(p: PreparedPackage): { state: ModelState | null; error: string | null; note: string | null } {
    const tookMs = () => Math.round(performance.now() - p.t0);
    try {
      if (p.kind === 'none') {
        removeVehiclePackage(this.agentDir);
        this.model = null;
        this.modelNote = p.note;
      } else {
        if (p.kind === 'staged') commitVehiclePackage(this.agentDir, p.staged);
        const s = p.kind === 'staged' ? p.staged.stamp : readStamp(this.agentDir)!;
        const skipped = p.kind === 'staged' ? p.skipped : this.model?.skipped ?? [];
        this.model = { signals: s.signals, branches: s.branches, hash: s.model, source: p.source.source, skipped, tookMs: tookMs() };
        this.modelNote = null;
        if (p.kind === 'staged') this.log.info({ signals: s.signals, branches: s.branches, bytes: s.bytes, source: s.source, ms: this.model.tookMs }, 'python vehicle model written');
        if (p.kind === 'staged' && skipped.length) this.log.warn({ skipped: skipped.slice(0, 20) }, 'python vehicle model: paths left out (a name the SDK\'s Model uses, or not under Vehicle)');
      }
      this.packageError = null;
      return { state: this.model, error: null, note: this.modelNote };
    } catch (e) {
      this.packageError = `the python vehicle model could not be put in place in ${this.agentDir}: ${errorText(e)}`;
      this.log.error(this.packageError);
      return { state: this.model, error: this.packageError, note: this.modelNote };
    }
  }

  /** Probes the interpreter (one probe at a time; a call during one runs one more after it) and applies the alias rule. */
  refresh(): Promise<void> {
    if (this.probing) { this.again = true; return this.probing; }
    this.probing = (async () => {
      do {
        this.again = false;
        try { ensurePythonPackagesDir(this.config, this.runAs); } catch { /* a read-only dataDir: probe anyway */ }
        const env = appEnv(this.config, this.dir, this.runAs, {}, this.addresses);
        this.probe = await probePython(this.config.apps.python, env, this.agentDir, this.runAs);
        this.applyAliasRule();
        this.log.debug({ sdk: this.probe.velocitasSdk?.importable ?? false, sdvAlias: aliasPresent(this.agentDir), sdvElsewhere: this.probe.sdvElsewhere?.path ?? null }, 'python interpreter probed');
      } while (this.again);
      this.probing = null;
    })();
    return this.probing;
  }

  private applyAliasRule(): void {
    const p = this.probe;
    const sdkThere = p?.velocitasSdk?.importable === true;
    const other = p?.sdvElsewhere ?? null;
    let note: string | null = null;
    try {
      if (other && !other.isVelocitasSdk) {
        removeAlias(this.agentDir);
        if (sdkThere) note = `an sdv package that is not the Velocitas SDK is installed (${other.path}; kuksa-client 0.5 and later ship one), so the agent does not alias sdv to velocitas_sdk: \`from sdv.vehicle_app import VehicleApp\` fails; import velocitas_sdk instead, or remove that package`;
      } else if (other?.beforeAgent) {
        // The SDK's own folder linked as sdv ahead of the agent's folder (packages.dir pointed at the sdv-runtime
        // image's python-packages): it serves, and an alias behind it would never be imported.
        removeAlias(this.agentDir);
      } else if (sdkThere) {
        // Also when the SDK's folder is linked as sdv behind the agent's folder: the alias serves instead of it,
        // without importing every module twice.
        if (writeAlias(this.agentDir, this.access)) this.log.info({ dir: this.agentDir }, 'sdv alias of velocitas_sdk written');
      }
    } catch (e) {
      note = `the sdv alias could not be written to ${this.agentDir}: ${(e as Error).message}`;
    }
    if (note && note !== this.sdvNote) { this.log.warn(note); if (!this.notices.includes(note)) this.notices.push(note); }
    this.sdvNote = note;
    const vehicle = p?.vehicleBefore && this.model ? `a vehicle package that is not the agent's comes first on PYTHONPATH (${p.vehicleBefore}): apps import it, not the model the agent serves; remove it to get the agent's` : null;
    if (vehicle && vehicle !== this.vehicleNote) { this.log.warn(vehicle); if (!this.notices.includes(vehicle)) this.notices.push(vehicle); }
    this.vehicleNote = vehicle;
  }

  /** The interpreter and its own package folders (probed now if never before), for List Python Libraries. */
  async interpreterFolders(): Promise<{ executable: string; version: string | null; folders: string[] }> {
    if (!this.probe) await this.refresh();
    const p = this.probe;
    return { executable: p?.executable ?? this.config.apps.python, version: p?.version ?? null, folders: Array.isArray(p?.sitePackages) ? p.sitePackages.filter((f) => typeof f === 'string') : [] };
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
      sdvAlias: aliasPresent(this.agentDir),
      ...(this.sdvNote ? { sdvNote: this.sdvNote } : {}),
      vehicleModel: this.model ? { signals: this.model.signals, branches: this.model.branches, source: this.model.source, hash: this.model.hash.slice(0, 16) } : null,
      ...(this.modelNote ? { vehicleModelNote: this.modelNote } : {}),
      ...(this.packageError ? { vehicleModelError: this.packageError } : {}),
      ...(this.vehicleNote ? { vehicleNote: this.vehicleNote } : {}),
      packagesDir: this.dir,
      agentDir: this.agentDir,
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
        // Before the first probe (PROBE_DELAY_MS after start) the agent does not know yet whether the SDK is there.
        if (!this.probe) return `[sdv-agent] sdv (the alias of velocitas_sdk) is written once the agent has looked at ${this.config.apps.python}, a few seconds after its start: run it again`;
        return sdkThere
          ? '[sdv-agent] sdv (the alias of velocitas_sdk) was not there yet when this run started: run it again'
          : `[sdv-agent] sdv is the Velocitas SDK's old name and the SDK is not installed: ${how}; the agent then provides sdv as an alias of velocitas_sdk`;
      case 'vehicle':
        if (module !== 'vehicle') return null;
        return `[sdv-agent] no vehicle model package in ${this.agentDir}: ${this.packageError ?? this.modelNote ?? 'it is written from the served VSS tree at start and after generate_vehicle_model'}`;
      case 'grpc': case 'paho': case 'google':
        return `[sdv-agent] ${module} is missing: the Velocitas SDK needs grpcio, paho-mqtt and protobuf; ${INSTALL} installs them`;
      default:
        return null;
    }
  }
}
