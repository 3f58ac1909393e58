// Vehicle model commands: generate_vehicle_model {data: VSS JSON (string or object)} and revert_vehicle_model.
// Embedded mode swaps the store atomically; subscriptions to signals that survive keep flowing, the rest are reported.
// The Python vehicle package is made before the model changes and put in place after (PythonEnvironment.change).
// External mode restarts the supervised databroker (kuksa-server apps) with --vss <file>; without one it cannot.
import type { Parts } from '../parts';
import { DEFAULT_MODEL, VssError } from '../signals/vss';
import { modelFromTree, type ModelSource } from '../signals/model-source';
import { PythonModelError } from '../python/model-code';
import { writeFileAtomic } from '../fsutil';
import { badRequest, CommandError, conflict, errorText, storageFailure } from '../core/errors';
import type { Frame } from '../core/frame';
import type { Command, CommandContext } from './types';
import { Outcome } from './outcome';
import { runModelGenerator } from '../signals/model-generator';
import { resourcePath } from '../resources';
import fs = require('node:fs');
import path = require('node:path');

type GeneratorLine = (stream: 'stdout' | 'stderr', line: string) => void;

/**
 * Runs kuksa.modelGenerator when configured, streaming its lines to the requester (as `{stream, line}` frames unless
 * the door says otherwise); adds its outcome to the reply. Both doors' model commands come through here.
 */
export async function withGenerator(ctx: CommandContext, reply: Outcome, onLine?: GeneratorLine): Promise<Outcome> {
  const cmd = ctx.parts.config.kuksa.modelGenerator;
  if (!cmd) return reply;
  const hub = ctx.parts.signals;
  const file = fs.existsSync(hub.modelFile) ? hub.modelFile : ctx.parts.config.kuksa.vss || resourcePath(DEFAULT_MODEL);
  const r = await runModelGenerator(cmd, file, ctx.parts.config.runtime.dataDir, onLine ?? ((stream, line) => ctx.emit({ stream, line })));
  return reply.with({ generator: r });
}

/** The databroker apps the agent supervises (type kuksa-server); external mode can only change the model through them. */
function kuksaServers(parts: Parts, verb: string): string[] {
  const ids = parts.apps.list().filter((a) => a.type === 'kuksa-server').map((a) => a.id as string);
  if (!ids.length) {
    throw conflict(`kuksa.mode is external and no kuksa-server app is deployed: the vehicle model lives in the databroker at ${parts.config.kuksa.address}, which the agent does not run; ${verb} it there (restart it with --vss <file>), or deploy the databroker as a kuksa-server app`);
  }
  return ids;
}

/** args with `--vss <file>` (or `--vss=<file>`) replaced, or appended when absent. */
export function withVssArg(args: readonly string[], file: string): string[] {
  const out: string[] = [];
  let done = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--vss') { if (!done) out.push('--vss', file); done = true; i++; continue; }
    if (a.startsWith('--vss=')) { if (!done) out.push(`--vss=${file}`); done = true; continue; }
    out.push(a);
  }
  if (!done) out.push('--vss', file);
  return out;
}

/** Restarts every kuksa-server app with --vss file; one failing does not stop the others, the reply says which. */
async function restartKuksaServers(parts: Parts, ids: string[], file: string): Promise<Frame[]> {
  const out: Frame[] = [];
  for (const id of ids) {
    try {
      const rec = parts.apps!.get(id);
      const r = await parts.apps!.setArgs(id, withVssArg(rec.config.args, file));
      out.push({ appId: id, restarted: r.restarted, status: r.rec.status, args: r.rec.config.args });
    } catch (e) {
      out.push({ appId: id, restarted: false, status: parts.apps!.has(id) ? parts.apps!.get(id).status : 'gone', error: errorText(e) });
    }
  }
  return out;
}

/** External mode: the model goes to dataDir and into every kuksa-server app's --vss; live ones restart. */
async function externalModel(parts: Parts, ids: string[], next: { text: string; leaves: number } | null): Promise<Outcome> {
  const hub = parts.signals;
  let file: string;
  let leaves: number;
  if (next) {
    writeFileAtomic(hub.modelFile, next.text);
    file = hub.modelFile;
    leaves = next.leaves;
  } else {
    fs.rmSync(hub.modelFile, { force: true });
    file = parts.config.kuksa.vss ? path.resolve(parts.config.kuksa.vss) : resourcePath(DEFAULT_MODEL);
    leaves = hub.baseModel().size;
  }
  const kuksaServer = await restartKuksaServers(parts, ids, file);
  const failed = kuksaServer.filter((k) => k.error || k.status === 'error');
  const fields = { leaves, file, kuksaServer, droppedSubscriptions: [] };
  return failed.length ? Outcome.failed('Failed', fields) : Outcome.done(fields);
}

