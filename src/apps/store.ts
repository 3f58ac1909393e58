// A deployed app as it is recorded (AppRecord, its config, types and statuses) and where its files live; the registry
// file that lists them is registry.ts. App folders are dataDir/apps/<appId>/ (the app's: its code, cwd and HOME; with
// apps.runAs the app user's); the agent's own files of an app (console log, seq mark, stderr FIFO) are in
// dataDir/consoles/<appId>/, where the app user cannot write. An appId is checked before it becomes a path.
import fs = require('node:fs');
import path = require('node:path');
import { ensurePrivateDir } from '../fsutil';
import type { RunAs } from '../user-code/run-as';
import type { HealthCheckConfig } from './health-check';
import type { Limits } from './limits/spec';
import type { Dependencies } from './start-order';
import { removeUserTree } from '../user-code/user-files';
import type { AppType } from './kinds';

// The app types are the kinds of apps/kinds/ (one file each, one map).
export { APP_TYPES, type AppType } from './kinds';
// waiting: asked to run, held until the apps it depends on are there (start-order.ts).
export const STATUSES = ['installing', 'installed', 'waiting', 'starting', 'running', 'paused', 'stopped', 'uninstalling', 'error'] as const;
export type AppStatus = (typeof STATUSES)[number];
export type RestartPolicy = 'never' | 'on-failure' | 'always';

export interface AppConfig {
  /** binary / kuksa-server: the executable (absolute path on the box, or the stored `code`). */
  path?: string;
  args: string[];
  env: Record<string, string>;
  restartPolicy: RestartPolicy;
  /** First restart delay; doubles up to 60 s. */
  restartDelayMs: number;
  /** Failed starts in a row (none of them stable for 60 s) that make a crash loop. */
  maxRestarts: number;
  /** docker: the image. */
  image?: string;
  /** Anything else the prototype carried (mock-service settings): kept, not interpreted here. */
  extra: Record<string, unknown>;
  /** Lower limits than the box's (apps.limits) for this app: limits/spec.ts. */
  limits?: Partial<Limits>;
  healthCheck?: HealthCheckConfig;
  /** Apps that must be running (or have succeeded) before this one starts: start-order.ts. */
  dependsOn?: Dependencies;
}

export interface AppRecord {
  id: string;
  prototypeId: string;
  name: string;
  type: AppType;
  createdAt: string;
  config: AppConfig;
  /** What the operator asked for last: survives a restart of the agent. */
  desired: 'running' | 'stopped';
  status: AppStatus;
  exitCode: number | null;
  reason: string | null;
  restarts: number;
  pid: number | null;
  /** Last console seq handed out, so numbering continues after an agent restart. */
  lastSeq: number;
  /** Its last run ended by itself with code 0 (the condition "succeeded" of apps that depend on it). */
  succeeded?: boolean;
}

const SAFE_ID = /^[A-Za-z0-9._-]{1,64}$/;

/** An id that is safe as one path segment: the allowed characters, and not `.`/`..`. */
export function isSafeId(id: string): boolean {
  return SAFE_ID.test(id) && id !== '.' && id !== '..';
}

export class AppStore {
  readonly root: string;
  /** Parent of the agent's own per-app folders. */
  readonly agentRoot: string;

  constructor(dataDir: string) {
    this.root = path.join(dataDir, 'apps');
    this.agentRoot = path.join(dataDir, 'consoles');
    ensurePrivateDir(this.root);
  }

  /** The app's folder; throws if the id would leave dataDir/apps. */
  folder(appId: string): string {
    if (!isSafeId(appId)) throw new Error(`unsafe app id ${JSON.stringify(appId).slice(0, 80)}`);
    const dir = path.join(this.root, appId);
    if (path.dirname(dir) !== this.root) throw new Error('app folder outside dataDir/apps');
    return dir;
  }

  /** The agent's own folder for an app (console log, seq mark, stderr FIFO): never writable by the app user. */
  agentFolder(appId: string): string {
    return path.join(this.agentRoot, path.basename(this.folder(appId)));
  }

  /** The app's folder (removed as the app user, see user-files.ts) and the agent's folder of the app. */
  async removeFolders(appId: string, runAs: RunAs | null): Promise<void> {
    fs.rmSync(this.agentFolder(appId), { recursive: true, force: true });
    await removeUserTree(runAs, this.folder(appId));
  }
}
