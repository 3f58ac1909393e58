// The price of loading on first use (issue 30): an idle agent has not loaded grpc-js with the protos and the handlers,
// mqtt-packet or ws, nor parsed its built-in vehicle model; the first client of each door waits for that. On an agent
// restarted on its dataDir (embedded store, gRPC served, the embedded MQTT broker: a box's boot; a first start parses
// the model anyway to write the Python package), three times each in turn: a kuksa.val v2 GetValue on a new
// connection (it also makes the model), MQTT CONNECT → CONNACK, and a local-API WebSocket connect + ping — the first
// of each (it loads the part) beside the second (loaded), in ms.
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { ApiClient, ROOT, startAgent, tmpDir } from '../test/helpers/agent';
import { connect as mqttConnect } from '../test/chaos/raw-mqtt';
import { round, runScope } from './lib';
import type { Metrics, Scenario } from './scenarios';

type Ctor = grpc.ServiceClientConstructor;

function v2Client(port: number): grpc.Client & Record<string, any> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const def = protoLoader.loadSync(['kuksa/val/v2/val.proto'], { keepCase: true, longs: String, enums: String, defaults: false, oneofs: true, includeDirs: [path.join(ROOT, 'proto')] });
  const VAL = (grpc.loadPackageDefinition(def) as unknown as { kuksa: { val: { v2: { VAL: Ctor } } } }).kuksa.val.v2.VAL;
  // A connection of its own per client: the second call must not reuse the first one's.
  return new VAL(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 }) as grpc.Client & Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

async function grpcCall(port: number): Promise<number> {
  const c = v2Client(port);
  try {
    return await timed(() => new Promise<void>((resolve, reject) => c.GetValue({ signal_id: { path: 'Vehicle.Speed' } }, (e: Error | null) => (e ? reject(e) : resolve()))));
  } finally { c.close(); }
}

async function mqttConnack(port: number, id: string): Promise<number> {
  let socket: import('node:net').Socket | undefined;
  const ms = await timed(async () => {
    const r = await mqttConnect(port, id, { timeoutMs: 30_000 });
    if (!r || r.returnCode !== 0) throw new Error(`MQTT CONNECT refused (${r?.returnCode ?? 'no CONNACK'})`);
    socket = r.socket;
  });
  socket?.destroy();
  return ms;
}

async function apiPing(url: string): Promise<number> {
  let c: ApiClient | undefined;
  try {
    return await timed(async () => { c = await ApiClient.connect(url); await c.request({ type: 'ping' }); });
  } finally { c?.close(); }
}

export const firstUseScenario: Scenario = {
  name: 'first-use', runs: 3, warmup: false,
  about: 'on a restarted agent: the first kuksa.val v2 GetValue on a new connection (loads grpc-js, the protos, the handlers; parses the built-in model), the first MQTT CONNECT → CONNACK (loads mqtt-packet) and the first local-API connect + ping (loads ws), each beside the second, ms',
  async run() {
    const opts = { dataDir: tmpDir(runScope, 'sdv-bench-first-use-'), config: { kuksa: { serve: true, address: '127.0.0.1:0' }, log: { level: 'info' } } };
    await (await startAgent(runScope, opts)).stop();
    const agent = await startAgent(runScope, opts);
    const grpcPort = (await agent.waitLog((l) => l.msg === 'databroker gRPC server listening')).port as number;
    const mqttPort = (await agent.waitLog((l) => l.msg === 'mqtt broker listening')).port as number;
    const m: Metrics = {};
    m.grpcFirstCallMs = round(await grpcCall(grpcPort));
    m.grpcNextCallMs = round(await grpcCall(grpcPort));
    m.grpcLoadMs = (agent.logs.find((l) => l.msg === 'databroker gRPC services loaded (first connection)')?.ms as number | undefined) ?? 'not logged';
    m.modelParseMs = (agent.logs.find((l) => l.msg === 'vehicle model ready')?.ms as number | undefined) ?? 'not logged';
    m.mqttFirstConnackMs = round(await mqttConnack(mqttPort, 'first'));
    m.mqttNextConnackMs = round(await mqttConnack(mqttPort, 'next'));
    m.apiFirstPingMs = round(await apiPing(agent.apiUrl));
    m.apiNextPingMs = round(await apiPing(agent.apiUrl));
    return m;
  },
};
