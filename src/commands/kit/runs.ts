// Kit-Manager ad-hoc runs: run_python_app, run_bin_app (run_rust_app / run_cpp_app in build.ts use the same stream),
// stop_python_app. The frontend (DaRuntimeConnector's onKitReply) prints `result` of every `isDone: false` reply and,
// for the final `isDone: true` one, only "Exit code N": so a reason must be a line of its own first (KitShape
// errorLine), and a warning is a line of the stream. The handler's reply is the end of the run, so over the local API
// the stream frames carry `requestId` and the final `{isDone: true, code}` carries the request's `id`.
import fs = require('node:fs');
import nodePath = require('node:path');
import { badRequest, CommandError, isStorageError, notFound, storageFailure } from '../../core/errors';
import type { Frame } from '../../core/frame';
import type { Command, CommandContext, Handler } from '../types';
import { Outcome } from '../outcome';
import { isPlainObject, obj, str, typeName } from '../validate';
import { traceForRun, type RunTrace } from '../vars';
import { ProjectRefused, type ProjectTree } from '../../user-code/project-tree';
import { projectLine, readPythonProject } from '../../python/project';

const MAX_RUN_NAME = 128;
/** usedAPIs taken from one run request for the mock list; the rest is ignored. */
const MAX_USED_APIS = 500;
/** A slow databroker delays a run's start by at most this; the mock list then catches up on its own. */
const JOIN_WAIT_MS = 2000;

export interface RunStream {
  output(text: string): void;
  exit(code: number | null): void;
  /** The final reply, once the run has ended. */
  readonly ended: Promise<Frame>;
}

/** Streams a run's output as `{isDone:false, result, code:0}`; its end is the reply `{isDone:true, code, result:""}`. */
export function runStreamer(ctx: CommandContext): RunStream {
  // The ad-hoc part already coalesces lines arriving within ~20 ms into one call: one call, one reply.
  let done = false;
  let end!: (f: Frame) => void;
  const ended = new Promise<Frame>((resolve) => { end = resolve; });
  return {
    output(text) {
      if (done || typeof text !== 'string' || text === '') return;
      ctx.emit({ isDone: false, result: text.replace(/\r?\n/g, '\r\n'), code: 0 });
    },
    exit(code) {
      if (done) return;
      done = true;
      // Killed by a signal (code null) reads as a failure to the frontend.
      end({ isDone: true, code: typeof code === 'number' ? code : 1, result: '' });
    },
    ended,
  };
}

/**
 * A run's `usedAPIs` join the mock list, as the Python runtime did. Best effort: a bad list or an unreachable
 * databroker never stops the run (it is logged).
 */
export async function joinUsedApis(ctx: CommandContext, used: unknown): Promise<void> {
  const hub = ctx.parts.signals;
  if (!hub || !Array.isArray(used) || used.length === 0) return;
  const paths = used.slice(0, MAX_USED_APIS).filter((p): p is string => typeof p === 'string' && p.length > 0 && p.length <= 512);
  // Before the run starts, so that a value made live here never overwrites one the program sets.
  const joined = hub.mock.join(paths).then(
    (added) => { if (added.length) ctx.parts.log.info({ added }, 'usedAPIs joined the mock list'); },
    (e: Error) => ctx.parts.log.warn({ err: e.message }, 'usedAPIs not added to the mock list'),
  );
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([joined, new Promise<void>((resolve) => { timer = setTimeout(resolve, JOIN_WAIT_MS); })]);
  clearTimeout(timer);
}

