// Command name → handler, for every door. Legacy Kit-Manager `cmd` names and seed-000 `type` names meet here, once.
import { runtimeCommands } from './runtime';
import { appCommands } from './apps';
import { signalCommands } from './signals';
import { mockCommands } from './mock';
import { modelCommands } from './model';
import { legacyCommands } from './legacy';
import { packageCommands } from './packages';
import { buildCommands } from './build';
import { varsCommands } from './vars';
import type { Command } from './types';

const AREAS: Array<Record<string, Command>> = [
  runtimeCommands,
  // areas of later issues are added here, one line each
  appCommands,
  signalCommands, mockCommands, modelCommands,
  packageCommands, buildCommands, varsCommands,
];

/** Wire names that differ from the canonical name. */
const ALIASES: Record<string, string> = {
};

const TABLE = new Map<string, Command>();
for (const area of AREAS) {
  for (const [name, command] of Object.entries(area)) {
    if (TABLE.has(name)) throw new Error(`command ${name} defined twice`);
    TABLE.set(name, command);
  }
}

/**
 * Kit-Manager `cmd` names (style 'legacy'): looked up first for a `cmd`, never for a `type`. A `cmd` without a legacy
 * entry falls through to the areas (run_rust_app, install_python_packages… reply in the legacy shapes themselves).
 */
const LEGACY = new Map<string, Command>(Object.entries(legacyCommands));

export function resolveCommand(wireName: string, nameKey: 'type' | 'cmd' = 'type'): { name: string; command: Command } | null {
  if (nameKey === 'cmd' && LEGACY.has(wireName)) {
    return { name: wireName, command: LEGACY.get(wireName)! };
  }
  const name = Object.prototype.hasOwnProperty.call(ALIASES, wireName) ? ALIASES[wireName]! : wireName;
  const command = TABLE.get(name);
  if (command) return { name, command };
  // A Kit-Manager-only command (run_python_app, stop_python_app, deploy_n_run, get-runtime-info…) asked by `type`:
  // the same handler, its replies in the local envelope (`<type>-response` with the id).
  const legacyCommand = LEGACY.get(wireName);
  return legacyCommand ? { name: wireName, command: legacyCommand } : null;
}

export function commandNames(): string[] {
  return [...TABLE.keys()].sort();
}
