// Every command once, for every door, with exactly one handler. The areas define the commands; the Kit-Manager
// dialect (commands/kit/: the Autowrx frontend's and the Python runtime's names and reply shapes) adds adapters to
// some of them (input, render, progress: KitShape) and defines the commands only a Kit-Manager sends
// (run_python_app…), which are commands like any other: a local client may ask them by `type` too.
import { runtimeCommands } from './runtime';
import { appCommands } from './apps';
import { signalCommands } from './signals';
import { mockCommands } from './mock';
import { modelCommands } from './model';
import { kitCommands, kitForms } from './kit/dialect';
import { packageCommands } from './packages';
import { buildCommands } from './build';
import { varsCommands } from './vars';
import type { Command, Handler } from './types';

const AREAS: Array<Record<string, Command>> = [
  runtimeCommands, appCommands, signalCommands, mockCommands, modelCommands, packageCommands, buildCommands, varsCommands,
];

const TABLE = new Map<string, Command>();
for (const area of AREAS) {
  for (const [name, command] of Object.entries(area)) {
    if (TABLE.has(name)) throw new Error(`command ${name} defined twice`);
    TABLE.set(name, command);
  }
}
for (const [name, command] of Object.entries(kitCommands)) {
  if (TABLE.has(name)) throw new Error(`command ${name} defined twice`);
  TABLE.set(name, command);
}
for (const [name, form] of Object.entries(kitForms)) {
  const command = TABLE.get(name);
  if (!command) throw new Error(`the Kit-Manager form of ${name}: no such command`);
  TABLE.set(name, { ...command, kit: { ...command.kit, ...form } });
}

/** The command a wire name asks for. */
export function resolveCommand(wireName: string): { name: string; command: Command } | null {
  const command = TABLE.get(wireName);
  return command ? { name: wireName, command } : null;
}

/** Every command's handlers (the table test checks that each name has exactly one). */
export function handlersOf(name: string): Handler[] {
  const command = TABLE.get(name);
  if (!command) return [];
  const kit = command.kit as Record<string, unknown> | undefined;
  return [command.handler, ...(typeof kit?.handler === 'function' ? [kit.handler as Handler] : [])];
}

/** Every command name, once (the table test runs each through both doors). */
export function commandNames(): string[] {
  return [...TABLE.keys()].sort();
}
