// The service definitions the agent builds from src/signals/proto-descriptors.json (made at build time) against what
// @grpc/proto-loader makes of proto/ at run time, as the agent did before and as the test clients still do: the same
// methods, paths, stream kinds and client names, and for every method's request and reply a sample message with every
// field set encodes to the same bytes and decodes to the same object.
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import t from 'tap';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import * as protobuf from 'protobufjs';
import { kuksaServices } from '../../src/signals/protos';
import descriptors from '../../src/signals/proto-descriptors.json';
import { ROOT } from '../helpers/agent';

const FILES = ['kuksa/val/v1/val.proto', 'kuksa/val/v2/val.proto', 'sdv/databroker/v1/broker.proto', 'sdv/databroker/v1/collector.proto'];
const OPTIONS = { keepCase: true, longs: String, enums: String, defaults: false, oneofs: true, includeDirs: [path.join(ROOT, 'proto')] };

t.test('the committed descriptors are what proto/ gives', async (t) => {
  t.doesNotThrow(() => execFileSync(process.execPath, [path.join(ROOT, 'scripts', 'gen-protos.mjs'), '--check'], { stdio: 'pipe' }));
});

const SCALARS: Record<string, unknown> = {
  string: 'Vehicle.Speed', bool: true, double: 1.25, float: 0.5, int32: -7, uint32: 7, sint32: -8, fixed32: 9, sfixed32: -10,
  int64: '-9007199254740993', uint64: '18446744073709551615', sint64: '-5', fixed64: '6', sfixed64: '-6', bytes: Buffer.from([1, 2, 255]),
};

/** A message with every field set (one member per oneof, nesting to depth 3), built from the reflection of its type. */
function sample(type: protobuf.Type, depth = 0): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const oneofTaken = new Set<string>();
  for (const f of type.fieldsArray) {
    f.resolve();
    if (f.partOf) {
      if (oneofTaken.has(f.partOf.name)) continue;
      oneofTaken.add(f.partOf.name);
    }
    let v: unknown;
    if (f.resolvedType instanceof protobuf.Enum) v = Object.keys(f.resolvedType.values).at(-1);
    else if (f.resolvedType instanceof protobuf.Type) { if (depth >= 3) continue; v = sample(f.resolvedType, depth + 1); }
    else v = SCALARS[f.type];
    if (v === undefined) throw new Error(`no sample for ${type.name}.${f.name} (${f.type})`);
    if (f.map) out[f.name] = { [(f as unknown as protobuf.MapField).keyType === 'string' ? 'k' : '3']: v };
    else out[f.name] = f.repeated ? [v, v] : v;
  }
  return out;
}

t.test('every service: the same methods, and the same bytes and objects as @grpc/proto-loader', async (t) => {
  const loaded = grpc.loadPackageDefinition(protoLoader.loadSync(FILES, OPTIONS)) as unknown as Record<string, any>;
  const theirs: Record<string, grpc.ServiceDefinition> = {
    v1: loaded.kuksa.val.v1.VAL.service, v2: loaded.kuksa.val.v2.VAL.service,
    sdvBroker: loaded.sdv.databroker.v1.Broker.service, sdvCollector: loaded.sdv.databroker.v1.Collector.service,
  };
  const root = protobuf.Root.fromJSON(descriptors as protobuf.INamespace);
  const ours = kuksaServices();
  let messages = 0;
  for (const [key, their] of Object.entries(theirs)) {
    const our = ours[key as keyof typeof ours].service;
    t.same(Object.keys(our).sort(), Object.keys(their).sort(), `${key}: the same methods`);
    for (const [name, m] of Object.entries(their)) {
      const o = our[name]!;
      t.same({ path: o.path, requestStream: o.requestStream, responseStream: o.responseStream, originalName: o.originalName },
        { path: m.path, requestStream: m.requestStream, responseStream: m.responseStream, originalName: m.originalName }, `${key}.${name}`);
      const method = root.lookup(m.path.slice(1).split('/').join('.')) as protobuf.Method;
      method.resolve();
      for (const [type, ser, de, theirSer, theirDe] of [
        [method.resolvedRequestType!, o.requestSerialize, o.requestDeserialize, m.requestSerialize, m.requestDeserialize],
        [method.resolvedResponseType!, o.responseSerialize, o.responseDeserialize, m.responseSerialize, m.responseDeserialize],
      ] as const) {
        const msg = sample(type);
        const bytes = ser(msg);
        t.same(bytes, theirSer(msg), `${key}.${name} ${type.name}: the same bytes`);
        t.ok(bytes.length > 0 || type.fieldsArray.length === 0, `${type.name}: the sample is not empty`);
        t.same(de(bytes), theirDe(bytes), `${key}.${name} ${type.name}: the same object`);
        messages++;
      }
    }
  }
  t.equal(messages, 46, 'the 23 methods of the four services, request and reply each');
  t.throws(() => ours.v2.service.GetValue!.requestSerialize([] as unknown as object), /array/, 'an array is refused as a message');
});
