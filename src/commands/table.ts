// Command name → handler, for every door. Legacy Kit-Manager `cmd` names and seed-000 `type` names meet here, once.
import { runtimeCommands } from './runtime';
import type { Command } from './types';

const AREAS: Array<Record<string, Command>> = [
  runtimeCommands,
  // areas of later issues are added here, one line each
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

export function resolveCommand(wireName: string): { name: string; command: Command } | null {
  const name = Object.prototype.hasOwnProperty.call(ALIASES, wireName) ? ALIASES[wireName]! : wireName;
  const command = TABLE.get(name);
  return command ? { name, command } : null;
}

export function commandNames(): string[] {
  return [...TABLE.keys()].sort();
}
