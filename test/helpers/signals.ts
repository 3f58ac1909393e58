// Signal test helpers: an upstream agent serving kuksa.val gRPC, and a raw kuksa.val client built from the project's
// .proto files with @grpc/grpc-js (no project module), to check the wire as a third-party app would see it.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { ROOT, startAgent, tmpDir, type AgentHandle, type Scope, type StartOptions } from './agent';

/** The COVESA VSS 4.0 release tree (910 leaves), kept in the repository as test data and the default model's source. */
export const FULL_VSS = path.join(ROOT, 'resources', 'vss', 'vss_release_4.0.json');

/** Starts an embedded agent serving kuksa.val and sdv.databroker.v1 on a free port (or the given one); resolves with the port. */
export async function startUpstream(scope: Scope, opts: StartOptions & { port?: number; kuksa?: Record<string, unknown> } = {}): Promise<{ agent: AgentHandle; port: number }> {
  const agent = await startAgent(scope, { ...opts, config: { ...(opts.config ?? {}), kuksa: { serve: true, address: `127.0.0.1:${opts.port ?? 0}`, ...(opts.kuksa ?? {}) } } });
  const l = await agent.waitLog((x) => x.msg === 'databroker gRPC server listening');
  return { agent, port: l.port as number };
}

export function startDownstream(scope: Scope, port: number, api: string, extra: Record<string, unknown> = {}, config: Record<string, unknown> = {}): Promise<AgentHandle> {
  return startAgent(scope, { config: { ...config, kuksa: { mode: 'external', api, address: `127.0.0.1:${port}`, ...extra } } });
}

type Ctor = grpc.ServiceClientConstructor;
type RawClient = grpc.Client & Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
/**
 * Raw clients of every API the embedded server speaks: kuksa.val v1, v2 and sdv.databroker.v1 Broker, Collector.
 * grpc-js shares one connection among clients of the same address; `options` (e.g. `'grpc.use_local_subchannel_pool': 1`)
 * gives each of these clients a connection of its own.
 */
export function rawClients(port: number, options: grpc.ChannelOptions = {}): { v1: RawClient; v2: RawClient; broker: RawClient; collector: RawClient } {
  const def = protoLoader.loadSync(['kuksa/val/v1/val.proto', 'kuksa/val/v2/val.proto', 'sdv/databroker/v1/broker.proto', 'sdv/databroker/v1/collector.proto'],
    { keepCase: true, longs: String, enums: String, defaults: false, oneofs: true, includeDirs: [path.join(ROOT, 'proto')] });
  const pkg = grpc.loadPackageDefinition(def) as unknown as {
    kuksa: { val: { v1: { VAL: Ctor }; v2: { VAL: Ctor } } }; sdv: { databroker: { v1: { Broker: Ctor; Collector: Ctor } } };
  };
  const creds = grpc.credentials.createInsecure();
  const at = `127.0.0.1:${port}`;
  const sdv = pkg.sdv.databroker.v1;
  return {
    v1: new pkg.kuksa.val.v1.VAL(at, creds, options) as RawClient, v2: new pkg.kuksa.val.v2.VAL(at, creds, options) as RawClient,
    broker: new sdv.Broker(at, creds, options) as RawClient, collector: new sdv.Collector(at, creds, options) as RawClient,
  };
}

/** Promise form of a unary call. */
export function call<T = Record<string, any>>(client: any, method: string, req: unknown, token?: string): Promise<T> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const md = new grpc.Metadata();
  if (token) md.set('authorization', `Bearer ${token}`);
  return new Promise((resolve, reject) => client[method](req, md, (e: Error | null, r: T) => (e ? reject(e) : resolve(r))));
}

/** A VSS tree with one leaf of every value kind, for wire tests. */
export function writeAllTypesVss(scope: Scope): string {
  const leaf = (type: string, datatype: string, extra: Record<string, unknown> = {}) => ({ type, datatype, ...extra });
  const tree = {
    Vehicle: {
      type: 'branch', children: {
        Speed: leaf('sensor', 'float', { unit: 'km/h' }),
        T: {
          type: 'branch', children: {
            S_string: leaf('sensor', 'string'), S_bool: leaf('sensor', 'boolean'),
            S_i8: leaf('sensor', 'int8', { min: -100, max: 100 }), S_i16: leaf('sensor', 'int16'), S_i32: leaf('sensor', 'int32'), S_i64: leaf('sensor', 'int64'),
            S_u8: leaf('sensor', 'uint8'), S_u16: leaf('sensor', 'uint16'), S_u32: leaf('sensor', 'uint32'), S_u64: leaf('sensor', 'uint64'),
            S_float: leaf('sensor', 'float'), S_double: leaf('sensor', 'double'),
            A_string: leaf('sensor', 'string[]'), A_bool: leaf('sensor', 'boolean[]'), A_i32: leaf('sensor', 'int32[]'), A_i64: leaf('sensor', 'int64[]'),
            A_u32: leaf('sensor', 'uint32[]'), A_u64: leaf('sensor', 'uint64[]'), A_float: leaf('sensor', 'float[]'), A_double: leaf('sensor', 'double[]'),
            Enum: leaf('sensor', 'string', { allowed: ['PARK', 'DRIVE'] }),
            Attr: leaf('attribute', 'string'),
          },
        },
        Act: { type: 'branch', children: { Lamp: leaf('actuator', 'boolean'), Level: leaf('actuator', 'uint8', { min: 0, max: 100 }) } },
      },
    },
  };
  const file = path.join(tmpDir(scope, 'sdv-vss-'), 'all-types.json');
  fs.writeFileSync(file, JSON.stringify(tree));
  return file;
}

/** One value per leaf of writeAllTypesVss, including negative 32/64-bit integers and arrays. */
export const ALL_TYPE_VALUES: Record<string, unknown> = {
  'Vehicle.T.S_string': 'hello', 'Vehicle.T.S_bool': true, 'Vehicle.T.S_i8': -100, 'Vehicle.T.S_i16': -32768,
  'Vehicle.T.S_i32': -2147483648, 'Vehicle.T.S_i64': -9007199254740991, 'Vehicle.T.S_u8': 255, 'Vehicle.T.S_u16': 65535,
  'Vehicle.T.S_u32': 4294967295, 'Vehicle.T.S_u64': 9007199254740991, 'Vehicle.T.S_float': 1.5, 'Vehicle.T.S_double': -1e300,
  'Vehicle.T.A_string': ['a', 'b'], 'Vehicle.T.A_bool': [true, false], 'Vehicle.T.A_i32': [-1, 2147483647], 'Vehicle.T.A_i64': [-5, 1234567890123],
  'Vehicle.T.A_u32': [0, 4294967295], 'Vehicle.T.A_u64': [1, 9007199254740991], 'Vehicle.T.A_float': [0.5, -2.25], 'Vehicle.T.A_double': [3.141592653589793],
  'Vehicle.T.Enum': 'DRIVE', 'Vehicle.T.Attr': 'VIN123',
};