function runHandler(kind: 'python' | 'binary'): Handler {
  return async (ctx, req) => {
    const adhoc = ctx.parts.adhoc;
    let name: string;
    let code: string | undefined;
    let path: string | undefined;
    let trace: RunTrace = { end() {} };
    if (kind === 'python') {
      const data = obj(req.body, 'data')!;
      code = str(data, 'code', { max: ctx.parts.config.apps.maxCodeBytes });
      name = str(data, 'name', { optional: true, max: MAX_RUN_NAME }) ?? 'adhoc';
      trace = await traceForRun(ctx, data);
    } else {
      // run_bin_app sends the binary's name as `data` (a string); {path} or {name} objects are read too.
      const data = req.body.data;
      if (typeof data === 'string') path = data;
      else if (isPlainObject(data)) path = str(data, 'path', { optional: true, max: 4096 }) ?? str(data, 'name', { max: 4096 });
      else throw badRequest(`data: expected the binary's name as a string, got ${typeName(data)}`);
      if (path.length === 0 || path.length > 4096) throw badRequest('data: expected a non-empty binary name');
      name = path.split('/').pop() || path;
    }
    if (path !== undefined) {
      // Only the binaries the operator placed in apps.binDir (dataDir/bin): a name (what the playground sends), or
      // their absolute path. Anything else on the box (/sbin/reboot…) is not the playground's to run.
      const binDir = ctx.parts.config.apps.binDir;
      if (!path.startsWith('/')) {
        if (path.includes('/') || path.includes('\\') || path.includes('\0') || path === '.' || path === '..') throw badRequest('data: expected a binary name (no "/")');
        path = nodePath.join(binDir, path);
      } else if (path.includes('\0') || !nodePath.resolve(path).startsWith(`${binDir}/`)) {
        throw new CommandError('FORBIDDEN', `data: ${JSON.stringify(path.slice(0, 200))} is outside ${binDir}; run_bin_app runs the binaries placed there: send a name`);
      }
      let isFile = false;
      try { isFile = fs.statSync(path).isFile(); } catch { /* missing */ }
      if (!isFile) throw notFound(`data: no binary ${JSON.stringify(name.slice(0, 200))} in ${binDir}: place the program there first (a remote Rust build puts it there)`);
    }
    const stream = runStreamer(ctx);
    // A project (code that is a JSON file tree: src/python/project.ts): refused with its reason as the run's
    // only line and exit code 1, or announced before anything else of the run.
    let project: ProjectTree | null = null;
    if (code !== undefined) {
      try { project = readPythonProject(code, ctx.parts.config.apps.maxCodeBytes); } catch (e) {
        if (!(e instanceof ProjectRefused)) throw e;
        trace.end();
        stream.output(`Error: ${e.message}\n`);
        stream.exit(1);
        return stream.ended;
      }
      if (project) stream.output(`${projectLine(project)}\n`);
    }
    if (trace.warning) stream.output(`${trace.warning}\n`);
    await joinUsedApis(ctx, req.body.usedAPIs);
    try {
      await adhoc.start({ owner: ctx.client.id, from: ctx.client.door, name, kind, ...(project ? { project } : code !== undefined ? { code } : { path }), onOutput: stream.output, onExit: (c) => { trace.end(); stream.exit(c); }, ...(trace.tracer ? { tracer: trace.tracer } : {}) });
    } catch (e) {
      trace.end();
      if (isStorageError(e)) throw storageFailure(e, 'the run\'s folder in dataDir/runs', 'nothing was started');
      throw new CommandError('INTERNAL', `${req.wireName}: cannot start: ${(e as Error).message}`);
    }
    return stream.ended;
  };
}

/** What a client is told when it has no run to stop: the runs on the box, and how to stop one of them. */
function nothingToStop(ctx: CommandContext): CommandError {
  const runs = ctx.parts.adhoc.list();
  const kit = ctx.parts.runtime.kitId;
  if (runs.length === 0) return notFound(`nothing to stop: no run on ${kit}`);
  const shown = runs.slice(0, 5).map((r) => `"${r.appName}" (runId ${r.runId}, started ${new Date(r.from * 1000).toISOString()})`).join(', ');
  return notFound(`nothing to stop: this client has no run on ${kit}; running: ${shown}${runs.length > 5 ? ` and ${runs.length - 5} more` : ''}. `
    + 'A run started before a reconnect belongs to the old connection: stop it with stop_python_app {data: {runId}}');
}

/**
 * stop_python_app: stops the requester's run, or with `data.runId` (from get-runtime-info's lsOfRunner) that run,
 * whoever started it. Nothing to stop is NOT_FOUND, shown in the run log with the runs that are there.
 */
const stopHandler: Handler = async (ctx, req) => {
  const adhoc = ctx.parts.adhoc;
  const data = req.body.data;
  const runId = isPlainObject(data) ? str(data, 'runId', { optional: true, max: 64 }) : undefined;
  if (runId !== undefined) {
    if (await adhoc.stopRun(runId, req.wireName)) return Outcome.done({ runId });
    throw notFound(`no run ${runId} on ${ctx.parts.runtime.kitId} (it ended, or the id is wrong: get-runtime-info lists the runs)`);
  }
  // The end of the stopped run arrives as its own isDone reply.
  if (await adhoc.stopOnRequest(ctx.client.id, req.wireName)) return Outcome.done();
  throw nothingToStop(ctx);
};

export const kitRunCommands: Record<string, Command> = {
  run_python_app: { handler: runHandler('python'), kit: { errorLine: 'run_python_app' } },
  run_bin_app: { handler: runHandler('binary'), kit: { errorLine: 'run_bin_app' } },
  // The frontend shows no stop reply; a stop that stopped nothing says so where it shows run output.
  stop_python_app: { handler: stopHandler, kit: { errorLine: 'run_python_app' } },
};
