// The Kit-Manager's `cmd` commands (the Autowrx frontend and the Python runtime's names and reply shapes, see
// shared/kit-manager-protocol.md). Transport-free like every handler: replies go out through ctx.emit and the return
// value, and the door adds cmd, request_from and kit_id. Where the part doing the real work is not built yet, the
// command answers with an honest UNAVAILABLE error instead of pretending.
import * as nodePath from 'node:path';
import { badRequest, CommandError, isStorageError, storageFailure } from './errors';
import { needPart } from './part';
import { runtimeInfo } from './runtime';
import type { Command, CommandContext, Frame, Handler } from './types';
import { isPlainObject, obj, str, typeName } from './validate';
import type { Parts } from '../parts';
import { parseDeploy } from './apps';
import { legacySignalCommands } from './legacy-signals';
import { traceForRun, type RunTrace } from './vars';

// ---- ad-hoc runs --------------------------------------------------------------------------------------------------

const MAX_RUN_NAME = 128;

/** Streams a run's output as `{isDone:false, result, code:0}` and its end as `{isDone:true, code, result:""}`. */
export function runStreamer(ctx: CommandContext): { output(text: string): void; exit(code: number | null): void } {
  // The ad-hoc part already coalesces lines arriving within ~20 ms into one call: one call, one reply.
  let done = false;
  return {
    output(text) {
      if (done || typeof text !== 'string' || text === '') return;
      ctx.emit({ isDone: false, result: text.replace(/\r?\n/g, '\r\n'), code: 0 });
    },
    exit(code) {
      if (done) return;
      done = true;
      // Killed by a signal (code null) reads as a failure to the frontend.
      ctx.emit({ isDone: true, code: typeof code === 'number' ? code : 1, result: '' });
    },
  };
}

function runHandler(kind: 'python' | 'binary'): Handler {
  return async (ctx, req) => {
    const adhoc = needPart(ctx.parts, 'adhoc');
    let name: string;
    let code: string | undefined;
    let path: string | undefined;
    let trace: RunTrace = { end() {} };
    if (kind === 'python') {
      const data = obj(req.body, 'data')!;
      code = str(data, 'code', { max: ctx.parts.config.apps.maxCodeBytes });
      name = str(data, 'name', { optional: true, max: MAX_RUN_NAME }) ?? 'adhoc';
      trace = await traceForRun(ctx, data); // watch_vars (issue 6, commands/vars.ts)
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
      // Only the binaries the operator placed in dataDir/bin: a name (what the playground sends), or their absolute
      // path. Anything else on the box (/sbin/reboot…) is not the playground's to run.
      const binDir = nodePath.resolve(ctx.parts.config.runtime.dataDir, 'bin');
      if (!path.startsWith('/')) {
        if (path.includes('/') || path.includes('\\') || path.includes('\0') || path === '.' || path === '..') throw badRequest('data: expected a binary name (no "/")');
        path = nodePath.join(binDir, path);
      } else if (path.includes('\0') || !nodePath.resolve(path).startsWith(`${binDir}/`)) {
        throw new CommandError('FORBIDDEN', `data: ${JSON.stringify(path.slice(0, 200))} is outside ${binDir}; run_bin_app runs the binaries placed there: send a name`);
      }
    }
    const stream = runStreamer(ctx);
    try {
      await adhoc.start({ owner: ctx.client.id, from: ctx.client.door, name, kind, ...(code !== undefined ? { code } : { path }), onOutput: stream.output, onExit: (c) => { trace.end(); stream.exit(c); }, ...(trace.tracer ? { tracer: trace.tracer } : {}) });
    } catch (e) {
      trace.end();
      if (isStorageError(e)) throw storageFailure(e, 'the run\'s folder in dataDir/runs', 'nothing was started');
      throw new CommandError('INTERNAL', `${req.wireName}: cannot start: ${(e as Error).message}`);
    }
    return undefined;
  };
}

