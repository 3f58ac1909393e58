// The service definitions the agent serves and calls: kuksa.val v1 and v2, and sdv.databroker.v1 (Broker, Collector),
// written by the project in proto/ from shared/kuksa-wire.md. They come from proto-descriptors.json, which
// scripts/gen-protos.mjs makes from proto/ at build time: parsing the .proto files at start and building
// @grpc/proto-loader's reflection descriptors (which the agent never serves) cost 110 ms of the bundle's start and
// 150 ms of the binary's. protobufjs builds each message's encoder and decoder on its first use.
import * as grpc from '@grpc/grpc-js';
import * as protobuf from 'protobufjs';
import descriptors from './proto-descriptors.json';

/**
 * How messages become objects, as @grpc/proto-loader's options of the same names (the clients in the tests use it
 * with these): 64-bit numbers and enums as strings, no defaults, a oneof's member named in a virtual field. Field
 * names stay as in the .proto (keepCase, applied when the JSON was made).
 */
const TO_OBJECT: protobuf.IConversionOptions = { longs: String, enums: String, defaults: false, oneofs: true };

type Ctor = grpc.ServiceClientConstructor;
export interface Services { v1: Ctor; v2: Ctor; sdvBroker: Ctor; sdvCollector: Ctor }

let cached: Services | null = null;

export function kuksaServices(): Services {
  if (cached) return cached;
  const root = protobuf.Root.fromJSON(descriptors as protobuf.INamespace);
  const ctor = (name: string) => grpc.makeGenericClientConstructor(serviceDefinition(root.lookupService(name)), name);
  cached = {
    v1: ctor('kuksa.val.v1.VAL'),
    v2: ctor('kuksa.val.v2.VAL'),
    sdvBroker: ctor('sdv.databroker.v1.Broker'),
    sdvCollector: ctor('sdv.databroker.v1.Collector'),
  };
  return cached;
}

/** grpc-js's definition of one service: the paths, stream kinds and codecs @grpc/proto-loader would give. */
function serviceDefinition(service: protobuf.Service): grpc.ServiceDefinition {
  const fullName = service.fullName.slice(1);
  const def: Record<string, grpc.MethodDefinition<object, object>> = {};
  for (const m of service.methodsArray) {
    m.resolve();
    const req = m.resolvedRequestType!;
    const res = m.resolvedResponseType!;
    def[m.name] = {
      path: `/${fullName}/${m.name}`,
      requestStream: !!m.requestStream,
      responseStream: !!m.responseStream,
      requestSerialize: serializer(req),
      requestDeserialize: deserializer(req),
      responseSerialize: serializer(res),
      responseDeserialize: deserializer(res),
      // The client's second, lower-camel name of each method, as proto-loader gives it (getValues beside GetValues).
      originalName: m.name.charAt(0).toLowerCase() + m.name.slice(1),
    };
  }
  return def;
}

function serializer(type: protobuf.Type): (value: object) => Buffer {
  return (value) => {
    if (Array.isArray(value)) throw new Error(`cannot encode an array as ${type.name}`);
    // On Node, protobufjs's writer ends in a Buffer (no copy needed).
    return type.encode(type.fromObject(value)).finish() as Buffer;
  };
}

function deserializer(type: protobuf.Type): (bytes: Buffer) => object {
  return (bytes) => type.toObject(type.decode(bytes), TO_OBJECT);
}
