// A process that opens `conns` connections to the embedded gRPC server, each with `perConn` sdv.databroker.v1
// Subscribe streams of one query (read from a file), one stream after the other, and reads whatever they send. It
// prints one JSON line once every stream has its first answer (a message or a status):
//   {"accepted": <streams open>, "refused": {<status details>: <streams>}}
// and then keeps reading until its stdin closes. In its own process so that what a write costs is the agent's work,
// not the subscribers' reading in the test's event loop.
// Usage: node --import tsx test/chaos/sdv-subscribers.ts <port> <conns> <perConn> <query file>
import * as fs from 'node:fs';
import type * as grpc from '@grpc/grpc-js';
import { rawClients } from '../helpers/signals';

const [port, conns, perConn] = process.argv.slice(2, 5).map(Number) as [number, number, number];
const query = fs.readFileSync(process.argv[5]!, 'utf8');
/** '' when the stream's first answer is a message, else why not (its status, or no answer in 30 s). */
const first = (s: grpc.ClientReadableStream<unknown>) => new Promise<string>((resolve) => {
  const timer = setTimeout(() => resolve('no answer within 30 s'), 30_000);
  s.once('data', () => { clearTimeout(timer); resolve(''); });
  s.on('error', (e: grpc.ServiceError) => { clearTimeout(timer); resolve(e.details || String(e.code)); });
});

(async () => {
  const clients = Array.from({ length: conns }, () => rawClients(port, { 'grpc.use_local_subchannel_pool': 1 }).broker);
  let accepted = 0;
  const refused: Record<string, number> = {};
  for (const c of clients) {
    for (let i = 0; i < perConn; i++) {
      const why = await first(c.Subscribe({ query }) as grpc.ClientReadableStream<unknown>);
      if (why === '') accepted++;
      else refused[why.slice(0, 160)] = (refused[why.slice(0, 160)] ?? 0) + 1;
    }
  }
  process.stdout.write(JSON.stringify({ accepted, refused }) + '\n');
  process.stdin.resume();
  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('close', () => process.exit(0));
})();
