// The app registry on disk, dataDir/apps/registry.json: every deployed app with its config, desired state, status,
// restart count and last console seq, read back at start. Written through a ReservedFile (fsutil.ts), so that a full
// disk cannot refuse a stop or an uninstall.
//
// Two kinds of write. A command that changes what should run writes ahead (`intend`, `commit`): the new desired state
// is on disk before anything is done, and when dataDir refuses the write (read-only, full) the command is refused with
// STORAGE and nothing is done, so what is acknowledged is on disk. Status, pid and exit code are not written ahead:
// they follow within STATUS_SAVE_MS, one write for every change in that time, off the request path (`saveSoon`; the
// next start recomputes status from the desired state and the processes it finds: `restore`). installing and
// uninstalling are written at once: a start after a crash in the middle of either must know it.
import path = require('node:path');
import type { Logger } from '../log';
import { systemClock, type Clock } from '../core/clock';
import { storageFailure } from '../core/errors';
import { readJsonOrQuarantine, ReservedFile } from '../fsutil';
import { APP_TYPES, isSafeId, type AppRecord } from './store';

/** How long a status change waits to be written with the others that come meanwhile. */
export const STATUS_SAVE_MS = 1000;

export class AppRegistry {
  readonly file: string;
  /** The last failed write, until a write succeeds: /health shows it and says degraded. */
  storageError: string | null = null;
  private readonly reserved: ReservedFile;
  /** A status write waiting (saveSoon). */
  private timer: unknown = null;
  private held = false;

  /** `root`: dataDir/apps (AppStore.root); `records`: every app as it stands, for each write. */
  constructor(root: string, private readonly records: () => Iterable<AppRecord>, private readonly log: Logger, private readonly clock: Clock = systemClock) {
    this.file = path.join(root, 'registry.json');
    this.reserved = new ReservedFile(this.file);
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

  /** Writes every app now (a waiting status write is taken along); throws what the file system said. */
  save(): void {
    if (this.timer !== null) { this.clock.clearTimeout(this.timer); this.timer = null; }
    try {
      this.reserved.write(JSON.stringify({ version: 1, apps: [...this.records()] }, null, 1));
      this.storageError = null;
    } catch (e) {
      this.storageError = `could not write the app registry: ${(e as Error).message}`;
      throw e;
    }
  }

  saveOrLog(): void {
    try { this.save(); } catch (e) { this.log.error({ err: e }, 'could not save the app registry'); }
  }

  /** One write for the status changes of the next STATUS_SAVE_MS (any write in between takes them too). */
  saveSoon(): void {
    if (this.timer !== null || this.held) return;
    this.timer = this.clock.setTimeout(() => {
      this.timer = null;
      if (!this.held) this.saveOrLog();
    }, STATUS_SAVE_MS);
  }

  /** Writes now; a refused write is the requester's STORAGE error, saying what it means (`outcome`). */
  commit(outcome: string): void {
    try { this.save(); } catch (e) { throw storageFailure(e, 'the app registry', outcome); }
  }

  /** Write-ahead of a new desired state: it is on disk before anything is done, or nothing is done. */
  intend(rec: AppRecord, desired: AppRecord['desired'], outcome: string): void {
    const before = rec.desired;
    rec.desired = desired;
    try { this.commit(outcome); } catch (e) { rec.desired = before; throw e; }
  }

  /** The agent shuts down: status writes wait for the last save (which writes what its stops changed). */
  hold(): void {
    this.held = true;
    if (this.timer !== null) { this.clock.clearTimeout(this.timer); this.timer = null; }
  }
}

/**
 * A record read back at start, after a clean stop or a crash: its status as the desired state and the lost processes
 * make it (no process of a previous agent is its own). True when the app is to be started again.
 */
export function restore(rec: AppRecord): boolean {
  rec.pid = null;
  if (rec.status === 'installing' || rec.status === 'uninstalling') {
    rec.reason = `agent stopped while ${rec.status}; deploy again`;
    rec.status = 'error';
    return false;
  }
  if (rec.desired === 'running') {
    rec.status = 'stopped';
    return true;
  }
  if (rec.status === 'running' || rec.status === 'paused' || rec.status === 'starting' || rec.status === 'waiting') rec.status = 'stopped';
  return false;
}
