// Vehicle model commands: generate_vehicle_model {data: VSS JSON (string or object)} and revert_vehicle_model.
// Embedded mode swaps the store atomically; subscriptions to signals that survive keep flowing, the rest are reported.
// External mode restarts the supervised databroker (kuksa-server apps) with --vss <file>; without one it cannot.
import type { Parts } from '../parts';
import { VssError, VssModel } from '../signals/vss';
import { writeFileAtomic } from '../fsutil';
import { badRequest, conflict, errorText } from '../core/errors';
import type { Frame } from '../core/frame';
import type { Command, CommandContext } from './types';
import { runModelGenerator } from '../signals/model-generator';
import { resourcePath } from '../resources';
import * as fs from 'node:fs';
import * as path from 'node:path';

type GeneratorLine = (stream: 'stdout' | 'stderr', line: string) => void;

/**
 * Runs kuksa.modelGenerator when configured, streaming its lines to the requester (as `{stream, line}` frames unless
 * the door says otherwise); adds its outcome to the reply. Both doors' model commands come through here.
 */
export async function withGenerator(ctx: CommandContext, reply: Frame, onLine?: GeneratorLine): Promise<Frame> {
  const cmd = ctx.parts.config.kuksa.modelGenerator;
  if (!cmd) return reply;
  const hub = ctx.parts.signals;
  const file = fs.existsSync(hub.modelFile) ? hub.modelFile : ctx.parts.config.kuksa.vss || resourcePath('resources/default-vss.json');
  const r = await runModelGenerator(cmd, file, ctx.parts.config.runtime.dataDir, onLine ?? ((stream, line) => ctx.emit({ stream, line })));
  return { ...reply, generator: r };
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
async function externalModel(parts: Parts, tree: unknown | null, verb: string): Promise<Frame> {
  const hub = parts.signals;
  const ids = kuksaServers(parts, verb);
  let file: string;
  let leaves: number;
  if (tree !== null) {
    try { leaves = VssModel.parse(tree).size; } catch (e) {
      if (e instanceof VssError) throw badRequest(`data: ${e.message}`);
      throw e;
    }
    writeFileAtomic(hub.modelFile, JSON.stringify(tree));
    file = hub.modelFile;
  } else {
    fs.rmSync(hub.modelFile, { force: true });
    file = parts.config.kuksa.vss ? path.resolve(parts.config.kuksa.vss) : resourcePath('resources/default-vss.json');
    leaves = hub.baseModel().size;
  }
  const kuksaServer = await restartKuksaServers(parts, ids, file);
  const failed = kuksaServer.filter((k) => k.error || k.status === 'error');
  return { result: failed.length ? 'Failed' : 'Successful', leaves, file, kuksaServer, droppedSubscriptions: [] };
}

function parseTree(body: Frame): unknown {
  let tree = body.data;
  if (typeof tree === 'string') {
    try { tree = JSON.parse(tree); } catch (e) { throw badRequest(`data: not valid JSON (${(e as Error).message})`); }
  }
  return tree;
}

export async function generateModel(parts: Parts, body: Frame): Promise<Frame> {
  const hub = parts.signals;
  const tree = parseTree(body);
  if (!hub.embedded) return withPythonModel(parts, await externalModel(parts, tree, 'change'));
  try {
    const r = hub.setModel(tree, true);
    return withPythonModel(parts, { result: 'Successful', leaves: r.leaves, droppedSubscriptions: r.dropped });
  } catch (e) {
    if (e instanceof VssError) throw badRequest(`data: ${e.message}`);
    throw e;
  }
}

export async function revertModel(parts: Parts): Promise<Frame> {
  const hub = parts.signals;
  if (!hub.embedded) return withPythonModel(parts, await externalModel(parts, null, 'revert'));
  const r = hub.revertModel();
  return withPythonModel(parts, { result: 'Successful', leaves: r.leaves, droppedSubscriptions: r.dropped });
}

/** The Python `vehicle` package follows the model before the reply, so the next run imports the new one. */
function withPythonModel(parts: Parts, reply: Frame): Frame {
  const m = parts.python.syncModel(parts.signals);
  void parts.python.refresh();
  const info = parts.python.info();
  return { ...reply, pythonModel: m ? { signals: m.signals, branches: m.branches, source: m.source, ms: m.tookMs } : { signals: 0, note: info.vehicleModelNote ?? null } };
}

export const modelCommands: Record<string, Command> = {
  generate_vehicle_model: { handler: async (ctx, req) => withGenerator(ctx, await generateModel(ctx.parts, req.body)) },
  revert_vehicle_model: { handler: async (ctx) => withGenerator(ctx, await revertModel(ctx.parts)) },
};