function parseTree(body: Frame): unknown {
  let tree = body.data;
  if (typeof tree === 'string') {
    try { tree = JSON.parse(tree); } catch (e) { throw badRequest(`data: not valid JSON (${(e as Error).message})`); }
  }
  return tree;
}

/** A file system error as a STORAGE (or LIMIT) refusal that says what was not written; anything else as it is. */
function asStorage(e: unknown, what: string, outcome: string): unknown {
  if (e instanceof CommandError) return e;
  const code = (e as NodeJS.ErrnoException | null)?.code;
  return typeof code === 'string' && /^E[A-Z]+$/.test(code) ? storageFailure(e, what, outcome) : e;
}

/** The configured model (kuksa.vss or the built-in one); a kuksa.vss that does not load is the box's problem. */
function baseSource(parts: Parts): ModelSource {
  try { return parts.signals.baseSource(); } catch (e) {
    if (e instanceof VssError) throw conflict(`the configured vehicle model cannot be loaded: ${e.message}`);
    throw e;
  }
}

/**
 * A model change and the Python `vehicle` package that follows it before the reply, so the next run imports the new
 * model. The package is made first: a model it cannot be made from (a name Python cannot hold, too big, a full disk)
 * is refused with nothing changed. When it cannot be put in place after the change, the reply is `Failed` with the
 * reason, and /health is degraded until a later change or start puts a matching package in place.
 */
async function withPackage(parts: Parts, next: ModelSource | null, apply: () => Promise<Outcome> | Outcome): Promise<Outcome> {
  let out;
  try {
    out = await parts.python.change(next, async () => {
      try { return await apply(); } catch (e) { throw asStorage(e, 'the vehicle model', 'it was not changed'); }
    });
  } catch (e) {
    if (e instanceof PythonModelError) throw badRequest(`data: ${e.message}`);
    throw asStorage(e, 'the Python vehicle package of the new model', 'the vehicle model was not changed');
  }
  void parts.python.refresh();
  const { result: reply, state, error, note } = out;
  const pythonModel = error
    ? { signals: state?.signals ?? 0, error }
    : state ? { signals: state.signals, branches: state.branches, source: state.source, ms: state.tookMs } : { signals: 0, note };
  return (error ? Outcome.failed('Failed', { ...reply.fields, error }) : reply).with({ pythonModel });
}

export async function generateModel(parts: Parts, body: Frame): Promise<Outcome> {
  const hub = parts.signals;
  let next: { source: ModelSource; text: string };
  // A model sent as a JSON text is kept as that text: no second serialisation of megabytes.
  try { next = modelFromTree(parseTree(body), typeof body.data === 'string' ? body.data : undefined); } catch (e) {
    if (e instanceof VssError) throw badRequest(`data: ${e.message}`);
    throw e;
  }
  if (!hub.embedded) {
    const ids = kuksaServers(parts, 'change');
    return withPackage(parts, next.source, () => externalModel(parts, ids, { text: next.text, leaves: next.source.model.size }));
  }
  return withPackage(parts, next.source, () => {
    const r = hub.setModel(next.source, next.text);
    return Outcome.done({ leaves: r.leaves, droppedSubscriptions: r.dropped });
  });
}

export async function revertModel(parts: Parts): Promise<Outcome> {
  const hub = parts.signals;
  if (!hub.embedded) {
    const ids = kuksaServers(parts, 'revert');
    // What the agent knows the databroker serves after the revert: kuksa.vss, or nothing.
    const next = parts.config.kuksa.vss ? baseSource(parts) : null;
    return withPackage(parts, next, () => externalModel(parts, ids, null));
  }
  const base = baseSource(parts);
  return withPackage(parts, base, () => {
    const r = hub.revertModel(base);
    return Outcome.done({ leaves: r.leaves, droppedSubscriptions: r.dropped });
  });
}

export const modelCommands: Record<string, Command> = {
  generate_vehicle_model: { handler: async (ctx, req) => withGenerator(ctx, await generateModel(ctx.parts, req.body)) },
  revert_vehicle_model: { handler: async (ctx) => withGenerator(ctx, await revertModel(ctx.parts)) },
};
