// The environment of every user program (deployed apps, ad-hoc runs, compiled programs, the interpreter probe): the
// allow-listed part of the agent's own (child-env.ts), where the agent's services are (the databroker under the names
// the Velocitas SDK and kuksa-client read, the MQTT broker) and the two Python folders on PYTHONPATH.
import fs = require('node:fs');
import path = require('node:path');
import { splitHostPort, type Config } from '../config';
import { inheritedEnv } from './child-env';
import { agentPythonDir, PROJECT_PACKAGES_FOLDER, pythonPackagesDir } from './python-folders';
import type { RunAs } from './run-as';

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
      // external mode with the sdv.databroker.v1 bridge in force (signals/grpc/sdv-bridge.ts): Velocitas apps get the bridge
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
 * config.env) may override all but the SDV names. PYTHONPATH is a project's own requirements (<folder>/.python-packages,
 * when the program is a multi-file project: src/python/project.ts), then the python-packages folder (pip's, the app user's),
 * then the agent's own (the generated vehicle package, the sdv alias), then the app's own, then the one the agent
 * inherited (the sdv-runtime image keeps the SDK there).
 */
export function appEnv(config: Config, folder: string, runAs: RunAs | null, own: Record<string, string> = {}, addresses = serviceAddresses(config)): Record<string, string> {
  const databroker = addresses.databroker();
  const [host, port] = splitHostPort(databroker);
  const mqtt = addresses.mqtt();
  const project = path.join(folder, PROJECT_PACKAGES_FOLDER);
  const pythonPath = [fs.existsSync(project) ? project : '', pythonPackagesDir(config), agentPythonDir(config), own.PYTHONPATH, process.env.PYTHONPATH].filter((p) => p).join(':');
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
