// Vehicle model commands: generate_vehicle_model {data: VSS JSON (string or object)} and revert_vehicle_model.
// Embedded mode swaps the store atomically; subscriptions to signals that survive keep flowing, the rest are reported.
import type { Parts } from '../parts';
import { VssError } from '../signals/vss';
import { badRequest, conflict } from './errors';
import { hubOf } from './signals';
import type { Command, CommandContext, Frame } from './types';
import { runModelGenerator } from '../signals/model-generator';
import { resourcePath } from '../resources';
import * as fs from 'node:fs';

/** Runs kuksa.modelGenerator when configured, streaming its lines to the requester; adds its outcome to the reply. */
async function withGenerator(ctx: CommandContext, reply: Frame): Promise<Frame> {
  const cmd = ctx.parts.config.kuksa.modelGenerator;
  if (!cmd) return reply;
  const hub = hubOf(ctx.parts);
  const file = fs.existsSync(hub.modelFile) ? hub.modelFile : ctx.parts.config.kuksa.vss || resourcePath('resources/default-vss.json');
  const r = await runModelGenerator(cmd, file, ctx.parts.config.runtime.dataDir, (stream, line) => ctx.emit({ stream, line }));
  return { ...reply, generator: r };
}

export function generateModel(parts: Parts, body: Frame): Frame {
  const hub = hubOf(parts);
  let tree = body.data;
  if (typeof tree === 'string') {
    try { tree = JSON.parse(tree); } catch (e) { throw badRequest(`data: not valid JSON (${(e as Error).message})`); }
  }
  if (!hub.embedded) throw conflict('kuksa.mode is external: the vehicle model lives in the external databroker (restart it with the new --vss file)');
  try {
    const r = hub.setModel(tree, true);
    return { result: 'Successful', leaves: r.leaves, droppedSubscriptions: r.dropped };
  } catch (e) {
    if (e instanceof VssError) throw badRequest(`data: ${e.message}`);
    throw e;
  }
}

export function revertModel(parts: Parts): Frame {
  const hub = hubOf(parts);
  if (!hub.embedded) throw conflict('kuksa.mode is external: the vehicle model lives in the external databroker');
  const r = hub.revertModel();
  return { result: 'Successful', leaves: r.leaves, droppedSubscriptions: r.dropped };
}

export const modelCommands: Record<string, Command> = {
  generate_vehicle_model: { style: 'seed', handler: (ctx, req) => withGenerator(ctx, generateModel(ctx.parts, req.body)) },
  revert_vehicle_model: { style: 'seed', handler: (ctx) => withGenerator(ctx, revertModel(ctx.parts)) },
};
