// The agent's python-packages folder (packages.dir, default dataDir/python-packages), named in one place: pip installs
// into it (installer.ts), it is first on every user program's PYTHONPATH (spawn-spec.ts), and the agent writes the
// generated `vehicle` model and the `sdv` alias into it.
import type { Config } from '../config';

export function pythonPackagesDir(config: Config): string {
  return config.packages.dir;
}
