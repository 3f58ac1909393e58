// What an app may use: memory, CPU and processes for its whole process tree. The box's values (apps.limits) are the
// default and the ceiling of every app and ad-hoc run; an app's config.limits may lower them, never raise them (the
// local API is open to every program on the box, its apps included: an app must not deploy itself out of its limits).
// 0 means "no limit". Pure: checked at deploy here, enforced by confinement.ts.
import { badRequest } from '../../core/errors';

export interface Limits {
  /** Memory of the whole tree (RSS and page cache it owns), MiB; 0 = none. */
  memoryMB: number;
  /** CPU time of the whole tree, percent of one core (200 = two cores); 0 = none. */
  cpuPercent: number;
  /** Processes and threads of the whole tree; 0 = none. */
  pids: number;
}

export type LimitName = keyof Limits;
export const LIMIT_NAMES: readonly LimitName[] = ['memoryMB', 'cpuPercent', 'pids'];

/**
 * The smallest value that is not 0, and the largest: below 16 MiB no Python starts; 8 tasks are the wrapper shell,
 * the program and a few threads; 1 % of a core is the kernel's smallest CFS quota (1 ms per 100 ms period).
 */
export const LIMIT_RANGES: Record<LimitName, { min: number; max: number; unit: string }> = {
  memoryMB: { min: 16, max: 1_048_576, unit: 'MiB' },
  cpuPercent: { min: 1, max: 100_000, unit: '% of a core' },
  pids: { min: 8, max: 4_194_304, unit: 'processes' },
};

export const NO_LIMITS: Limits = { memoryMB: 0, cpuPercent: 0, pids: 0 };

export const anyLimit = (l: Limits): boolean => l.memoryMB > 0 || l.cpuPercent > 0 || l.pids > 0;

/** A value of the box's config (0, or within the range): the reason when it is not, null when it is fine. */
export function checkBoxLimit(name: LimitName, value: number): string | null {
  const r = LIMIT_RANGES[name];
  if (value !== 0 && (value < r.min || value > r.max)) return `expected 0 (no limit) or ${r.min} to ${r.max} ${r.unit}, got ${value}`;
  return null;
}

/**
 * config.limits of a deploy: an object with any of memoryMB, cpuPercent, pids, each within its range and at most the
 * box's value (`box`, apps.limits). Refused with the field named. Returns only the keys given.
 */
export function parseAppLimits(raw: unknown, box: Limits, field = 'config.limits'): Partial<Limits> {
  if (raw === undefined || raw === null) return {};
  if (typeof raw !== 'object' || Array.isArray(raw)) throw badRequest(`${field}: expected an object with memoryMB, cpuPercent and/or pids`);
  const out: Partial<Limits> = {};
  for (const [key, value] of Object.entries(raw as Record<string, unknown>)) {
    if (!(LIMIT_NAMES as readonly string[]).includes(key)) throw badRequest(`${field}.${key.slice(0, 40)}: unknown limit; known: ${LIMIT_NAMES.join(', ')}`);
    const name = key as LimitName;
    const r = LIMIT_RANGES[name];
    const ceiling = box[name];
    if (typeof value !== 'number' || !Number.isInteger(value)) throw badRequest(`${field}.${name}: expected an integer (${r.unit})`);
    if (value === 0) {
      if (ceiling !== 0) throw badRequest(`${field}.${name}: 0 (no limit) is not allowed: the box limits every app to ${ceiling} ${r.unit} (apps.limits.${name})`);
    } else if (value < r.min || value > r.max) {
      throw badRequest(`${field}.${name}: expected ${r.min} to ${r.max} ${r.unit}, got ${value}`);
    } else if (ceiling !== 0 && value > ceiling) {
      throw badRequest(`${field}.${name}: at most ${ceiling} ${r.unit}, the box's limit (apps.limits.${name}); an app may lower it, not raise it`);
    }
    out[name] = value;
  }
  return out;
}

/** What applies to one start: the app's own values where it has them, the box's elsewhere, never above the box's. */
export function effectiveLimits(box: Limits, own: Partial<Limits> | undefined): Limits {
  const out = { ...box };
  for (const name of LIMIT_NAMES) {
    const v = own?.[name];
    if (v === undefined) continue;
    // A box whose ceiling was lowered since the deploy: the lower one wins.
    out[name] = box[name] === 0 ? v : v === 0 ? box[name] : Math.min(v, box[name]);
  }
  return out;
}

/** How a limit is named in console lines and statuses: "the memory limit (128 MiB)". */
export function describeLimit(name: LimitName, l: Limits): string {
  switch (name) {
    case 'memoryMB': return `the memory limit (${l.memoryMB} MiB)`;
    case 'cpuPercent': return `the CPU limit (${l.cpuPercent} % of a core)`;
    case 'pids': return `the process limit (${l.pids} processes and threads)`;
  }
}
