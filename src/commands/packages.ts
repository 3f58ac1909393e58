// Python packages: list_python_packages, install_python_packages. The same handler serves the Kit-Manager `cmd` and
// the local API `type` (over the local API the body arrives as `<name>-response` with the id).
// Shapes (shared/kit-manager-protocol.md): install → {result:"Installing", data:"Installing packages: …\n"}, then
// more {result:"Installing", data:"<pip text>"} while pip runs (each line once), then the Outcome (done, or failed with
// pip's reason as `result`) with data:"<summary>": the frontend shows `data` only, never `result`, so the summary says what was installed, or why
// not and what to do. list → {data:"# python-packages …\n<pip freeze text>\n# the interpreter …\n<pip freeze text>"}. A refused requirement is an error naming it (error frame on
// the local API); on the Kit-Manager link its reason is in `data` too (KitShape errorFields). list's `data` has two labelled
// parts: packages.dir, then the interpreter's own packages.
import fs = require('node:fs');
import { InstallError, type PackageInstaller } from '../python/installer';
import { freezeLines, listDistributions, LIST_LIMITS, type Distribution } from '../python/package-list';
import { parseRequirements, RequirementError } from '../python/requirement';
import { CommandError, badRequest, conflict } from '../core/errors';
import type { Frame } from '../core/frame';
import type { Command, CommandContext, CommandRequest } from './types';
import { Outcome } from './outcome';

const installer = (ctx: CommandContext): PackageInstaller => ctx.parts.packages;

/**
 * Both places an app imports from, each under a `# …` label line: packages.dir (what install_python_packages put
 * there) and the interpreter's own folders (grpcio, which every Velocitas app imports, is usually there). Read from
 * the metadata files without following links and off the event loop (python/package-list.ts).
 */
async function listPythonPackages(ctx: CommandContext): Promise<Frame> {
  const dir = installer(ctx).dir;
  const own = await listDistributions(dir);
  const py = await ctx.parts.python.interpreterFolders();
  const real = (p: string) => { try { return fs.realpathSync(p); } catch { return p; } };
  const folders = py.folders.filter((f) => real(f) !== real(dir)).slice(0, LIST_LIMITS.maxFolders);
  const seen = new Set<string>();
  const theirs: Distribution[] = [];
  for (const f of folders) for (const d of await listDistributions(f)) if (!seen.has(d.name.toLowerCase())) { seen.add(d.name.toLowerCase()); theirs.push(d); }
  theirs.sort((a, b) => a.name.toLowerCase().localeCompare(b.name.toLowerCase()));
  const text = [
    `# python-packages (${dir}): what install_python_packages installed`,
    ...(own.length ? [freezeLines(own)] : ['(none)']),
    `# the interpreter (${py.executable}${py.version ? ` ${py.version}` : ''}): its own packages, in ${folders.length ? folders.join(', ') : '(no folder found)'}`,
    ...(theirs.length ? [freezeLines(theirs)] : []),
  ].join('\n');
  return { kit_id: ctx.parts.runtime.kitId, data: text, packages: freezeLines(own), interpreter: freezeLines(theirs) };
}

async function installPythonPackages(ctx: CommandContext, req: CommandRequest): Promise<Outcome> {
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
    // What was installed may be the SDK: the probe (and the sdv alias) are brought up to date before the reply.
    await ctx.parts.python.refresh();
    return Outcome.done({ data: installedSummary(names, output, inst.dir) });
  } catch (e) {
    if (e instanceof InstallError) {
      if (e.kind === 'busy') throw conflict(e.message);
      return Outcome.failed(e.message, { error: e.message, data: `Error: ${e.message}. ${whatToDo(e)}\n` });
    }
    throw new CommandError('INTERNAL', `install failed: ${(e as Error).message}`);
  }
}

/** The user's summary of a finished install: what was asked, what pip put in place, and where it is. */
function installedSummary(names: string, output: string, dir: string): string {
  const put = /^Successfully installed (.+)$/m.exec(output)?.[1]?.trim();
  return `Done: ${names} installed${put ? ` (${put})` : ' (already there)'}; every python app on this box can import it (${dir})\n`;
}

function whatToDo(e: InstallError): string {
  switch (e.kind) {
    case 'timeout': return 'Try fewer packages at once, or raise packages.installTimeoutS';
    case 'unavailable': return 'Install python3 with pip on the box, or set apps.python';
    default: return /index could not be reached/.test(e.message)
      ? 'Check the box\'s network and proxy, or set packages.findLinks to a local wheel folder'
      : 'Check the package name and version (pip\'s output is above)';
  }
}

export const packageCommands: Record<string, Command> = {
  list_python_packages: { handler: (ctx) => listPythonPackages(ctx) },
  install_python_packages: {
    handler: (ctx, req) => installPythonPackages(ctx, req),
    // The frontend shows only `data` of these replies.
    kit: { errorFields: (_req, message) => ({ data: `Error: ${message}\n` }) },
  },
};
