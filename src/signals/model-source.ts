// A vehicle model with the hash of the text it came from and where it came from. The embedded store serves it, the
// Python vehicle package is made from it and keeps the hash in its stamp: at start the agent hashes the model text it
// reads anyway and compares, instead of generating the package again to see whether it changed.
import crypto = require('node:crypto');
import fs = require('node:fs');
import { VssError, VssModel } from './vss';

export type ModelOrigin = 'built-in' | 'kuksa.vss' | 'generate_vehicle_model';

export interface ModelSource {
  readonly model: VssModel;
  /** sha256 of the model's JSON text. */
  readonly hash: string;
  readonly source: ModelOrigin;
}

export function textHash(text: string): string {
  return crypto.createHash('sha256').update(text).digest('hex');
}

/** Parses a model's JSON text; VssError naming `what` and the offending node. */
export function modelFromText(text: string, source: ModelOrigin, what: string): ModelSource {
  let tree: unknown;
  try { tree = JSON.parse(text); } catch (e) { throw new VssError(`${what}: not JSON (${(e as Error).message})`); }
  try { return { model: VssModel.parse(tree), hash: textHash(text), source }; } catch (e) { throw new VssError(`${what}: ${(e as Error).message}`); }
}

/** A model file (kuksa.vss, the built-in model, the last generate_vehicle_model); VssError when unreadable or invalid. */
export function loadModelSource(file: string, source: ModelOrigin): ModelSource {
  let text: string;
  try { text = fs.readFileSync(file, 'utf8'); } catch (e) { throw new VssError(`${file}: ${(e as Error).message}`); }
  return modelFromText(text, source, file);
}

/**
 * A tree a client sent, with the text it is kept as: the JSON text it came as, or JSON.stringify of it (the hash is
 * that text's). Throws VssError.
 */
export function modelFromTree(tree: unknown, sent?: string): { source: ModelSource; text: string } {
  const model = VssModel.parse(tree);
  const text = sent ?? JSON.stringify(tree);
  return { source: { model, hash: textHash(text), source: 'generate_vehicle_model' }, text };
}
