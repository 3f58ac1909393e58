// Console figures of the real agent (issue 3): `npx tsx bench/console-quick.ts`
//  1. lines/s from a python app printing as fast as it can, to one reading subscriber;
//  2. agent RSS before and after 100 000 lines with a subscriber that never reads.
import WebSocket from 'ws';
import { ApiClient, sleep, startAgent } from '../test/helpers/agent';
import { runScope } from './lib';

const N = 200_000;

async function waitStopped(c: ApiClient, appId: string): Promise<void> {
  for (;;) {
    const list = await c.request({ type: 'list_deployed_apps' });
    const app = (list.apps as Array<Record<string, unknown>>).find((a) => a.id === appId);
    if (app && app.status !== 'running' && app.status !== 'starting') return;
    await sleep(100);
  }
}

async function main(): Promise<void> {
  const agent = await startAgent(runScope);
  try {
    // 1. throughput to one subscriber
    const c = await ApiClient.connect(agent.apiUrl);
    await c.request({ type: 'deploy_request', prototype: { id: 'fast', type: 'python', code: `for i in range(${N}):\n    print("line", i)\n` } });
    let count = 0;
    let last = 0;
    let firstAt = 0;
    c.ws.on('message', (d) => {
      const s = d.toString();
      if (s.includes('"console_output"')) { if (count++ === 0) firstAt = performance.now(); last = performance.now(); }
    });
    c.send({ type: 'console_subscribe', id: 's', appId: 'VEA-fast' });
    await c.waitFor((f) => f.type === 'console_subscribed');
    await c.request({ type: 'run_app', appId: 'VEA-fast' });
    await waitStopped(c, 'VEA-fast');
    await sleep(500);
    const secs = (last - firstAt) / 1000;
    console.log(`throughput: ${count} lines to one subscriber in ${secs.toFixed(2)} s = ${Math.round(count / secs)} lines/s (dropped frames: ${c.frames.filter((f) => f.type === 'console_dropped').length})`);
    c.frames.length = 0;

    // 2. a subscriber that never reads
    await c.request({ type: 'deploy_request', prototype: { id: 'flood', type: 'python', code: 'x = "x" * 100\nfor i in range(100000):\n    print(i, x)\n' } });
    const raw = new WebSocket(agent.apiUrl);
    await new Promise((r) => raw.once('open', r));
    raw.send(JSON.stringify({ type: 'console_subscribe', id: 's', appId: 'VEA-flood' }));
    await sleep(200);
    (raw as unknown as { _socket: { pause(): void } })._socket.pause();
    const before = (await c.request({ type: 'get_runtime_info' })).rssBytes as number;
    await c.request({ type: 'run_app', appId: 'VEA-flood' });
    await waitStopped(c, 'VEA-flood');
    const after = (await c.request({ type: 'get_runtime_info' })).rssBytes as number;
    console.log(`stalled subscriber: agent RSS ${(before / 1048576).toFixed(1)} MiB before, ${(after / 1048576).toFixed(1)} MiB after 100 000 lines (~10.5 MB of output)`);
    raw.terminate();
    c.close();
  } finally {
    await agent.stop();
  }
}

void main();
