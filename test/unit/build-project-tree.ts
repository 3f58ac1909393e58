// src/build/project-tree.ts: the playground's JSON file tree, every name and bound checked before anything is written.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { badName, hasFile, isProjectTree, parseTree, TreeError, writeTree, type TreeLimits } from '../../src/build/project-tree';
import { tmpDir } from '../helpers/scope';

const file = (name: unknown, content: unknown = '', extra: Record<string, unknown> = {}) => ({ type: 'file', name, content, ...extra });
const folder = (name: unknown, items: unknown[]) => ({ type: 'folder', name, items });
const tree = (...items: unknown[]) => JSON.stringify(items);

t.test('isProjectTree: a JSON array, as the frontend decides', async (t) => {
  t.ok(isProjectTree(tree(file('main.cpp'))));
  t.ok(isProjectTree('  \n[]'));
  t.notOk(isProjectTree('#include <cstdio>\nint main(){}'));
  t.notOk(isProjectTree('[1, 2'), 'not JSON: plain code');
  t.notOk(isProjectTree('{"a": 1}'), 'an object is not a tree');
  t.notOk(isProjectTree('[[nodiscard]] int f(); int main(){}'), 'C++ that starts with an attribute is code');
});

t.test('one top folder is the project root; otherwise the top level is', async (t) => {
  const one = parseTree(tree(folder('cpp-project', [file('main.cpp', 'int main(){}'), folder('src', [file('util.cpp', 'x')])])));
  t.equal(one.topFolder, 'cpp-project');
  t.same(one.files.map((f) => f.segments.join('/')), ['main.cpp', 'src/util.cpp']);
  t.same(one.folders, [['src']]);
  t.equal(one.bytes, 13);
  t.ok(hasFile(one, 'main.cpp'));
  t.notOk(hasFile(one, 'util.cpp'), 'only at the path given');
  const flat = parseTree(tree(file('main.cpp'), folder('inc', [file('a.h')])));
  t.equal(flat.topFolder, '');
  t.same(flat.files.map((f) => f.segments.join('/')), ['main.cpp', 'inc/a.h']);
  const bin = parseTree(tree(file('logo.png', Buffer.from([0, 1, 2, 255]).toString('base64'), { isBase64: true })));
  t.same([...bin.files[0]!.content], [0, 1, 2, 255], 'isBase64 content is decoded');
  t.equal(parseTree(tree(file('empty.txt', undefined))).files[0]!.content.length, 0, 'a file without content is empty');
});

t.test('every name is checked: the refusal names the entry', async (t) => {
  const refused = (code: string, re: RegExp, what: string) => t.throws(() => parseTree(code), { name: 'TreeError', message: re }, what);
  refused(tree(folder('p', [file('..', 'x')])), /^p\/\.\.: a name may not be "\.\."/, '..');
  refused(tree(file('.')), /a name may not be "\."/, '.');
  refused(tree(folder('p', [folder('src', [file('../../etc/passwd')])])), /^p\/src\/\.\.\/\.\.\/etc\/passwd: a name may not contain "\/"/, 'a path in a name');
  refused(tree(file('/etc/passwd')), /an absolute path is not a name/, 'absolute');
  refused(tree(file('a\\b')), /may not contain "\/" or "\\"/, 'backslash');
  refused(tree(file('a\u0000b')), /NUL/, 'NUL');
  refused(tree(file('a\nb')), /control characters/, 'newline');
  refused(tree(file('')), /non-empty string/, 'empty');
  refused(tree(file(42)), /non-empty string/, 'not a string');
  refused(tree(file('x'.repeat(256))), /at most 255 bytes/, 'too long');
  refused(tree(file('a.cpp'), file('a.cpp')), /a\.cpp: appears twice/, 'twice');
  refused(tree(file('a'), folder('a', [])), /appears twice/, 'a file and a folder of one name');
  refused(tree({ type: 'link', name: 'l', target: '/etc' }), /"type" must be "file" or "folder"/, 'another type');
  refused(tree(folder('p', [folder('q', 'x' as unknown as unknown[])])), /p\/q: a folder needs "items"/, 'items not an array');
  refused(tree(file('a', { text: 1 })), /"content" must be a string/, 'content not a string');
  refused(tree(file('a', 'not base64!', { isBase64: true })), /not base64/, 'bad base64');
  refused(tree(folder('..', [file('a')])), /top folder "\.\.": a name may not be "\.\."/, 'the top folder too');
  refused('{"type":"file"}', /must be a JSON array/, 'not an array');
  refused('[1,', /not valid JSON/, 'not JSON');
  refused(tree(null), /every entry must be an object/, 'null entry');
  t.equal(badName('main.cpp'), null);
  t.equal(badName('-fplugin=x.cpp'), null, 'a leading "-" is a name (tools get absolute paths)');
});

t.test('depth, entries and bytes are bounded', async (t) => {
  const limits: TreeLimits = { maxDepth: 3, maxEntries: 5, maxBytes: 10, maxNameBytes: 255 };
  let deep: unknown = file('leaf');
  for (let i = 0; i < 4; i++) deep = folder(`d${i}`, [deep]);
  t.throws(() => parseTree(tree(file('x'), deep), limits), { message: /nested deeper than 3/ });
  t.doesNotThrow(() => parseTree(tree(folder('a', [folder('b', [folder('c', [file('f')])])])), limits), 'depth 3 is allowed');
  t.throws(() => parseTree(tree(...[1, 2, 3, 4, 5, 6].map((i) => file(`f${i}`))), limits), { message: /more than 5 files and folders/ });
  t.throws(() => parseTree(tree(file('a', '123456'), file('b', '12345')), limits), { message: /more than 10 bytes/ });
  t.ok(new TreeError('x') instanceof Error);
});

t.test('writeTree writes the checked tree, folders 0700 and files 0600, nothing outside', async (t) => {
  const dir = tmpDir(t, 'tree-');
  const p = parseTree(tree(folder('proj', [file('main.cpp', 'int main(){}'), folder('src', [file('util.cpp', 'int f();'), folder('deep', [file('x.h', '#pragma once')])])])));
  const made = writeTree(p, dir);
  t.same(made.map((m) => path.relative(dir, m)), ['src', 'src/deep', 'main.cpp', 'src/util.cpp', 'src/deep/x.h']);
  t.equal(fs.readFileSync(path.join(dir, 'src', 'deep', 'x.h'), 'utf8'), '#pragma once');
  t.equal(fs.statSync(path.join(dir, 'src')).mode & 0o777, 0o700);
  t.equal(fs.statSync(path.join(dir, 'main.cpp')).mode & 0o777, 0o600);
  t.same(fs.readdirSync(dir).sort(), ['main.cpp', 'src']);
  t.throws(() => writeTree(p, dir), { code: 'EEXIST' }, 'never over what is there');
});
