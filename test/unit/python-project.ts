// src/python/project.ts readPythonProject: a Python project's own rules on top of the tree's (user-code/project-tree.ts):
// main.py at the root, and `.python-packages` at the root kept for its requirements; each refusal the run's one line.
import t from 'tap';
import { readPythonProject } from '../../src/python/project';

const MAX = 5 * 1024 * 1024;
const file = (name: string, content = '') => ({ type: 'file', name, content });
const folder = (name: string, items: unknown[]) => ({ type: 'folder', name, items });
const read = (tree: unknown) => readPythonProject(JSON.stringify(tree), MAX);

t.test('source code is not a project; a tree with main.py at its root is', async (t) => {
  t.equal(readPythonProject('print(1)\n', MAX), null);
  t.same(read([folder('python-project', [file('main.py', 'print(1)\n')])])!.files.map((f) => f.path), [['main.py']]);
});

t.test('refusals say "project:" and name the node', async (t) => {
  t.throws(() => read([file('main.py'), file('../x.py')]), { name: 'ProjectRefused', message: /^project: .*"\.\.\/x\.py" holds a path separator/ });
  t.throws(() => read([folder('p', [file('app.py')])]), { message: /^project p\/: no main\.py at the project's root; the entry point is p\/main\.py \(the project holds app\.py\)/ });
  for (const reserved of [file('.python-packages'), folder('.python-packages', [])]) {
    t.throws(() => read([file('main.py'), reserved]), { message: /^project: \.python-packages: this name at the project's root is where the agent installs requirements\.txt; rename it$/ }, `a ${reserved.type}`);
  }
  t.ok(read([file('main.py'), folder('pkg', [file('.python-packages')])]), 'below the root it is a name like any other');
});
