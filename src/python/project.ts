// A multi-file Python project (project-tree.ts) made ready to run: unpacked into its folder, its requirements.txt
// installed into the folder's own `.python-packages` (PROJECT_PACKAGES_FOLDER; appEnv puts it first on PYTHONPATH),
// pip's lines streamed to whoever asked.
//
// The entry point rule: `main.py` at the project's root, run with the root as its working folder, so its sibling
// modules and sub-packages import as they do in the editor. The root is the one top folder when the tree is one
// folder (the frontend's "Python Multiple Files" template: `python-project/`), else the tree's top level. A project
// without a root main.py is refused, naming the root's .py files.
//
// requirements.txt: one requirement a line (`#` comments and blank lines skipped), each checked by requirement.ts
// (names and version constraints only: no options, URLs or paths); pip runs as apps.runAs with --target into the
// project's folder, never the box's packages.dir. A file that cannot be read that way, or an install that fails, is
// said in one `Warning:` line and the program starts without it: not fatal, unless the program then fails.
import { cryptoModule } from '../core/crypto-module';
import fs = require('node:fs');
import path = require('node:path');
import type { Config } from '../config';
import type { Logger } from '../log';
import type { RunAs } from '../user-code/run-as';
import { handOverTree, removeUserTree } from '../user-code/user-files';
import { PackageInstaller } from './installer';
import { parseRequirement, MAX_REQUIREMENTS, type Requirement } from './requirement';
import { atRoot, describeProject, fileAt, parseProject, ProjectRefused, writeProject, type ProjectTree } from '../user-code/project-tree';
import { PROJECT_PACKAGES_FOLDER } from '../user-code/python-folders';

export const PYTHON_ENTRY = 'main.py';
const REQUIREMENTS = 'requirements.txt';

/** Throws ProjectRefused when the tree has no entry point. */
export function checkPythonEntry(tree: ProjectTree): void {
  if (fileAt(tree, PYTHON_ENTRY)) return;
  const where = tree.topFolder ? `${tree.topFolder}/` : '';
  const py = tree.files.filter((f) => f.path[f.path.length - 1]!.endsWith('.py')).slice(0, 5).map((f) => f.path.join('/'));
  throw new ProjectRefused(`project ${where}: no ${PYTHON_ENTRY} at the project's root; the entry point is ${where}${PYTHON_ENTRY}${py.length ? ` (the project holds ${py.join(', ')})` : ''}`);
}

/**
 * The project a python program's code is, or null when it is source code. Throws ProjectRefused with the line to show
 * (`project: …` for a tree that cannot be written, `project <top>/: no main.py …` for one without its entry point).
 */
export function readPythonProject(code: string, maxBytes: number): ProjectTree | null {
  let tree: ProjectTree | null;
  try { tree = parseProject(code, maxBytes); } catch (e) {
    if (e instanceof ProjectRefused) throw new ProjectRefused(`project: ${e.message}`);
    throw e;
  }
  if (tree && atRoot(tree, PROJECT_PACKAGES_FOLDER)) {
    throw new ProjectRefused(`project: ${PROJECT_PACKAGES_FOLDER}: this name at the project's root is where the agent installs requirements.txt; rename it`);
  }
  if (tree) checkPythonEntry(tree);
  return tree;
}

/** The line a run's log starts with. */
export function projectLine(tree: ProjectTree): string {
  return `[sdv-agent] project ${describeProject(tree)}`;
}

/**
 * Writes the tree into `folder` (fresh, the agent's, empty) and makes its packages folder; the caller hands the
 * folder to apps.runAs (handOverTree) once all is in it. Throws on a storage failure.
 */
export function unpackPythonProject(tree: ProjectTree, folder: string): void {
  writeProject(tree, folder);
  fs.mkdirSync(path.join(folder, PROJECT_PACKAGES_FOLDER), { mode: 0o700 });
}

