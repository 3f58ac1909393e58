// The app kinds: one line per kind. A new kind is a file in this folder (an AppKind, kind.ts) and a line here; the
// deploy form, the registry, the install, the spawn and the ad-hoc runs all go through this map.
import type { AppKind } from './kind';
import { binary } from './binary';
import { docker } from './docker';
import { kuksaServer } from './kuksa-server';
import { mockService } from './mock-service';
import { python } from './python';

export const KINDS = {
  python,
  binary,
  docker,
  'mock-service': mockService,
  'kuksa-server': kuksaServer,
} satisfies Record<string, AppKind>;

export type AppType = keyof typeof KINDS;
/** The kinds' names, in the map's order (the order the deploy's error message lists them in). */
export const APP_TYPES = Object.keys(KINDS) as AppType[];

export function isAppType(type: unknown): type is AppType {
  return typeof type === 'string' && Object.prototype.hasOwnProperty.call(KINDS, type);
}

/** The kind of an app type (one the store, the registry or the deploy form has already checked). */
export function kindOf(type: AppType): AppKind {
  return KINDS[type];
}

/** Every file a kind may install into an app's folder: a redeploy removes what an earlier deploy left. */
export const KIND_FILES: readonly string[] = [...new Set(Object.values(KINDS).flatMap((k: AppKind) => k.files))];

export type { AppKind, KindConfig, KindLaunch, KindSpawn, ServiceHook } from './kind';
export { onPath } from './kind';
