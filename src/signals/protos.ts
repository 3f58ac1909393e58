// Loads the kuksa.val v1 and v2 service definitions from proto/ (written by the project from shared/kuksa-wire.md).
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { resourcePath } from '../resources';

/** Decoding options shared by the clients and the server: field names as in the .proto, 64-bit as strings. */
export const LOADER_OPTIONS: protoLoader.Options = { keepCase: true, longs: String, enums: String, defaults: false, oneofs: true };

let cached: { v1: grpc.ServiceClientConstructor; v2: grpc.ServiceClientConstructor } | null = null;

export function kuksaServices(): { v1: grpc.ServiceClientConstructor; v2: grpc.ServiceClientConstructor } {
  if (cached) return cached;
  const dir = resourcePath('proto');
  const def = protoLoader.loadSync(['kuksa/val/v1/val.proto', 'kuksa/val/v2/val.proto'], { ...LOADER_OPTIONS, includeDirs: [dir] });
  const pkg = grpc.loadPackageDefinition(def) as unknown as { kuksa: { val: { v1: { VAL: grpc.ServiceClientConstructor }; v2: { VAL: grpc.ServiceClientConstructor } } } };
  cached = { v1: pkg.kuksa.val.v1.VAL, v2: pkg.kuksa.val.v2.VAL };
  return cached;
}
