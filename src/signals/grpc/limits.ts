// The bounds of the embedded gRPC server (kuksa.val v1/v2, sdv.databroker.v1), per request, per stream, per peer
// and per server, and the pattern expansion every request that names patterns goes through: patterns deduplicated,
// the work they would cause (leaves looked at, leaves named) counted from the model's indexes before any is done,
// and done in slices that yield to the event loop. A peer is one connection (the address and port grpc-js
// reports): what one client holds cannot lock the others out.
import type * as grpc from '@grpc/grpc-js';
import type { SignalStore } from '../embedded';
import { fail, S } from './status';

const MiB = 1024 * 1024;

export const GRPC_LIMITS = {
  /** One request message (grpc-js refuses larger ones RESOURCE_EXHAUSTED before any handler runs). */
  maxReceiveBytes: 4 * MiB,
  /** One reply message, a backstop behind maxReplyBytes (grpc-js ends the call RESOURCE_EXHAUSTED). */
  maxSendBytes: 16 * MiB,
  /** HTTP/2 streams a connection may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS: clients queue beyond). */
  maxConcurrentStreams: 128,
  /** Entries, ids, names or updates in one request. */
  maxEntriesPerRequest: 20_000,
  /** Signals one request's (deduplicated) patterns name, counted per pattern. */
  maxNamedPerRequest: 200_000,
  /** Leaves of the model one request's patterns make the server look at. */
  maxScannedPerRequest: 5_000_000,
  /**
   * Estimated bytes of one reply: what gRPC clients accept by default (grpc-js, grpcio and tonic refuse larger
   * messages), and what grpc-js serializes in one go without yielding.
   */
  maxReplyBytes: 4 * MiB,
  /** A stream's first message (the current values) is sent in messages of at most this many signals. */
  maxSnapshotEntries: 8192,
  /** Requests naming patterns in progress at once on one connection. */
  maxRequestsPerPeer: 8,
  maxStreams: 1024,
  maxStreamsPerPeer: 64,
  maxLeavesPerStream: 100_000,
  maxLeavesPerPeer: 200_000,
  maxLeaves: 2_000_000,
  /**
   * Terms of the sdv Subscribe queries open on one connection / on the server (a query has at most
   * QUERY_LIMITS.maxNodes): every write of a signal runs each query that reads it, so this is what one write may
   * evaluate, and what the compiled queries hold in memory.
   */
  maxQueryNodesPerPeer: 16_384,
  maxQueryNodes: 65_536,
  /** Signals sdv RegisterDatapoints may add beyond the model, from one connection / on the server, until the next model swap. */
  maxRegisteredPerPeer: 1000,
  maxRegistered: 5000,
} as const;

/** grpc-js server options for the bounds above. */
export const SERVER_OPTIONS: grpc.ServerOptions = {
  'grpc.max_receive_message_length': GRPC_LIMITS.maxReceiveBytes,
  'grpc.max_send_message_length': GRPC_LIMITS.maxSendBytes,
  'grpc.max_concurrent_streams': GRPC_LIMITS.maxConcurrentStreams,
};

/** The work of one expansion slice before it yields to the event loop. */
const SLICE_MS = 10;

/** Refuses a request with more than maxEntriesPerRequest items in `what`. */
export function checkEntries(n: number, what: string): void {
  if (n > GRPC_LIMITS.maxEntriesPerRequest) throw fail(S.RESOURCE_EXHAUSTED, `${what}: at most ${GRPC_LIMITS.maxEntriesPerRequest} in one request, got ${n}`);
}

/** Counts a reply's estimated bytes; past maxReplyBytes the request is refused. */
export class ReplyBudget {
  private bytes = 0;
  add(n: number): void {
    this.bytes += n;
    if (this.bytes > GRPC_LIMITS.maxReplyBytes) throw fail(S.RESOURCE_EXHAUSTED, `the reply would be larger than ${GRPC_LIMITS.maxReplyBytes} bytes: ask for fewer signals`);
  }
}

/** How many leaves expanding a pattern looks at (the model's index when it has one; else every leaf). */
function scanOf(store: SignalStore, pattern: string): number {
  const model = store.vss as typeof store.vss & { scanSize?: (p: string) => number };
  if (model.scanSize) return model.scanSize(pattern);
  return store.meta(pattern) ? 1 : model.size;
}

/**
 * Expands a request's patterns: each distinct pattern once, its leaves (null = names nothing). Refused
 * RESOURCE_EXHAUSTED, before the work, when the patterns would look at more than maxScannedPerRequest leaves, and
 * as soon as they name more than maxNamedPerRequest signals. Yields to the event loop every SLICE_MS.
 */
export async function expandBounded(store: SignalStore, patterns: readonly string[]): Promise<Map<string, string[] | null>> {
  const unique = [...new Set(patterns)];
  let scan = 0;
  for (const p of unique) scan += scanOf(store, p);
  if (scan > GRPC_LIMITS.maxScannedPerRequest) {
    throw fail(S.RESOURCE_EXHAUSTED, `these ${unique.length} patterns would look at ${scan} signals of the model (more than ${GRPC_LIMITS.maxScannedPerRequest}): ask for fewer or narrower patterns`);
  }
  const out = new Map<string, string[] | null>();
  let named = 0;
  const slicer = new Slicer();
  for (const p of unique) {
    if (slicer.due()) await slicer.pause();
    const paths = store.expand(p);
    named += paths?.length ?? 0;
    if (named > GRPC_LIMITS.maxNamedPerRequest) throw fail(S.RESOURCE_EXHAUSTED, `these patterns name more than ${GRPC_LIMITS.maxNamedPerRequest} signals: ask for fewer or narrower patterns`);
    out.set(p, paths);
  }
  return out;
}

/** Work in slices: `if (slicer.due()) await slicer.pause();` in loops over many entries. */
export class Slicer {
  private t = performance.now();
  private n = 0;
  /** True when the current slice has run SLICE_MS (the clock is read every 256 calls). */
  due(): boolean { return (++this.n & 255) === 0 && performance.now() - this.t > SLICE_MS; }
  async pause(): Promise<void> { await new Promise((r) => setImmediate(r)); this.t = performance.now(); }
}

/** Splits a stream's first message into messages of at most maxSnapshotEntries signals. */
export function* chunks<T>(items: readonly T[]): Generator<T[]> {
  for (let i = 0; i < items.length || i === 0; i += GRPC_LIMITS.maxSnapshotEntries) yield items.slice(i, i + GRPC_LIMITS.maxSnapshotEntries);
}