// ---- deployment ---------------------------------------------------------------------------------------------------

/**
 * deploy_request / deploy_n_run: deploy `VEA-<prototype.id>` from the Kit-Manager's convertedCode (unless the
 * frontend disabled conversion) or the code as sent; progress streams as cmd "deploy-request" lines.
 */
function deployHandler(andRun: boolean): Handler {
  return async (ctx, req) => {
    const apps = needPart(ctx.parts, 'apps');
    const b = req.body;
    const proto = obj(b, 'prototype')!;
    const converted = b.disable_code_convert !== true && typeof b.convertedCode === 'string' && b.convertedCode.length > 0;
    const code = converted ? b.convertedCode : b.code;
    if (typeof code !== 'string' || code.length === 0) throw badRequest('code: required, expected the prototype\'s python source');
    const spec = parseDeploy(ctx.parts, { prototype: { id: proto.id, name: proto.name ?? proto.id, type: 'python', code, config: { autoStart: andRun } } });
    const line = (text: string) => ctx.emit({ cmd: 'deploy-request', result: `${text}\r\n`, is_finish: false });
    const user = typeof b.username === 'string' ? ` from ${b.username.slice(0, 64)}` : '';
    line(`Received prototype "${spec.name}"${user}: ${Buffer.byteLength(code)} bytes of ${converted ? 'converted' : 'original'} code`);
    line(`Installing ${spec.appId}`);
    const rec = await apps.deploy(spec);
    const outcome = andRun ? `${spec.appId} deployed and ${rec.status}` : `${spec.appId} deployed (${rec.status})`;
    return { cmd: 'deploy-request', result: `${outcome}\r\n`, is_finish: true, appId: rec.id, status: rec.status };
  };
}

// ---- runtime state ------------------------------------------------------------------------------------------------

export interface RuntimeStateData extends Frame {
  noOfRunner: number;
  noOfApiSubscriber: number;
  lsOfRunner: Array<{ appName: string; request_from: string; from: unknown }>;
  lsOfApiSubscriber: Record<string, { apis: string[]; from: number }>;
}

/** The Python runtime's lsOfRunner / lsOfApiSubscriber shape (times in epoch seconds), from the parts running. */
export function runtimeState(parts: Parts): RuntimeStateData {
  const lsOfRunner: RuntimeStateData['lsOfRunner'] = (parts.adhoc?.list() ?? []).map((r) => ({ appName: r.appName, request_from: r.request_from, from: r.from }));
  const lsOfApiSubscriber: RuntimeStateData['lsOfApiSubscriber'] = {};
  for (const s of parts.signals?.subscribers() ?? []) lsOfApiSubscriber[s.clientId] = { apis: s.apis, from: Math.floor(s.since / 1000) };
  return { noOfRunner: lsOfRunner.length, noOfApiSubscriber: Object.keys(lsOfApiSubscriber).length, lsOfRunner, lsOfApiSubscriber };
}

// ---- the table ----------------------------------------------------------------------------------------------------

const legacy = (handler: Handler): Command => ({ style: 'legacy', handler });

export const legacyCommands: Record<string, Command> = {
  run_python_app: legacy(runHandler('python')),
  run_bin_app: legacy(runHandler('binary')),
  stop_python_app: legacy(async (ctx) => {
    const adhoc = needPart(ctx.parts, 'adhoc');
    await adhoc.stopOwner(ctx.client.id);
    // The end of each stopped run arrives as its own isDone reply.
    return { result: 'Successful' };
  }),
  deploy_request: legacy(deployHandler(false)),
  deploy_n_run: legacy(deployHandler(true)),
  ...legacySignalCommands,
  'get-runtime-info': legacy((ctx) => ({
    data: { ...runtimeInfo(ctx.parts), ...runtimeState(ctx.parts), kitManagerDroppedReplies: ctx.parts.status.kitManager.droppedReplies },
  })),
};
