// Local-API subscribers on a thread of their own: what they time and count must not wait behind the bench's other
// work. In the bench's main thread a subscriber shared the event loop with the signals publisher (910 leaves encoded
// 100 times a second) and with the control client, and the test helper's ApiClient parsed and kept every frame
// (200 000 console frames; ~1 600 frames of 910 signals per phase): what the figures then measured was partly the
// bench's own event loop and its garbage collector. Here each frame is looked at as text (no JSON.parse but for the
// subscribe reply) and nothing is kept but counts and the delays' samples. Times are epoch ms of high resolution
// (performance.timeOrigin + performance.now()), comparable across threads.
import { Worker } from 'node:worker_threads';
import * as path from 'node:path';
import { ROOT } from '../test/helpers/agent';
import { Skip } from './lib';

export interface SubscriberStats {
  /** Frames that counted (console: stdout lines of the app; signals: apis-value frames), summed over the subscribers. */
  frames: number;
  /** Per subscriber (signals). */
  framesEach: number[];
  /** console_dropped counts announced. */
  dropped: number;
  /** Epoch ms of the first and the last frame that counted (0 before the first). */
  first: number;
  last: number;
  /** Signals: [arrival epoch ms, Vehicle.Speed value] of every frame carrying it. */
  speeds: Array<[number, number]>;
  /** The subscriber thread's own event-loop delay over the window, ms (p99, max). */
  loopP99Ms: number;
  loopMaxMs: number;
}

export interface SubscriberThread {
  /** Zero the counts (the start of a measuring window). */
  reset(): Promise<void>;
  stats(): Promise<SubscriberStats>;
  close(): Promise<void>;
}

const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const { monitorEventLoopDelay, performance } = require('node:perf_hooks');
const WebSocket = require(workerData.wsModule);
const { url, n, frame, kind, tag } = workerData;
const SPEED_RE = /"Vehicle\\.Speed":(\\d+(?:\\.\\d+)?)/;
const now = () => performance.timeOrigin + performance.now();
const loop = monitorEventLoopDelay({ resolution: 10 });
loop.enable();
let s;
const reset = () => { s = { frames: 0, framesEach: new Array(n).fill(0), dropped: 0, first: 0, last: 0, speeds: [] }; loop.reset(); };
reset();
const sockets = [];
function subscribe(i) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    sockets.push(ws);
    const id = 'bench-sub-' + i;
    let subscribed = false;
    ws.on('error', (e) => { if (!subscribed) reject(e); });
    ws.on('open', () => ws.send(JSON.stringify({ ...frame, id })));
    ws.on('message', (d) => {
      const text = d.toString();
      if (!subscribed) {
        if (text.includes('"id":"' + id + '"')) { subscribed = true; resolve(JSON.parse(text)); }
        return;
      }
      if (kind === 'console') {
        if (!text.includes(tag)) return;
        if (text.includes('"console_output"') && text.includes('"stream":"stdout"') && !text.includes('"output":"[sdv-agent] ')) {
          const t = now(); if (s.frames++ === 0) s.first = t; s.last = t;
        } else if (text.includes('"console_dropped"')) s.dropped += Number((/"count":(\\d+)/.exec(text) || [])[1] || 0);
        return;
      }
      if (!text.includes('"apis-value"')) return;
      const t = now();
      s.frames++; s.framesEach[i]++;
      if (s.first === 0) s.first = t;
      s.last = t;
      const m = SPEED_RE.exec(text);
      if (m) s.speeds.push([t, Number(m[1])]);
    });
  });
}
(async () => {
  const replies = [];
  for (let i = 0; i < n; i++) replies.push(await subscribe(i));
  parentPort.postMessage({ ready: replies });
})().catch((e) => parentPort.postMessage({ failed: String(e && e.message || e) }));
parentPort.on('message', (m) => {
  if (m === 'reset') { reset(); parentPort.postMessage({ done: 'reset' }); }
  else if (m === 'stats') {
    const ms = (ns) => Math.round(ns / 1e4) / 100;
    parentPort.postMessage({ stats: { ...s, loopP99Ms: ms(loop.percentile(99)), loopMaxMs: ms(loop.max) } });
  } else if (m === 'close') {
    for (const ws of sockets) ws.terminate();
    loop.disable();
    parentPort.close();
  }
});
`;

/**
 * n subscribers sending `frame` (with an id of their own) on a worker thread; resolves once every one is subscribed.
 * kind console: counts the stdout console_output lines of the app whose `"appId":"…"` is `tag`; kind signals: counts
 * apis-value frames and records when each Vehicle.Speed value arrived. A reply that says the command is not in this
 * build becomes a Skip.
 */
export async function subscriberThread(url: string, n: number, frame: Record<string, unknown>, kind: 'console' | 'signals', tag = ''): Promise<SubscriberThread> {
  const w = new Worker(WORKER, { eval: true, workerData: { url, n, frame, kind, tag, wsModule: path.join(ROOT, 'node_modules', 'ws') } });
  const next = <T>(key: string): Promise<T> => new Promise((resolve, reject) => {
    const onMsg = (m: Record<string, unknown>) => {
      if (m.failed) { off(); reject(new Error(`subscriber thread: ${String(m.failed)}`)); return; }
      if (key in m) { off(); resolve(m[key] as T); }
    };
    const onErr = (e: Error) => { off(); reject(e); };
    const off = () => { w.off('message', onMsg); w.off('error', onErr); };
    w.on('message', onMsg);
    w.on('error', onErr);
  });
  const close = async () => { w.postMessage('close'); await w.terminate(); };
  try {
    const replies = await next<Array<Record<string, unknown>>>('ready');
    const bad = replies.find((r) => r.type === 'error');
    if (bad) {
      const text = JSON.stringify(bad);
      if (/unknown|not available|UNAVAILABLE|unsupported/i.test(text)) throw new Skip(`${String(frame.type)} not available: ${text.slice(0, 200)}`);
      throw new Error(`${String(frame.type)} failed: ${text.slice(0, 300)}`);
    }
  } catch (e) { await close(); throw e; }
  return {
    reset: async () => { const p = next('done'); w.postMessage('reset'); await p; },
    stats: async () => { const p = next<SubscriberStats>('stats'); w.postMessage('stats'); return p; },
    close,
  };
}
