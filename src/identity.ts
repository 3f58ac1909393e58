// runtimeId: made once, kept in dataDir, the same across restarts.
import { cryptoModule } from './core/crypto-module';
import fs = require('node:fs');
import path = require('node:path');
import { writeFileAtomic } from './fsutil';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function loadRuntimeId(dataDir: string): string {
  const file = path.join(dataDir, 'runtime-id');
  try {
    const id = fs.readFileSync(file, 'utf8').trim();
    if (UUID.test(id)) return id;
  } catch { /* first start */ }
  const id = cryptoModule().randomUUID();
  writeFileAtomic(file, id + '\n'); // private like every dataDir file (0600)
  return id;
}
