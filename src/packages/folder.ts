// The agent's python-packages folder (packages.dir, default dataDir/python-packages), named in one place: pip installs
// into it (installer.ts), it is first on every user program's PYTHONPATH (spawn-spec.ts), and the agent writes the
// generated `vehicle` model and the `sdv` alias into it.
import * as fs from 'node:fs';
import type { Config } from '../config';
import { handOver, type RunAs } from '../apps/run-as';

export function pythonPackagesDir(config: Config): string {
  return config.packages.dir;
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
