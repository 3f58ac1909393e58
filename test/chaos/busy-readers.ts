// A process whose event loop is busy nine tenths of the time, with `n` kuksa.val v1 subscribers of `Vehicle` on one
// connection, each message costing 5 ms of work: readers that do not stop, but fall behind (a slow Velocitas app
// does this by accident). It prints {"ready": true} once every reader has its first message (the streams are open),
// then one JSON line when every reader has seen Vehicle.Speed = marker, or at the deadline:
//   {"saw": <readers that saw it>, "messages": <messages read in all>, "statuses": [<codes of streams that ended>]}
// Usage: node --import tsx test/chaos/busy-readers.ts <port> <n> <marker> <deadlineMs>
import { rawClients } from '../helpers/signals';

const [port, n, marker, deadlineMs] = process.argv.slice(2).map(Number) as [number, number, number, number];
const { v1 } = rawClients(port);
const saw = new Set<number>();
const opened = new Set<number>();
const statuses: number[] = [];
let messages = 0;
for (let i = 0; i < n; i++) {
  const s = v1.Subscribe({ entries: [{ path: 'Vehicle', view: 'VIEW_CURRENT_VALUE', fields: ['FIELD_VALUE'] }] });
  s.on('data', (m: { updates?: Array<{ entry: { path: string; value?: { float?: number } } }> }) => {
    messages++;
    if (!opened.has(i) && opened.add(i).size === n) process.stdout.write('{"ready": true}\n');
    const until = Date.now() + 5;
    while (Date.now() < until) { /* the app's work per message */ }
    for (const u of m.updates ?? []) if (u.entry.path === 'Vehicle.Speed' && u.entry.value?.float === marker) saw.add(i);
    if (saw.size === n) done();
  });
  s.on('error', (e: { code: number }) => { statuses.push(e.code); });
}
const end = Date.now() + deadlineMs;
// Busy 90 ms of every 100: the gRPC library reads only in the gaps.
const busy = setInterval(() => {
  const until = Date.now() + 90;
  while (Date.now() < until) { /* the app's own work */ }
  if (Date.now() > end) done();
}, 100);
function done(): void {
  clearInterval(busy);
  process.stdout.write(JSON.stringify({ saw: saw.size, messages, statuses }) + '\n', () => process.exit(0));
}
