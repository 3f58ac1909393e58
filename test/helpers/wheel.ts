// A minimal valid wheel (a zip with a dist-info folder), written by Python's zipfile: installs with no network.
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';

/** Writes <dist>-<version>-py3-none-any.whl into dir; `files` maps paths inside the wheel to their text. Returns its path. */
export function buildWheel(dir: string, dist: string, version: string, files: Record<string, string>): string {
  const info = `${dist}-${version}.dist-info`;
  const all: Record<string, string> = {
    ...files,
    [`${info}/METADATA`]: `Metadata-Version: 2.1\nName: ${dist.replace(/_/g, '-')}\nVersion: ${version}\n\n`,
    [`${info}/WHEEL`]: 'Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n',
  };
  all[`${info}/RECORD`] = Object.keys(all).map((n) => `${n},,\n`).join('') + `${info}/RECORD,,\n`;
  const file = path.join(dir, `${dist}-${version}-py3-none-any.whl`);
  const script = 'import json, sys, zipfile\nz = zipfile.ZipFile(sys.argv[1], "w")\nfor n, c in json.loads(sys.argv[2]).items(): z.writestr(n, c)\nz.close()\n';
  execFileSync('python3', ['-c', script, file, JSON.stringify(all)]);
  return file;
}
