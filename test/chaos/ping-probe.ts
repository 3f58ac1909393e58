// A process that does nothing but ask the agent's local API for `ping` every 100 ms for a while, each with the
// liveness deadline (lib.ts LIVENESS_MS), and print what it saw as one JSON line: {"ms": [<round trip of each pong>],
// "missed": <n>}. In its own process so that the figure is the agent's, not the load generator's event loop.
// Usage: node --import tsx test/chaos/ping-probe.ts <ws url> <durationMs>
// With PING_PROBE_READY=1 it writes "ready" to stderr after its first pong, so a test can start the attack then.
import WebSocket from 'ws';
import { LIVENESS_MS } from './lib';

const [url, durationArg] = process.argv.slice(2) as [string, string];
const end = Date.now() + Number(durationArg);
const ms: number[] = [];
let missed = 0;
const ws = new WebSocket(url);
ws.on('error', () => {});
ws.once('open', async () => {
  let seq = 0;
  while (Date.now() < end) {
    const id = `probe-${++seq}`;
    const t0 = performance.now();
    const got = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => { ws.off('message', onMsg); resolve(false); }, LIVENESS_MS);
      const onMsg = (d: WebSocket.RawData) => {
        const text = d.toString();
        if (!text.includes(`"${id}"`)) return;
        clearTimeout(timer);
        ws.off('message', onMsg);
        resolve(text.includes('"pong"'));
      };
      ws.on('message', onMsg);
      ws.send(JSON.stringify({ type: 'ping', id }));
    });
    if (got) ms.push(+(performance.now() - t0).toFixed(2)); else missed++;
    if (seq === 1 && process.env.PING_PROBE_READY === '1') process.stderr.write('ready\n');
    await new Promise((r) => setTimeout(r, 100));
  }
  process.stdout.write(JSON.stringify({ ms, missed }) + '\n', () => process.exit(0));
});
