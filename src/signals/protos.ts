// Loads the service definitions the agent serves and calls from proto/ (written by the project from
// shared/kuksa-wire.md): kuksa.val v1 and v2, and sdv.databroker.v1 (Broker, Collector).
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { resourcePath } from '../resources';

/** Decoding options shared by the clients and the server: field names as in the .proto, 64-bit as strings. */
export const LOADER_OPTIONS: protoLoader.Options = { keepCase: true, longs: String, enums: String, defaults: false, oneofs: true };

type Ctor = grpc.ServiceClientConstructor;
export interface Services { v1: Ctor; v2: Ctor; sdvBroker: Ctor; sdvCollector: Ctor }

let cached: Services | null = null;

export function kuksaServices(): Services {
  if (cached) return cached;
  const dir = resourcePath('proto');
  const def = protoLoader.loadSync(
    ['kuksa/val/v1/val.proto', 'kuksa/val/v2/val.proto', 'sdv/databroker/v1/broker.proto', 'sdv/databroker/v1/collector.proto'],
    { ...LOADER_OPTIONS, includeDirs: [dir] },
  );
  const pkg = grpc.loadPackageDefinition(def) as unknown as {
    kuksa: { val: { v1: { VAL: Ctor }; v2: { VAL: Ctor } } };
    sdv: { databroker: { v1: { Broker: Ctor; Collector: Ctor } } };
  };
  cached = { v1: pkg.kuksa.val.v1.VAL, v2: pkg.kuksa.val.v2.VAL, sdvBroker: pkg.sdv.databroker.v1.Broker, sdvCollector: pkg.sdv.databroker.v1.Collector };
  return cached;
}
