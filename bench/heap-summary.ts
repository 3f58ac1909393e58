// Summarises a V8 heap snapshot (.heapsnapshot, from v8.writeHeapSnapshot, --heapsnapshot-signal or the inspector) by
// constructor: self size and count of objects per constructor name (strings, code and arrays by their kind), largest
// first; given two snapshots of one process, what grew between them. A snapshot is taken after a full GC, so it shows
// what is retained, not garbage waiting for the collector: RSS that grows while these totals do not is garbage or
// native memory (compare process.memoryUsage()'s heapUsed, external and arrayBuffers over time).
//   node --import tsx bench/heap-summary.ts a.heapsnapshot [b.heapsnapshot] [--top N]
// Used to find why the build-time descriptors' agent grew under the stalled-subscriber chaos section (bench/README.md).
import * as fs from 'node:fs';

interface Row { n: number; size: number }
interface Summary { rows: Map<string, Row>; total: number; nodes: number }

export function summarise(file: string): Summary {
  const snap = JSON.parse(fs.readFileSync(file, 'utf8')) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
    nodes: number[];
    strings: string[];
  };
  const fields = snap.snapshot.meta.node_fields;
  const width = fields.length;
  const iType = fields.indexOf('type');
  const iName = fields.indexOf('name');
  const iSize = fields.indexOf('self_size');
  const types = snap.snapshot.meta.node_types[0];
  const rows = new Map<string, Row>();
  let total = 0;
  for (let i = 0; i < snap.nodes.length; i += width) {
    const type = types[snap.nodes[i + iType]!]!;
    const name = String(snap.strings[snap.nodes[i + iName]!]);
    // Objects and closures by constructor/function name; strings all together; the rest by kind and a short name.
    const key = type === 'object' || type === 'closure' || type === 'native' ? `${type}:${name}`
      : type.endsWith('string') ? type : `${type}:${name.slice(0, 40)}`;
    const size = snap.nodes[i + iSize]!;
    total += size;
    const row = rows.get(key) ?? { n: 0, size: 0 };
    row.n++;
    row.size += size;
    rows.set(key, row);
  }
  return { rows, total, nodes: snap.nodes.length / width };
}

const MiB = (b: number) => (b / 1048576).toFixed(2).padStart(8);

function main(): void {
  const args = process.argv.slice(2);
  const topAt = args.indexOf('--top');
  const top = topAt >= 0 ? Number(args.splice(topAt, 2)[1]) : 40;
  const [a, b] = args;
  if (!a) { process.stderr.write('usage: heap-summary.ts a.heapsnapshot [b.heapsnapshot] [--top N]\n'); process.exit(2); }
  const A = summarise(a);
  if (!b) {
    console.log(`${(A.total / 1048576).toFixed(1)} MB in ${A.nodes} objects`);
    for (const [k, r] of [...A.rows].sort((x, y) => y[1].size - x[1].size).slice(0, top)) console.log(`${MiB(r.size)} MB ${String(r.n).padStart(9)}  ${k}`);
    return;
  }
  const B = summarise(b);
  console.log(`${(A.total / 1048576).toFixed(1)} → ${(B.total / 1048576).toFixed(1)} MB; ${A.nodes} → ${B.nodes} objects`);
  const keys = new Set([...A.rows.keys(), ...B.rows.keys()]);
  const none = { n: 0, size: 0 };
  const diff = [...keys].map((k) => ({ k, a: A.rows.get(k) ?? none, b: B.rows.get(k) ?? none }));
  for (const d of diff.sort((x, y) => Math.abs(y.b.size - y.a.size) - Math.abs(x.b.size - x.a.size)).slice(0, top)) {
    console.log(`${MiB(d.b.size - d.a.size)} MB ${String(d.b.n - d.a.n).padStart(9)}  (now ${MiB(d.b.size).trim()} MB, ${d.b.n})  ${d.k}`);
  }
}

if (require.main === module) main();
