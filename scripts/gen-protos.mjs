#!/usr/bin/env node
// Writes src/signals/proto-descriptors.json: the messages and services of proto/ (kuksa.val v1 and v2,
// sdv.databroker.v1) as protobufjs JSON, so the agent does not parse .proto files when it starts (parsing them and
// building @grpc/proto-loader's reflection descriptors took 110 ms of the bundle's start and 150 ms of the binary's).
//   node scripts/gen-protos.mjs          write the file (scripts/build.mjs runs this before bundling)
//   node scripts/gen-protos.mjs --check  exit 1 if the committed file is not what proto/ gives
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const protoDir = path.join(root, 'proto');
const out = path.join(root, 'src', 'signals', 'proto-descriptors.json');
/** The files that define the services; what they import comes along. */
const ENTRIES = ['kuksa/val/v1/val.proto', 'kuksa/val/v2/val.proto', 'sdv/databroker/v1/broker.proto', 'sdv/databroker/v1/collector.proto'];

export function protoJson() {
  const r = new protobuf.Root();
  // Imports are relative to proto/, as protoc's include path would be; google/protobuf/* are protobufjs' own.
  r.resolvePath = (_origin, target) => (target.startsWith('google/protobuf/') || path.isAbsolute(target) ? target : path.join(protoDir, target));
  // keepCase: field names as written in the .proto, as the handlers read them (the loader options in protos.ts).
  r.loadSync(ENTRIES, { keepCase: true });
  r.resolveAll();
  // Indented so a change to proto/ reads as a diff of this file; the bundle keeps none of the whitespace.
  return `${JSON.stringify(r.toJSON({ keepComments: false }), null, 1)}\n`;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const text = protoJson();
  if (process.argv.includes('--check')) {
    const now = fs.existsSync(out) ? fs.readFileSync(out, 'utf8') : '';
    if (now !== text) { process.stderr.write(`${path.relative(root, out)} is not what proto/ gives: run node scripts/gen-protos.mjs\n`); process.exit(1); }
  } else if (!fs.existsSync(out) || fs.readFileSync(out, 'utf8') !== text) fs.writeFileSync(out, text);
}
