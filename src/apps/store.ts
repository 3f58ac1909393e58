// The app registry on disk: dataDir/apps/registry.json, written on every change and read back at start, through a
// ReservedFile so that a full disk cannot refuse a stop or an uninstall. App folders are dataDir/apps/<appId>/ (the
// app's: its code, cwd and HOME; with apps.runAs the app user's); the agent's own files of an app (console log, seq
// mark, stderr FIFO) are in dataDir/consoles/<appId>/, where the app user cannot write. An appId is checked before it
// becomes a path.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ensurePrivateDir, readJsonOrQuarantine, ReservedFile } from '../fsutil';
import type { RunAs } from '../user-code/run-as';
import { removeUserTree } from '../user-code/user-files';

export const APP_TYPES = ['python', 'binary', 'docker', 'mock-service', 'kuksa-server'] as const;
export type AppType = (typeof APP_TYPES)[number];
export const STATUSES = ['installing', 'installed', 'starting', 'running', 'paused', 'stopped', 'uninstalling', 'error'] as const;
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
  private readonly file: string;
  private readonly registry: ReservedFile;

  constructor(dataDir: string) {
    this.root = path.join(dataDir, 'apps');
    this.agentRoot = path.join(dataDir, 'consoles');
    this.file = path.join(this.root, 'registry.json');
    ensurePrivateDir(this.root);
    this.registry = new ReservedFile(this.file);
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

  /** Reads the registry; a file that does not parse is moved aside and reported through `quarantined`. */
  load(): { apps: AppRecord[]; quarantined: string | null } {
    const { value, quarantined } = readJsonOrQuarantine(this.file);
    const list = (value as { apps?: unknown } | undefined)?.apps;
    const apps: AppRecord[] = [];
    if (Array.isArray(list)) {
      for (const a of list as AppRecord[]) {
        if (a && typeof a.id === 'string' && isSafeId(a.id) && (APP_TYPES as readonly string[]).includes(a.type) && a.config) apps.push(a);
      }
    }
    return { apps, quarantined };
  }

  save(apps: Iterable<AppRecord>): void {
    this.registry.write(JSON.stringify({ version: 1, apps: [...apps] }, null, 1));
  }

  /** The app's folder (removed as the app user, see user-files.ts) and the agent's folder of the app. */
  async removeFolders(appId: string, runAs: RunAs | null): Promise<void> {
    fs.rmSync(this.agentFolder(appId), { recursive: true, force: true });
    await removeUserTree(runAs, this.folder(appId));
  }
}
