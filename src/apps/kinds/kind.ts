// What an app kind is (the model: Ankaios' runtime connectors, one per workload kind behind one interface): how a
// deploy's config of the kind is checked, how its code is installed into the app's folder, how its process is
// spawned (or that it is a service, no process of its own), and whether it can run on this box. One file per kind in
// this folder, one line per kind in the map (index.ts); deployed apps and ad-hoc runs both read it.
// Kinds import nothing of apps/ outside this folder but the console's type: the store, registry and supervisor import
// the map, not the other way round.
import fs = require('node:fs');
import path = require('node:path');
import type { Config } from '../../config';
import type { RunAs } from '../../user-code/run-as';
import type { AppConsole } from '../console';

/** The part of an app's config a kind reads (store.ts's AppConfig is one; an ad-hoc run makes its own). */
export interface KindConfig {
  /** binary / kuksa-server: the executable (absolute path on the box, or the stored `code`). */
  path?: string;
  args: string[];
  env: Record<string, string>;
  /** docker: the image. */
  image?: string;
  /** What the config carried beyond the fields every kind shares (mock-service's settings). */
  extra: Record<string, unknown>;
}

/** What a spawn needs to know: the app (its id and config), its folder, the agent's apps settings, the environment. */
export interface KindSpawn {
  id: string;
  config: KindConfig;
  folder: string;
  apps: Config['apps'];
  /** The environment the process gets (user-code/app-env.ts, SDV_APP_ID): a container passes its part on. */
  env: Record<string, string>;
}

/** The program and arguments of a kind's process, run in the app's folder. */
export interface KindLaunch { file: string; args: string[] }

export interface AppKind {
  readonly name: string;
  /**
   * What a deploy's `code` is to the kind: its `source` (stored as text), an `executable` in base64 (checked as such;
   * or config.path instead), or `unused` (bounded by apps.maxCodeBytes as text, not stored).
   */
  readonly code: 'source' | 'executable' | 'unused';
  /** The files `install` may write into the app's folder: a redeploy (of any kind) removes them first. */
  readonly files: readonly string[];
  /**
   * The kind's own part of a deploy, checked once the fields every kind shares were read (`hasCode`: the deploy
   * carries code: python's source is required, a binary needs code or config.path); throws BAD_REQUEST naming the field.
   */
  checkConfig(config: KindConfig, hasCode: boolean): void;
  /** Writes the code into the app's folder as `runAs`'s private files (user-code/user-files.ts). */
  install(folder: string, runAs: RunAs | null, code: string | undefined): void;
  /** No process of its own: run/stop call the service hook plugged in for it (AppSupervisor.setServiceHook). */
  readonly service: boolean;
  /** Its process; throws when it cannot be started (a missing executable), and for a service. */
  spawn(input: KindSpawn): KindLaunch;
  /** Why the kind cannot run on this box (docker: the CLI is not on PATH), or null when it can. */
  unavailable(apps: Config['apps']): string | null;
  /** Its processes get the rlimit part of apps.limits (false: a databroker binary that reserves more than it uses). */
  readonly rlimits: boolean;
  /** Its output is watched for a failed import of the vehicle environment (import-hint.ts). */
  readonly importHints: boolean;
}

/** Behaviour of a service kind (no process of its own), plugged in by the part that provides it (agent.ts). */
export interface ServiceHook {
  start(app: { id: string; config: KindConfig }, console: Pick<AppConsole, 'note'>): Promise<void>;
  stop(app: { id: string }): Promise<void>;
}

/** What every kind that has no process says when asked for one. */
export function noProcess(name: string): (input: KindSpawn) => KindLaunch {
  return () => { throw new Error(`type ${name} has no process`); };
}

/** True when `cmd` is an executable path, or found on PATH. */
export function onPath(cmd: string): boolean {
  const isExec = (p: string) => { try { fs.accessSync(p, fs.constants.X_OK); return fs.statSync(p).isFile(); } catch { return false; } };
  if (cmd.includes('/')) return isExec(cmd);
  return (process.env.PATH ?? '').split(':').some((d) => d && isExec(path.join(d, cmd)));
}
