// Wiring: builds the parts in order, opens the doors last, and stops everything in reverse.
import path = require('node:path');
import { maskUrl, type Config } from './config';
import { ensurePrivateDir } from './fsutil';
import { loadRuntimeId } from './identity';
import type { Logger } from './log';
import type { Parts } from './parts';
import type { StatusBoard } from './core/status';
import { VERSION } from './version';
import { LocalApi } from './doors/local-api';
import { HealthServer, type AppCounts } from './doors/health';
import { Metrics } from './doors/metrics';
import { AppSupervisor } from './apps/supervisor';
import { AdhocRuns } from './apps/adhoc';
import { Confinement } from './apps/limits/confinement';
import { letPass, resolveRunAs } from './user-code/run-as';
import { PackageInstaller } from './python/installer';
import { removeStaleBuilds } from './build/compile';
import { SignalHub } from './signals/hub';
import { mockServiceHook } from './apps/kinds/mock-service';
import { KitLink } from './doors/kit/link';
import { KitWsLink } from './doors/kit/ws-link';
import { removeSpareFifoDir } from './apps/spawn-spec';
import { serviceAddresses } from './user-code/app-env';
import { MqttService } from './mqtt/service';
import { PythonEnvironment } from './python/environment';
import { TraceRegistry } from './apps/tracer';
import { PendingConsoles } from './apps/pending-consoles';
import { BoxFiles } from './files/box-files';

export interface RunningAgent {
  readonly parts: Parts;
  readonly apiPort: number;
  readonly healthPort: number;
  stop(): Promise<void>;
}

export async function startAgent(config: Config, log: Logger): Promise<RunningAgent> {
  const stops: Array<() => Promise<void> | void> = [];
  const stopAll = async () => {
    for (const stop of stops.reverse()) {
      try { await stop(); } catch (e) { log.error({ err: e }, 'error while stopping'); }
    }
    stops.length = 0;
  };

  try {
    // 1. state on disk
    ensurePrivateDir(config.runtime.dataDir);
    const runtimeId = loadRuntimeId(config.runtime.dataDir);
    const runAs = await resolveRunAs(config.apps.runAs, log);
    letPass(runAs, config.runtime.dataDir);
    const status: StatusBoard = {
      kitManager: { configured: config.kitManager.url !== '', connected: false, url: maskUrl(config.kitManager.url), droppedReplies: 0 },
      kuksa: { mode: config.kuksa.mode, connected: config.kuksa.mode === 'embedded', address: config.kuksa.address, api: config.kuksa.api },
      localApi: { clients: 0 },
    };
    const runtime = { runtimeId, kitId: config.runtime.kitId, name: config.runtime.name, version: VERSION, startedAt: Date.now(), notices: [] as string[] };
    const notices = runtime.notices;
    log.info({ runtimeId, kitId: config.runtime.kitId, version: VERSION, dataDir: path.resolve(config.runtime.dataDir) }, 'starting');

    // 2. parts (apps restored, signals started)
    // Addresses user programs get: the ports the agent's servers actually bound (port 0 in tests), read at each spawn.
    const addresses = serviceAddresses(config, { kuksa: () => signals.grpcPort ?? 0, sdvBridge: () => signals.bridgePort, mqtt: () => mqtt.port ?? 0 });
    // Where apps and ad-hoc runs start: their process trees and limits (one for both).
    const confinement = new Confinement(config, log);
    const apps = new AppSupervisor(config, log, notices, runAs, addresses, confinement);
    // Runs last of all (stops run in reverse): a start that fails after this point leaves no cgroup folder behind.
    stops.push(() => apps.closeTrees());
    const signals = new SignalHub({ config, log, status, notices });
    stops.push(() => signals.stop());
    await signals.start();
    // MQTT and the Python vehicle environment before apps are restored: a Velocitas app connects to MQTT on import
    // and imports the generated model (and sdv). The package is written (off the event loop) only when the one on disk
    // was made from another model; the interpreter probe runs later, in the background.
    const mqtt = new MqttService(config, log, notices);
    stops.push(() => mqtt.stop());
    await mqtt.start();
    const python = new PythonEnvironment(config, log, notices, runAs, addresses);
    stops.push(() => python.stop());
    await python.start(signals);
    apps.setImportHints((m) => python.hint(m));
    // Apps are restored once signals run: a restored mock-service app needs the hub, other apps find the databroker up.
    apps.setServiceHook('mock-service', mockServiceHook(signals.mock));
    apps.start();
    // After the apps have stopped (stops run in reverse): the temp-dir FIFOs of a read-only dataDir go too.
    stops.push(() => removeSpareFifoDir());
    // Pushed only once started: a supervisor that never loaded the registry must not save it (it would be empty).
    stops.push(() => apps.shutdown());
    const adhoc = new AdhocRuns(config, log, runAs, addresses, confinement);
    adhoc.setImportHints((m) => python.hint(m));
    stops.push(() => adhoc.stopAll());
    void removeStaleBuilds(config, runAs);
    const packages = new PackageInstaller(config, log, runAs);
    stops.push(() => packages.stop());
    const traces = new TraceRegistry();
    stops.push(() => traces.closeAll());
    const parts: Parts = {
      config, log, status, runAs, runtime,
      apps, pendingConsoles: new PendingConsoles(), adhoc, traces, signals, mqtt, python, packages,
      files: new BoxFiles(config.runtime.filesDir, config.api.maxPayloadBytes),
    };

    // 3. doors
    const appCounts = (): AppCounts => ({ ...apps.counts() });
    const api = new LocalApi(parts);
    const apiPort = await api.start();
    stops.push(() => api.stop());
    // GET /metrics beside /health (doors/metrics.ts).
    const metrics = new Metrics(parts, { localApi: () => api.clientCount });
    stops.push(() => metrics.close());
    const health = new HealthServer(parts, appCounts, metrics);
    const healthPort = await health.start();
    stops.push(() => health.stop());
    if (config.kitManager.url) {
      // Outbound link to a Kit-Manager: connects in the background and keeps retrying; never blocks startup.
      const link = config.kitManager.protocol === 'ws' ? new KitWsLink(parts) : new KitLink(parts);
      link.start();
      stops.push(() => link.stop());
    }

    log.info({ apiPort, healthPort }, 'ready');
    return { parts, apiPort, healthPort, stop: stopAll };
  } catch (e) {
    await stopAll();
    throw e;
  }
}