/** The requirements of the project's requirements.txt; null when it has none; throws Error with the reason. */
export function projectRequirements(tree: ProjectTree): Requirement[] | null {
  const file = fileAt(tree, REQUIREMENTS);
  if (!file) return null;
  const reqs: Requirement[] = [];
  for (const raw of file.content.toString('utf8').split(/\r?\n/)) {
    const line = raw.replace(/(^|\s)#.*$/, '').trim();
    if (!line) continue;
    if (reqs.length >= MAX_REQUIREMENTS) throw new Error(`more than ${MAX_REQUIREMENTS} requirements`);
    reqs.push(parseRequirement(line));
  }
  return reqs.length ? reqs : null;
}

/**
 * Installs the project's requirements.txt into `folder`/.python-packages; `say` gets whole lines (pip's and the
 * agent's). Never throws: a failure is one Warning line. `where` names the folder for the user ("the run's folder").
 */
export async function installProjectRequirements(config: Config, log: Logger, runAs: RunAs | null, tree: ProjectTree, folder: string, where: string, say: (line: string) => void): Promise<void> {
  let reqs: Requirement[] | null;
  try { reqs = projectRequirements(tree); } catch (e) {
    say(`Warning: requirements.txt not installed: ${(e as Error).message}; ${PYTHON_ENTRY} starts without it`);
    return;
  }
  if (!reqs) return;
  say(`[sdv-agent] installing requirements.txt (${reqs.map((r) => r.text).join(', ')}) into ${where}`);
  // pip's working folder: an empty one of the agent's beside the project's (in dataDir/runs or dataDir/apps).
  const cwd = path.join(path.dirname(folder), `.${path.basename(folder)}.pip-cwd`);
  const installer = new PackageInstaller(config, log, runAs, { dir: path.join(folder, PROJECT_PACKAGES_FOLDER), cwd });
  let partial = '';
  const lines = (text: string) => {
    partial += text.replace(/\r\n?/g, '\n');
    const cut = partial.lastIndexOf('\n');
    if (cut < 0) return;
    for (const l of partial.slice(0, cut).split('\n')) if (l.trim()) say(l);
    partial = partial.slice(cut + 1);
  };
  try {
    await installer.install(reqs, lines);
    if (partial.trim()) say(partial);
  } catch (e) {
    if (partial.trim()) say(partial);
    say(`Warning: requirements.txt not installed: ${(e as Error).message}; ${PYTHON_ENTRY} starts without it`);
  } finally {
    await removeUserTree(null, cwd);
  }
}

/**
 * A deployed project: unpacked and its requirements installed in a fresh folder beside the app folders
 * (dataDir/apps/.<appId>.staging-…, the agent's folder, handed to apps.runAs), which replaces the app's folder when
 * the deploy installs it (app-folders.ts writeAppCode): what a previous deploy left in the app's folder goes with it.
 * Returns the folder; the caller removes it if the deploy never takes it.
 */
export async function stagePythonProject(config: Config, log: Logger, runAs: RunAs | null, tree: ProjectTree, appsRoot: string, appId: string, say: (line: string) => void): Promise<string> {
  fs.mkdirSync(appsRoot, { recursive: true, mode: 0o700 });
  const folder = path.join(appsRoot, `.${appId}.staging-${cryptoModule().randomBytes(4).toString('hex')}`);
  fs.mkdirSync(folder, { mode: 0o700 });
  try {
    unpackPythonProject(tree, folder);
    handOverTree(runAs, folder);
  } catch (e) {
    await removeUserTree(runAs, folder);
    throw e;
  }
  await installProjectRequirements(config, log, runAs, tree, folder, 'the app\'s folder', say);
  return folder;
}

/** Puts a staged project in place of the app's folder (both in dataDir/apps, which only the agent changes). */
export function replaceWithProject(runAs: RunAs | null, folder: string, staged: string): void {
  let old: string | null = null;
  if (fs.existsSync(folder)) {
    old = path.join(path.dirname(folder), `.${path.basename(folder)}.old-${cryptoModule().randomBytes(4).toString('hex')}`);
    fs.renameSync(folder, old);
  }
  fs.renameSync(staged, folder);
  if (old) void removeUserTree(runAs, old);
}
