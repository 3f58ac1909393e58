// How a deployed app is started: the program and arguments of each app type, in the environment every user program
// gets (user-code/app-env.ts). The supervisor decides when; this file decides how.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Config } from '../config';
import { appEnv, serviceAddresses } from '../user-code/app-env';
import { unavailable } from '../core/errors';
import type { SpawnSpec } from './process';
import { asUser, letPass, type RunAs } from '../user-code/run-as';
import type { AppRecord } from './store';

/** A deployed app's process; throws when it cannot be started (missing executable, no docker). */
export function appSpawnSpec(rec: AppRecord, folder: string, config: Config, runAs: RunAs | null, fifoDir = folder, addresses = serviceAddresses(config)): SpawnSpec {
  const { apps } = config;
  const env = { ...appEnv(config, folder, runAs, rec.config.env, addresses), SDV_APP_ID: rec.id };
  let file: string;
  let args: string[];
  switch (rec.type) {
    case 'python':
      file = apps.python; args = ['-u', 'main.py'];
      break;
    case 'binary': case 'kuksa-server': {
      file = rec.config.path ?? path.join(folder, 'app.bin');
      if (!fs.existsSync(file)) throw new Error(`executable ${file} does not exist`);
      args = rec.config.args;
      break;
    }
    case 'docker':
      if (!onPath(apps.docker)) throw unavailable('docker is not available on this box');
      file = apps.docker;
      args = ['run', '--rm', '--init', '--name', rec.id, '--network', 'host'];
      for (const [k, v] of Object.entries(env)) if (k.startsWith('SDV_') || k.startsWith('KUKSA_') || k in rec.config.env) args.push('-e', `${k}=${v}`);
      args.push(rec.config.image ?? '', ...rec.config.args);
      break;
    default:
      throw new Error(`type ${rec.type} has no process`);
  }
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

/** True when `cmd` is an executable path, or found on PATH. */
export function onPath(cmd: string): boolean {
  const isExec = (p: string) => { try { fs.accessSync(p, fs.constants.X_OK); return fs.statSync(p).isFile(); } catch { return false; } };
  if (cmd.includes('/')) return isExec(cmd);
  return (process.env.PATH ?? '').split(':').some((d) => d && isExec(path.join(d, cmd)));
}
