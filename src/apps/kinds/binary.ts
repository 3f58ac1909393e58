// The `binary` kind: config.path (an absolute path on the box) with config.args, or `code`, the executable in base64,
// stored as app.bin (0700). kuksa-server.ts is this kind with another name and no rlimits.
import fs = require('node:fs');
import path = require('node:path');
import { badRequest } from '../../core/errors';
import { writeUserFile } from '../../user-code/user-files';
import type { AppKind, KindConfig, KindSpawn } from './kind';

export const EXECUTABLE_FILE = 'app.bin';

/** A kind whose program is an executable: its own path on the box, or the one the deploy sent. */
export function executableKind(name: string): AppKind {
  return {
    name,
    code: 'executable',
    files: [EXECUTABLE_FILE],
    checkConfig(config: KindConfig, hasCode: boolean): void {
      if (config.path === undefined && !hasCode) {
        throw badRequest(`prototype: a ${name} app needs config.path (an executable on the box) or code (the executable, base64)`);
      }
    },
    install(folder, runAs, code): void {
      if (code) writeUserFile(runAs, path.join(folder, EXECUTABLE_FILE), Buffer.from(code, 'base64'), 0o700);
    },
    service: false,
    spawn({ config, folder }: KindSpawn) {
      const file = config.path ?? path.join(folder, EXECUTABLE_FILE);
      if (!fs.existsSync(file)) throw new Error(`executable ${file} does not exist`);
      return { file, args: config.args };
    },
    unavailable: () => null,
    rlimits: true,
    importHints: false,
  };
}

export const binary = executableKind('binary');
