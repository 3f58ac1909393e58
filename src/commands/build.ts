// run_rust_app / run_cpp_app {data: {code, name}}: compile (output streamed), then run the program as an ad-hoc run
// exactly like run_python_app. Replies: {isDone:false, result:"<text>\r\n", code:0} while the
// compiler and then the program print, then the reply {isDone:true, code:<exit code>, result:""}. A failed build ends
// with isDone:true and the compiler's non-zero code; a missing toolchain is one error naming it. The frontend shows run
// output only under run_python_app, run_rust_app and run_bin_app: a C++ program is a compiled binary, so the Kit-Manager
// door sends C++ replies as run_bin_app (with requestCmd run_cpp_app).
import { compile, ToolchainMissing, type Language } from '../build/compile';
import { buildProject } from '../build/project-build';
import { parseProject, ProjectRefused, type ProjectTree } from '../user-code/project-tree';
import { badRequest, CommandError, isStorageError, storageFailure, unavailable } from '../core/errors';
import { watchForCompiledRun } from './cpp-vars';
import { joinUsedApis, runStreamer } from './kit/runs';
import type { Frame } from '../core/frame';
import type { Command, CommandContext, CommandRequest } from './types';
import { obj, str } from './validate';

const MAX_RUN_NAME = 128;

async function runCompiled(ctx: CommandContext, req: CommandRequest, lang: Language): Promise<Frame> {
  const adhoc = ctx.parts.adhoc;
  const data = obj(req.body, 'data')!;
  const code = str(data, 'code', { max: ctx.parts.config.apps.maxCodeBytes });
  const name = str(data, 'name', { optional: true, max: MAX_RUN_NAME }) ?? (lang === 'rust' ? 'rust-app' : 'cpp-app');
  // A JSON file tree is a project (user-code/project-tree.ts); its names are checked before anything is written.
  let tree: ProjectTree | null;
  try { tree = parseProject(code, ctx.parts.config.apps.maxCodeBytes); } catch (e) {
    if (e instanceof ProjectRefused) throw badRequest(`${req.wireName}: ${e.message}; nothing was written`);
    throw e;
  }
  const watch = watchForCompiledRun(ctx, data, lang);
  const stream = runStreamer(ctx);
  if (watch.warning) stream.output(`${watch.warning}\n`);
  const opts = { watch: watch.names.length > 0 };
  let build;
  try {
    build = tree ? await buildProject(ctx.parts.config, lang, tree, stream.output, ctx.parts.runAs, opts) : await compile(ctx.parts.config, lang, code, stream.output, ctx.parts.runAs, opts);
  } catch (e) {
    if (e instanceof ToolchainMissing) throw unavailable(`${req.wireName}: ${e.message}`);
    if (isStorageError(e)) throw storageFailure(e, 'the build folder in dataDir/builds', 'nothing was built');
    throw new CommandError('INTERNAL', `${req.wireName}: ${(e as Error).message}`);
  }
  if (build.code !== 0) {
    build.cleanup();
    stream.output(`Error: ${('failure' in build && build.failure) || `the build failed (compiler exit code ${build.code})`}\n`);
    stream.exit(build.code);
    return stream.ended;
  }
  await joinUsedApis(ctx, req.body.usedAPIs);
  try {
    const run = await adhoc.start({
      owner: ctx.client.id, from: ctx.client.door, name, kind: 'binary', path: build.exe, args: [],
      onOutput: stream.output,
      onExit: (exitCode) => { watch.end(); build.cleanup(); stream.exit(exitCode); },
    });
    watch.attach(run.pid, build.exe, stream.output);
  } catch (e) {
    watch.end();
    build.cleanup();
    if (isStorageError(e)) throw storageFailure(e, 'the run\'s folder in dataDir/runs', 'nothing was started');
    throw new CommandError('INTERNAL', `${req.wireName}: cannot start: ${(e as Error).message}`);
  }
  return stream.ended;
}

export const buildCommands: Record<string, Command> = {
  run_rust_app: { handler: (ctx, req) => runCompiled(ctx, req, 'rust'), kit: { errorLine: 'run_rust_app' } },
  run_cpp_app: { handler: (ctx, req) => runCompiled(ctx, req, 'cpp'), kit: { cmd: 'run_bin_app', errorLine: 'run_bin_app' } },
};
