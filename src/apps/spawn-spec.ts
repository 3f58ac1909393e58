// How a deployed app is started: its kind's program and arguments (apps/kinds/), in the environment every user
// program gets (user-code/app-env.ts). The supervisor decides when; this file decides how.
import fs = require('node:fs');
import os = require('node:os');
import path = require('node:path');
import type { Config } from '../config';
import { appEnv, serviceAddresses } from '../user-code/app-env';
import { unavailable } from '../core/errors';
import type { SpawnSpec } from './process';
import { asUser, letPass, type RunAs } from '../user-code/run-as';
import type { AppRecord } from './store';
import { kindOf } from './kinds';

/** A deployed app's process; throws when it cannot be started (missing executable, no docker). */
export function appSpawnSpec(rec: AppRecord, folder: string, config: Config, runAs: RunAs | null, fifoDir = folder, addresses = serviceAddresses(config)): SpawnSpec {
  const { apps } = config;
  const env = { ...appEnv(config, folder, runAs, rec.config.env, addresses), SDV_APP_ID: rec.id };
  const kind = kindOf(rec.type);
  const why = kind.unavailable(apps);
  if (why) throw unavailable(why);
  const { file, args } = kind.spawn({ id: rec.id, config: rec.config, folder, apps, env });
  return { file, args, cwd: folder, env, stderrFifo: fifoPath(fifoDir, rec.id, runAs), ...asUser(runAs) };
}

let spareFifoDir: string | null = null;

/**
 * The stderr FIFO lives in the agent's folder of the app (one the app user cannot write: the agent creates and chowns
 * it there, so no link can be planted in its place); when that cannot be written (a read-only dataDir) it goes to a
 * folder of this agent's in the temp dir, so restored apps still start. Nothing is written through a FIFO, only passed.
 */
function fifoPath(dir: string, appId: string, runAs: RunAs | null): string {
  try {
    fs.accessSync(dir, fs.constants.W_OK);
    return path.join(dir, 'stderr.fifo');
  } catch {
    spareFifoDir ??= fs.mkdtempSync(path.join(os.tmpdir(), 'sdv-agent-fifo-'));
    letPass(runAs, spareFifoDir);
    return path.join(spareFifoDir, `${appId}.stderr.fifo`);
  }
}

/** At shutdown, once no app runs: the temp-dir folder of FIFOs, if one was made, goes with the agent. */
export function removeSpareFifoDir(): void {
  if (!spareFifoDir) return;
  try { fs.rmSync(spareFifoDir, { recursive: true, force: true }); } catch { /* the temp dir's own cleaning takes it */ }
  spareFifoDir = null;
}
