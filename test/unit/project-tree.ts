// src/user-code/project-tree.ts: the frontend's project trees (Python, C++, Rust) read into checked files and folders;
// every name that could leave the project's folder refused with the node named; a tree written into a fresh folder and
// nowhere else.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t from 'tap';
import { atRoot, describeProject, fileAt, parseProject, PROJECT_LIMITS, ProjectRefused, writeProject } from '../../src/user-code/project-tree';

const MAX = 5 * 1024 * 1024;
const file = (name: string, content = '', extra: Record<string, unknown> = {}) => ({ type: 'file', name, content, ...extra });
const folder = (name: string, items: unknown[]) => ({ type: 'folder', name, items });
const parse = (tree: unknown, max = MAX) => parseProject(JSON.stringify(tree), max);

t.test('source code is not a project', async (t) => {
  for (const code of ['print("hi")\n', '', '  \n', '{"a": 1}', '[1, 2', 'import json\n[1, 2]\n', '"[]"', '#include <cstdio>\nint main(){}']) t.equal(parseProject(code, MAX), null, JSON.stringify(code));
  t.equal(parseProject('[[nodiscard]] int f(); int main(){}', MAX), null, 'C++ that starts with an attribute is code');
  t.same(parseProject('  \n[]', MAX), { folders: [], files: [], bytes: 0, topFolder: null }, 'an empty array is an empty project');
});

t.test('the backend template (one top folder) has that folder\'s contents as its root', async (t) => {
  // backend/src/config/predefinedProjectTemplates.js PYTHON_MULTI_FILES, shortened
  const tree = parse([folder('python-project', [file('README.md', '# P'), file('requirements.txt', 'requests==2.31.0'), file('main.py', 'print(1)\n')])])!;
  t.equal(tree.topFolder, 'python-project');
  t.same(tree.files.map((f) => f.path), [['README.md'], ['requirements.txt'], ['main.py']]);
  t.equal(fileAt(tree, 'main.py')?.content.toString(), 'print(1)\n');
  t.equal(describeProject(tree), 'python-project/: 3 files, 0 folders, 28 bytes');
});

t.test('several top nodes are the root; folders nest; base64 files are decoded; path fields are ignored', async (t) => {
  const tree = parse([
    file('main.py', 'import helper\n', { path: '/etc/passwd' }),
    file('helper.py', 'X = 1\n'),
    folder('pkg', [file('__init__.py'), folder('sub', [file('deep.py', 'Y = 2\n')])]),
    file('blob.bin', Buffer.from([0, 1, 2, 255]).toString('base64'), { isBase64: true }),
  ])!;
  t.equal(tree.topFolder, null);
  t.same(tree.folders, [['pkg'], ['pkg', 'sub']], 'parents before children');
  t.same(tree.files.map((f) => f.path.join('/')), ['main.py', 'helper.py', 'blob.bin', 'pkg/__init__.py', 'pkg/sub/deep.py']);
  t.same([...tree.files.find((f) => f.path[0] === 'blob.bin')!.content], [0, 1, 2, 255]);
  t.ok(fileAt(tree, 'pkg', 'sub', 'deep.py'), 'a file by its path');
  t.notOk(fileAt(tree, 'deep.py'), 'only at the path given');
  t.notOk(fileAt(tree, 'pkg'), 'a folder is not a file');
  t.ok(atRoot(tree, 'pkg') && atRoot(tree, 'main.py'), 'a folder or a file at the root');
  t.notOk(atRoot(tree, 'sub'));
  t.equal(parse([file('empty.txt', undefined)])!.files[0]!.content.length, 0, 'a file without content is empty');
  t.same(parse([folder('p', [{ type: 'folder', name: 'none' }])])!.folders, [['none']], 'a folder without items is empty');
});

t.test('a C++ or Rust tree: the one top folder is its root too', async (t) => {
  const tree = parse([folder('cpp-project', [file('CMakeLists.txt', 'project(p)'), file('main.cpp', 'int main(){}'), folder('src', [file('util.cpp', 'x')])])])!;
  t.equal(tree.topFolder, 'cpp-project');
  t.same(tree.files.map((f) => f.path.join('/')), ['CMakeLists.txt', 'main.cpp', 'src/util.cpp']);
  t.ok(fileAt(tree, 'CMakeLists.txt'));
  t.same(parse([file('.python-packages', 'x')])!.files.map((f) => f.path), [['.python-packages']], 'a name python keeps (python/project.ts) is a name like any other here');
  t.equal(parse([file('-fplugin=x.cpp')])!.files.length, 1, 'a leading "-" is a name (tools get absolute paths)');
});

