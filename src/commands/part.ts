// The parts commands work on are optional in Parts (the agent starts them one by one, and stops them in reverse);
// a command whose part is not running answers UNAVAILABLE, in the same words from every door.
import type { Parts } from '../parts';
import { unavailable } from './errors';

const NAMES = {
  apps: 'the app supervisor is',
  signals: 'vehicle signals are',
  adhoc: 'ad-hoc runs are',
  packages: 'the python package installer is',
} as const;

export function needPart<K extends keyof typeof NAMES>(parts: Parts, key: K): NonNullable<Parts[K]> {
  const p = parts[key];
  if (!p) throw unavailable(`${NAMES[key]} not running on this agent`);
  return p as NonNullable<Parts[K]>;
}
