// Python packages: list_python_packages, install_python_packages. The same handler serves the Kit-Manager `cmd` and
// the local API `type` (style 'legacy': over the local API the body arrives as `<name>-response` with the id).
// Shapes (shared/kit-manager-protocol.md): install → {result:"Installing", data:"Installing packages: …\n"}, then
// more {result:"Installing", data:"<pip text>"} while pip runs, then {result:"Successful" | "<error>", data:"<installer output>"};
// list → {data:"<pip freeze text>"}. A refused requirement is an error naming it (error frame on the local API).
import { InstallError, type PackageInstaller } from '../packages/installer';
import { parseRequirements, RequirementError } from '../packages/requirement';
import { CommandError, badRequest, conflict } from './errors';
import { needPart } from './part';
import type { Command, CommandContext, CommandRequest, Frame } from './types';

const installer = (ctx: CommandContext): PackageInstaller => needPart(ctx.parts, 'packages');

export function listPythonPackages(ctx: CommandContext): Frame {
  const text = installer(ctx).list();
  return { kit_id: ctx.parts.runtime.kitId, data: text };
}

export async function installPythonPackages(ctx: CommandContext, req: CommandRequest): Promise<Frame> {
  const inst = installer(ctx);
  let reqs;
  try { reqs = parseRequirements(req.body.data); } catch (e) {
    if (e instanceof RequirementError) throw badRequest(`data: ${e.message}`);
    throw e;
  }
  if (inst.busy) throw conflict('an install is already running; try again when it has finished');
  const names = reqs.map((r) => r.text).join(' ');
  ctx.emit({ result: 'Installing', data: `Installing packages: ${names}\n` });
  try {
    const { output } = await inst.install(reqs, (text) => ctx.emit({ result: 'Installing', data: text }));
    return { result: 'Successful', data: output };
  } catch (e) {
    if (e instanceof InstallError) {
      if (e.kind === 'busy') throw conflict(e.message);
      // The Kit-Manager frontend reads `result` as the outcome and `data` as pip's text.
      return { result: e.message, error: e.message, data: e.output };
    }
    throw new CommandError('INTERNAL', `install failed: ${(e as Error).message}`);
  }
}

export const packageCommands: Record<string, Command> = {
  list_python_packages: { style: 'legacy', handler: (ctx) => listPythonPackages(ctx) },
  install_python_packages: { style: 'legacy', handler: (ctx, req) => installPythonPackages(ctx, req) },
};
