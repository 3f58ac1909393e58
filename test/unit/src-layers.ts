// The layering of src/: no two top-level folders import each other (core/ imports none of them), so each folder can
// be read and changed knowing only what is below it. The files at src/'s root are the composition (agent.ts,
// parts.ts) and the shared leaves (config, log), not a folder. Reads the import lines of every file.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';

const SRC = path.join(__dirname, '..', '..', 'src');

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sources(p) : e.name.endsWith('.ts') ? [p] : [];
  });
}

/** The top-level folder of a file under src/, or null for a file at src/'s root. */
const folderOf = (file: string): string | null => {
  const parts = path.relative(SRC, file).split(path.sep);
  return parts.length > 1 ? parts[0]! : null;
};

t.test('no two top-level folders of src/ import each other; core/ imports none', async (t) => {
  const edges = new Map<string, string>(); // "a -> b" → one importing file, for the message
  for (const file of sources(SRC)) {
    const from = folderOf(file);
    if (!from) continue;
    // Static imports, and what is loaded on first use: import('./x') and require('./x').
    for (const m of fs.readFileSync(file, 'utf8').matchAll(/^(?:import|export)[^;]*?from\s+'(\.[^']+)'|\b(?:import|require)\('(\.[^']+)'\)/gm)) {
      const to = folderOf(path.resolve(path.dirname(file), (m[1] ?? m[2])!));
      if (to && to !== from && !edges.has(`${from} -> ${to}`)) edges.set(`${from} -> ${to}`, path.relative(SRC, file));
    }
  }
  t.ok(edges.size > 5, `imports between folders were read (${edges.size})`);
  const mutual = [...edges.keys()].filter((k) => { const [a, b] = k.split(' -> '); return edges.has(`${b} -> ${a}`); });
  t.same(mutual.map((k) => `${k} (${edges.get(k)})`), [], 'no pair of folders imports each other');
  t.same([...edges.keys()].filter((k) => k.startsWith('core -> ')), [], 'core/ imports no other folder');
});
