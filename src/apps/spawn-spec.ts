// How a user program is started: the program and arguments of each app type, and the environment an SDV app expects
// (the databroker address under the names the Velocitas SDK and kuksa-client read). The supervisor and the ad-hoc
// runs decide when; this file decides how.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { splitHostPort, type Config } from '../config';
import { inheritedEnv } from '../child-env';
import { agentPythonDir, pythonPackagesDir } from '../packages/folder';
import { unavailable } from '../core/errors';
import type { SpawnSpec } from './process';
import { asUser, letPass, type RunAs } from './run-as';
import type { AppRecord } from './store';

/** Where user programs find the agent's services, read when a program starts (ports chosen at listen time included). */
export interface ServiceAddresses {
  /** host:port of the databroker (the embedded store's gRPC server, or the external databroker). */
  databroker(): string;
  /** host:port where Velocitas apps find sdv.databroker.v1: the databroker, or in external mode the agent's bridge. */
  sdvDatabroker?(): string;
  /** host:port of the MQTT broker, or null with mqtt.mode off. */
  mqtt(): string | null;
}

/** The ports the agent's own servers actually listen on (0 or absent: not listening; the configured port is used). */
export interface ServedPorts { kuksa?: () => number; mqtt?: () => number; sdvBridge?: () => number }

export function serviceAddresses(config: Config, served: ServedPorts = {}): ServiceAddresses {
  return {
    databroker: () => reachable(config.kuksa.address, config.kuksa.mode === 'embedded' ? served.kuksa?.() : 0),
    sdvDatabroker: () => {
      // external mode with the sdv.databroker.v1 bridge in force (signals/sdv-bridge.ts): Velocitas apps get the bridge
      const bridge = config.kuksa.mode === 'external' ? served.sdvBridge?.() ?? 0 : 0;
      return bridge ? reachable(config.kuksa.sdvBridgeAddress, bridge) : reachable(config.kuksa.address, config.kuksa.mode === 'embedded' ? served.kuksa?.() : 0);
    },
    mqtt: () => (config.mqtt.mode === 'off' ? null : reachable(config.mqtt.address, config.mqtt.mode === 'embedded' ? served.mqtt?.() : 0)),
  };
}

/** A listen address as a client dials it: the port actually bound, and loopback for "every interface". */
function reachable(address: string, port = 0): string {
  let [host, configured] = splitHostPort(address);
  if (host === '0.0.0.0') host = '127.0.0.1';
  if (host === '::') host = '::1';
  const p = port > 0 ? port : configured;
  return host.includes(':') ? `[${host}]:${p}` : `${host}:${p}`;
}

/**
 * The environment of every user program (deployed apps, Kit-Manager ad-hoc runs, compiled programs); `own` (an app's
 * config.env) may override all but the SDV names. PYTHONPATH is the python-packages folder (pip's, the app user's),
 * then the agent's own (the generated vehicle package, the sdv alias), then the app's own, then the one the agent
 * inherited (the sdv-runtime image keeps the SDK there).
 */
export function appEnv(config: Config, folder: string, runAs: RunAs | null, own: Record<string, string> = {}, addresses = serviceAddresses(config)): Record<string, string> {
  const databroker = addresses.databroker();
  const [host, port] = splitHostPort(databroker);
  const mqtt = addresses.mqtt();
  const pythonPath = [pythonPackagesDir(config), agentPythonDir(config), own.PYTHONPATH, process.env.PYTHONPATH].filter((p) => p).join(':');
  return {
    PATH: '/usr/local/bin:/usr/bin:/bin',
    LANG: 'C.UTF-8',
    ...inheritedEnv(),
    // The agent's HOME (root's) is not the run user's: its folder is.
    HOME: runAs ? folder : process.env.HOME ?? folder,
    TERM: 'dumb',
    ...own,
    PYTHONUNBUFFERED: '1',
    PYTHONPATH: pythonPath,
    SDV_MIDDLEWARE_TYPE: 'native',
    SDV_VEHICLEDATABROKER_ADDRESS: `grpc://${addresses.sdvDatabroker?.() ?? databroker}`,
    ...(mqtt ? { SDV_MQTT_ADDRESS: `mqtt://${mqtt}` } : {}),
    KUKSA_DATA_BROKER_ADDRESS: host,
    KUKSA_DATA_BROKER_PORT: String(port),
  };
}

/** A deployed app's process; throws when it cannot be started (missing executable, no docker). */
export function appSpawnSpec(rec: AppRecord, folder: string, config: Config, runAs: RunAs | null, fifoDir = folder, addresses = serviceAddresses(config)): SpawnSpec {
  const { apps } = config;
  const env = { ...appEnv(config, folder, runAs, rec.config.env, addresses), SDV_APP_ID: rec.id };
  let file: string;
  let args: string[];
  switch (rec.type) {
    case 'python':
      file = apps.python; args = ['-u', 'main.py'];
      break;
    case 'binary': case 'kuksa-server': {
      file = rec.config.path ?? path.join(folder, 'app.bin');
      if (!fs.existsSync(file)) throw new Error(`executable ${file} does not exist`);
      args = rec.config.args;
      break;
    }
    case 'docker':
      if (!onPath(apps.docker)) throw unavailable('docker is not available on this box');
      file = apps.docker;
      args = ['run', '--rm', '--init', '--name', rec.id, '--network', 'host'];
      for (const [k, v] of Object.entries(env)) if (k.startsWith('SDV_') || k.startsWith('KUKSA_') || k in rec.config.env) args.push('-e', `${k}=${v}`);
      args.push(rec.config.image ?? '', ...rec.config.args);
      break;
    default:
      throw new Error(`type ${rec.type} has no process`);
  }
  return { file, args, cwd: folder, env, stderrFifo: fifoPath(fifoDir, rec.id, runAs), ...asUser(runAs) };
}

let spareFifoDir: string | null = null;

/**
 * The stderr FIFO lives in the agent's folder of the app (one the app user cannot write: the agent creates and chowns
 * it there, so no link can be planted in its place); when that cannot be written (a read-only dataDir) it goes to a
 * folder of this agent's in the temp dir, so restored apps still start. Nothing is written through a FIFO, only passed.
 */
function fifoPath(dir: string, appId: string, runAs: RunAs | null): string {
  try {
    fs.accessSync(dir, fs.constants.W_OK);
    return path.join(dir, 'stderr.fifo');
  } catch {
    spareFifoDir ??= fs.mkdtempSync(path.join(os.tmpdir(), 'sdv-agent-fifo-'));
    letPass(runAs, spareFifoDir);
    return path.join(spareFifoDir, `${appId}.stderr.fifo`);
  }
}

/** At shutdown, once no app runs: the temp-dir folder of FIFOs, if one was made, goes with the agent. */
export function removeSpareFifoDir(): void {
  if (!spareFifoDir) return;
  try { fs.rmSync(spareFifoDir, { recursive: true, force: true }); } catch { /* the temp dir's own cleaning takes it */ }
  spareFifoDir = null;
}

/** True when `cmd` is an executable path, or found on PATH. */
export function onPath(cmd: string): boolean {
  const isExec = (p: string) => { try { fs.accessSync(p, fs.constants.X_OK); return fs.statSync(p).isFile(); } catch { return false; } };
  if (cmd.includes('/')) return isExec(cmd);
  return (process.env.PATH ?? '').split(':').some((d) => d && isExec(path.join(d, cmd)));
}
