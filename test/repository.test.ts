// What the repository itself promises: its license file is the license package.json declares, the changelog says what
// the current version brought, the supported Node lines are the ones engines admits, and the tests need nothing from
// outside the clone but what scripts/test-peers.sh sets up.
import * as fs from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import { ROOT } from './helpers/agent';

const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string; license: string; engines: { node: string } };
const read = (f: string) => fs.readFileSync(path.join(ROOT, f), 'utf8');

t.test('LICENSE is the Apache License 2.0 that package.json declares', async (t) => {
  t.equal(pkg.license, 'Apache-2.0');
  const text = read('LICENSE');
  t.match(text, /^\s*Apache License\s+Version 2\.0, January 2004/);
  t.match(text, /END OF TERMS AND CONDITIONS/);
  t.match(read('NOTICE'), /Apache License, Version 2\.0/);
});

t.test('CHANGELOG.md has an entry for the current version, newest first', async (t) => {
  const versions = [...read('CHANGELOG.md').matchAll(/^## (\d+\.\d+\.\d+) — (\d{4}-\d{2}-\d{2})$/gm)].map((m) => m[1]);
  t.equal(versions[0], pkg.version, `the first entry is ${pkg.version}`);
  const order = [...versions].sort((a, b) => b!.localeCompare(a!, undefined, { numeric: true }));
  t.same(versions, order, 'newest first');
});

t.test('engines.node admits the supported lines (22, 24) and not the ended 20', async (t) => {
  t.equal(pkg.engines.node, '>=22');
  // The binary embeds the Node 24 that scripts/build-binary.sh names, which engines must admit.
  const embedded = /^NODE_VERSION=(\d+)\./m.exec(read('scripts/build-binary.sh'))?.[1];
  t.ok(Number(embedded) >= 22, `the binary's Node ${embedded} is a supported line`);
});

t.test('no test or benchmark reads a folder outside the clone', async (t) => {
  const offenders: string[] = [];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
      const rel = path.join(dir, e.name);
      if (e.isDirectory()) { if (e.name !== 'out' && e.name !== 'node_modules') walk(rel); continue; }
      if (!/\.(ts|mjs|cjs|js)$/.test(e.name) || rel === path.join('test', 'repository.test.ts')) continue;
      // '..', 'shared' as path segments, or a string with ../shared/ in it: the sibling folder a fresh clone lacks.
      if (/['"]\.\.['"],\s*['"]shared['"]|['"`][^'"`\n]*\.\.\/shared\//.test(fs.readFileSync(path.join(ROOT, rel), 'utf8'))) offenders.push(rel);
    }
  };
  for (const d of ['test', 'bench']) walk(d);
  t.same(offenders, [], 'the peers come from .peers/ (scripts/test-peers.sh), the VSS release from resources/vss/');
});
