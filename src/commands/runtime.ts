// Commands about the agent itself: ping, get_runtime_info.
import { getHeapStatistics } from 'node:v8';
import { CAPABILITIES } from '../capabilities';
import { uptimeS, type Parts } from '../parts';
import type { Frame } from '../core/frame';
import type { Command } from './types';

/** The agent's own fields, shared by get_runtime_info, health and the Kit-Manager's get-runtime-info. */
export function runtimeInfo(parts: Parts): Frame {
  const { runtime, status } = parts;
  const mem = process.memoryUsage();
  return {
    runtimeId: runtime.runtimeId,
    kitId: runtime.kitId,
    name: runtime.name,
    version: runtime.version,
    capabilities: CAPABILITIES,
    uptimeS: uptimeS(parts),
    node: process.version,
    pid: process.pid,
    rssBytes: mem.rss,
    // The V8 heap and what it holds outside (Buffers), beside rssBytes: where the agent's own memory is; and the heap's
    // limit, which the binary and the unit set for a box (docs/operations.md, "Heap limit") and a check reads back.
    memory: {
      heapUsedBytes: mem.heapUsed, heapTotalBytes: mem.heapTotal, externalBytes: mem.external, arrayBuffersBytes: mem.arrayBuffers,
      heapSizeLimitBytes: getHeapStatistics().heap_size_limit,
    },
    kitManagerConnected: status.kitManager.connected,
    kuksaConnected: status.kuksa.connected,
    kuksa: { mode: status.kuksa.mode, address: status.kuksa.address, api: status.kuksa.api },
    mqtt: parts.mqtt.status(),
    python: parts.python.info(),
    notices: runtime.notices,
    // App counts and each app's cpu % / rss bytes.
    apps: { ...parts.apps.counts(), usage: parts.apps.list().map((a) => ({ id: a.id, status: a.status, cpu: a.cpu, memory: a.memory })) },
  };
}

export const runtimeCommands: Record<string, Command> = {
  ping: { responseType: 'pong', handler: () => ({}) },
  // Both at the top level (the seed's clients) and under `result` (clients that read the reply's result object).
  get_runtime_info: { handler: (ctx) => { const info = runtimeInfo(ctx.parts); return { ...info, result: info }; } },
};
