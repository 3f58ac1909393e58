// The two Python folders every python app has on its PYTHONPATH, named in one place:
//   - packages.dir (default dataDir/python-packages), the app user's: pip installs into it (python/installer.ts) and
//     it comes first, so what a user installs wins;
//   - dataDir/python-agent, the agent's own: the generated `vehicle` package and the `sdv` alias. Only the agent writes
//     there; with apps.runAs the app user may read it (its group, 0750/0640) and change nothing. It comes right after
//     packages.dir. The agent never writes into packages.dir itself: with apps.runAs that folder is the app user's,
//     and anything in it may be swapped for a link between two of root's steps.
// A multi-file project adds a third, before both: PROJECT_PACKAGES_FOLDER at its root, where python/project.ts
// installs its requirements.txt.
import fs = require('node:fs');
import path = require('node:path');
import type { Config } from '../config';
import { handOver, type RunAs } from './run-as';

export const AGENT_PYTHON_FOLDER = 'python-agent';

/** A python project's folder the agent keeps for itself, at the project's root: where its requirements.txt goes. */
export const PROJECT_PACKAGES_FOLDER = '.python-packages';

export function pythonPackagesDir(config: Config): string {
  return config.packages.dir;
}

export function agentPythonDir(config: Config): string {
  return path.join(config.runtime.dataDir, AGENT_PYTHON_FOLDER);
}

/**
 * Creates the folder private to the user that runs the apps (dataDir holds tokens and code: nothing in it is for
 * others): 0700, and with apps.runAs that user's, so its programs can import from it.
 */
export function ensurePythonPackagesDir(config: Config, runAs: RunAs | null): string {
  const dir = pythonPackagesDir(config);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  handOver(runAs, dir);
  return dir;
}

/** Who may read the agent's Python folder: the agent alone (0700/0600), or with apps.runAs that user's group too. */
export interface AgentAccess { readonly dirMode: number; readonly fileMode: number; readonly uid: number; readonly gid: number | null }

export function agentAccess(runAs: RunAs | null): AgentAccess {
  const uid = process.getuid?.() ?? 0;
  return runAs ? { dirMode: 0o750, fileMode: 0o640, uid, gid: runAs.gid } : { dirMode: 0o700, fileMode: 0o600, uid, gid: null };
}

/** The access as one string, kept in the package's stamp: a package made for another apps.runAs is made again. */
export function accessTag(a: AgentAccess): string {
  return `${a.dirMode.toString(8)}/${a.fileMode.toString(8)}:${a.gid ?? '-'}`;
}

/**
 * Creates dataDir/python-agent (dataDir exists) with the access apps.runAs needs, and corrects one made for another.
 * It sits in dataDir, which the app user cannot write, so no one but the agent can put anything at its name.
 */
export function ensureAgentPythonDir(dir: string, access: AgentAccess): void {
  try { fs.mkdirSync(dir, { mode: access.dirMode }); } catch (e) { if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e; }
  const st = fs.lstatSync(dir);
  if (!st.isDirectory()) throw new Error(`${dir} is not a folder`);
  if (access.gid !== null && (st.uid !== access.uid || st.gid !== access.gid)) fs.chownSync(dir, access.uid, access.gid);
  if ((st.mode & 0o7777) !== access.dirMode) fs.chmodSync(dir, access.dirMode);
}