t.test('refusals name the node and say why', async (t) => {
  const cases: Array<[unknown, RegExp]> = [
    [[file('../evil.py')], /"\.\.\/evil\.py" holds a path separator/],
    [[file('..')], /"\.\." is not a file or folder name/],
    [[folder('.', [])], /"\." is not a file or folder name/],
    [[file('/etc/passwd')], /path separator/],
    [[file('a\\b')], /path separator/],
    [[file('a\u0000b')], /NUL or another control character/],
    [[file('a\nb')], /control character/],
    [[file('')], /non-empty string/],
    [[{ type: 'file', content: 'x' }], /non-empty string/],
    [[file('x'.repeat(256))], /longer than 255 bytes/],
    [[file('a.py'), file('a.py')], /a\.py: two entries of this name/],
    [[file('main.py'), folder('p', [folder('..', [file('x')])])], /p: entry 1: "\.\." is not/],
    [[{ type: 'symlink', name: 'l', target: '/etc' }], /l: type "symlink" is neither/],
    [[file('f', 'x', { isBase64: true, content: 'not base64!' })], /isBase64 is set but/],
    [[{ type: 'file', name: 'f', content: 42 }], /"content" must be a string/],
    [[folder('d', 'x' as unknown as unknown[])], /"items" must be a list/],
    [[42], /entry 1 is not a \{type, name\} object/],
    [[null], /entry 1 is not a \{type, name\} object/],
    [[file('a'), folder('a', [])], /a: two entries of this name/],
    [[folder('..', [file('a')])], /the top folder: "\.\." is not a file or folder name/],
    [[folder('top', 'x' as unknown as unknown[])], /top: a folder's "items" must be a list/],
  ];
  for (const [tree, re] of cases) {
    try { parse(tree); t.fail(`${JSON.stringify(tree).slice(0, 60)} was accepted`); } catch (e) {
      t.ok(e instanceof ProjectRefused, 'a ProjectRefused');
      t.match((e as Error).message, re, (e as Error).message);
    }
  }
});

t.test('bounds: depth, entries, bytes', async (t) => {
  let deep: unknown = file('x.py');
  for (let i = 0; i < PROJECT_LIMITS.maxDepth + 1; i++) deep = folder(`d${i}`, [deep]);
  t.throws(() => parse([file('main.py'), deep]), /folders nested deeper than 16/);
  let ok: unknown = file('x.py');
  for (let i = 0; i < PROJECT_LIMITS.maxDepth; i++) ok = folder(`d${i}`, [ok]);
  t.equal(parse([file('main.py'), ok])!.folders.length, 16, 'sixteen levels are fine');
  const many = Array.from({ length: PROJECT_LIMITS.maxEntries + 1 }, (_, i) => file(`f${i}.py`));
  t.throws(() => parse(many), /more than 2000 files and folders/);
  t.throws(() => parse([file('a', 'x'.repeat(600)), file('b', 'y'.repeat(600))], 1000), /larger than 1000 bytes/);
  // A tree nested far deeper than the stack would allow a recursive reader: refused, not a crash.
  const abyss = `${'[{"type":"folder","name":"d","items":'.repeat(20000)}[]${'}]'.repeat(20000)}`;
  t.throws(() => parseProject(abyss, MAX), /nested deeper/);
});

t.test('writeProject writes inside its folder only', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'project-tree-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const root = path.join(dir, 'run');
  fs.mkdirSync(root, { mode: 0o700 });
  const tree = parse([folder('proj', [file('main.py', 'print(1)\n'), folder('pkg', [file('__init__.py', 'A = 1\n')])])])!;
  const made = writeProject(tree, root);
  t.same(made.map((m) => path.relative(root, m)), ['pkg', 'main.py', 'pkg/__init__.py'], 'every path made, folders first');
  t.same(fs.readdirSync(root).sort(), ['main.py', 'pkg']);
  t.equal(fs.readFileSync(path.join(root, 'pkg', '__init__.py'), 'utf8'), 'A = 1\n');
  t.equal(fs.statSync(path.join(root, 'pkg')).mode & 0o777, 0o700);
  t.equal(fs.statSync(path.join(root, 'main.py')).mode & 0o777, 0o600);
  t.same(fs.readdirSync(dir), ['run'], 'nothing beside the folder');
  // A file already at a name (never the case in a fresh folder) is not written through.
  fs.symlinkSync(path.join(dir, 'outside'), path.join(root, 'main2.py'));
  t.throws(() => writeProject(parse([file('main2.py', 'x')])!, root), /EEXIST/);
  t.notOk(fs.existsSync(path.join(dir, 'outside')), 'the link was not followed');
  t.throws(() => writeProject(tree, root), /EEXIST/, 'never over what is there');
});
