// Memory-reducing collections once the agent has settled after its start. Start-up makes garbage (the VSS model
// parsed, the Python vehicle package checked, the protos loaded) that grows V8's committed heap, and nothing tells V8
// the agent then goes idle: without a collection the idle agent keeps ~12 MB of anonymous memory it no longer uses
// (bench/README.md, "Where the memory goes"). No command-line flag is needed: --expose-gc set at run time installs gc()
// in contexts made afterwards, so a new vm context hands it over, and the flag is taken back at once (no other context
// gets it).
//
// Two collections, a few seconds apart: V8 gives the young generation's pages back after a "last-resort" (memory-
// reducing) collection on Node 24, but on Node 20 only after a collection that sees a low allocation rate since the one
// before it. The first collection also ends the window that holds start-up's allocations (and the vm context's), so
// the second, on an idle agent, finds the rate low. bench/README.md has the variants tried.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** What a settle did: V8 heap committed and process RSS, in bytes, before the first and after the second collection. */
export interface HeapSettled { heapTotalBefore: number; heapTotalAfter: number; rssBefore: number; rssAfter: number; gcMs: number }

type Gc = (options?: { type: 'major'; execution: 'sync'; flavor: 'last-resort' }) => void;

/** V8's gc(), without --expose-gc on the command line. */
function exposedGc(): Gc {
  setFlagsFromString('--expose-gc');
  try { return runInNewContext('gc') as Gc; } finally { setFlagsFromString('--no-expose-gc'); }
}

/**
 * Settles the heap `afterMs` from now, and again `gapMs` later, on timers that keep no process alive. The collections
 * block the event loop (50-160 ms in all on the idle agent here), so they run well after the start's replies, never on
 * a request's path. Returns the cancel.
 */
export function settleHeapLater(afterMs: number, gapMs: number, done: (r: HeapSettled) => void): () => void {
  let timer = setTimeout(() => {
    const before = process.memoryUsage();
    const gc = exposedGc();
    let t0 = performance.now();
    // full and synchronous; "last-resort": memory-reducing (several mark-compacts) where the V8 knows the flavour
    gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
    let gcMs = performance.now() - t0;
    timer = setTimeout(() => {
      t0 = performance.now();
      gc(); // one full collection: what it must see is the low allocation rate since the first
      gcMs += performance.now() - t0;
      const after = process.memoryUsage();
      done({ heapTotalBefore: before.heapTotal, heapTotalAfter: after.heapTotal, rssBefore: before.rss, rssAfter: after.rss, gcMs });
    }, gapMs);
    timer.unref();
  }, afterMs);
  timer.unref();
  return () => clearTimeout(timer);
}
