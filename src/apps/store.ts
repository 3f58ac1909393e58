// The app registry on disk: dataDir/apps/registry.json, written atomically on every change and read back at start.
// App folders are dataDir/apps/<appId>/; an appId is checked before it becomes a path.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ensurePrivateDir, readJsonOrQuarantine, writeFileAtomic } from '../fsutil';

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
  private readonly file: string;

  constructor(dataDir: string) {
    this.root = path.join(dataDir, 'apps');
    this.file = path.join(this.root, 'registry.json');
    ensurePrivateDir(this.root);
  }

  /** The app's folder; throws if the id would leave dataDir/apps. */
  folder(appId: string): string {
    if (!isSafeId(appId)) throw new Error(`unsafe app id ${JSON.stringify(appId).slice(0, 80)}`);
    const dir = path.join(this.root, appId);
    if (path.dirname(dir) !== this.root) throw new Error('app folder outside dataDir/apps');
    return dir;
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
    writeFileAtomic(this.file, JSON.stringify({ version: 1, apps: [...apps] }, null, 1));
  }

  removeFolder(appId: string): void {
    fs.rmSync(this.folder(appId), { recursive: true, force: true });
  }
}
