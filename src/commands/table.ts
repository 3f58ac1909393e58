// Every command once, for every door. The areas define the commands; the Kit-Manager's `cmd` forms (the Autowrx
// frontend's and the Python runtime's names and reply shapes, commands/kit/*.ts) join them here: a name both define
// is one command whose Kit-Manager form is its `kit.handler`, a name only the Kit-Manager sends (run_python_app…) is
// a command like any other, and a local client may ask it by `type` too.
import { runtimeCommands } from './runtime';
import { appCommands } from './apps';
import { signalCommands } from './signals';
import { mockCommands } from './mock';
import { modelCommands } from './model';
import { kitCommands } from './kit/dialect';
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
for (const [name, form] of Object.entries(kitCommands)) {
  const command = TABLE.get(name);
  TABLE.set(name, command ? { ...command, kit: { ...form.kit, handler: form.handler } } : form);
}

/** The command a wire name asks for, and the handler its door runs (`cmd`: the Kit-Manager form where there is one). */
export function resolveCommand(wireName: string, nameKey: 'type' | 'cmd' = 'type'): { name: string; command: Command; handler: Handler } | null {
  const command = TABLE.get(wireName);
  if (!command) return null;
  return { name: wireName, command, handler: (nameKey === 'cmd' ? command.kit?.handler : undefined) ?? command.handler };
}

/** Every command name, once (the table test runs each through both doors). */
export function commandNames(): string[] {
  return [...TABLE.keys()].sort();
}
