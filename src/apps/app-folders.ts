// The two folders of a deployed app, and the code written into the first:
//   dataDir/apps/<appId>/      the app's: code, cwd, HOME; with apps.runAs the app user's, who may put anything in it
//   dataDir/consoles/<appId>/  the agent's: console log, seq mark, stderr FIFO; the app user may pass through (0711)
//                              to open its FIFO by name, never list or write it
// The first sits in dataDir/apps, which only the agent may change, so the folder itself can be chowned safely; what
// is inside may be the app user's doing (a redeploy) and is never chowned or followed: code is written as new files.
import fs = require('node:fs');
import path = require('node:path');
import { letPass, type RunAs } from '../user-code/run-as';
import type { AppStore } from './store';
import { replaceWithProject } from '../python/project';
import { KIND_FILES, kindOf, type AppType } from './kinds';

/** Makes both folders (the agent's best effort: a read-only dataDir has none, and consoles are then not logged). */
export function makeAppFolders(store: AppStore, runAs: RunAs | null, appId: string): { folder: string; own: string } {
  const folder = store.folder(appId);
  fs.mkdirSync(folder, { recursive: true, mode: 0o700 });
  const own = store.agentFolder(appId);
  try {
    fs.mkdirSync(own, { recursive: true, mode: 0o700 });
    letPass(runAs, own);
  } catch { /* read-only dataDir */ }
  return { folder, own };
}

/** The code of a deploy, as its kind installs it (main.py, app.bin: private to the app's user); or a project's folder. */
export function writeAppCode(store: AppStore, runAs: RunAs | null, appId: string, type: AppType, code: string | undefined, projectDir?: string): void {
  const folder = store.folder(appId);
  // A multi-file project, unpacked beside it: it becomes the app's folder (src/python/project.ts).
  if (projectDir) { replaceWithProject(runAs, folder, projectDir); return; }
  fs.mkdirSync(folder, { recursive: true, mode: 0o700 });
  if (runAs && fs.lstatSync(folder).uid !== runAs.uid) fs.lchownSync(folder, runAs.uid, runAs.gid);
  // What an earlier deploy (of this kind or another) installed goes first.
  for (const f of KIND_FILES) fs.rmSync(path.join(folder, f), { force: true });
  kindOf(type).install(folder, runAs, code);
}
