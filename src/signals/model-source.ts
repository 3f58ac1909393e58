// A vehicle model with the hash of the text it came from and where it came from. The embedded store serves it, the
// Python vehicle package is made from it and keeps the hash in its stamp (and the built-in model file's identity): at
// start the agent compares those, instead of generating the package again to see whether it changed.
import { cryptoModule } from '../core/crypto-module';
import fs = require('node:fs');
import { VssError, VssModel } from './vss';

export type ModelOrigin = 'built-in' | 'kuksa.vss' | 'generate_vehicle_model';

export interface ModelSource {
  readonly model: VssModel;
  /** sha256 of the model's JSON text. */
  readonly hash: string;
  readonly source: ModelOrigin;
  /**
   * The built-in model's file as `size:mtime:inode` (fileIdentity): the Python package's stamp keeps it, so a restart
   * on the same file knows the package is current without reading or hashing the text.
   */
  readonly file?: string;
}

export function textHash(text: string): string {
  return cryptoModule().createHash('sha256').update(text).digest('hex');
}

/** Parses a model's JSON text; VssError naming `what` and the offending node. */
function modelFromText(text: string, source: ModelOrigin, what: string): ModelSource {
  return { model: parseModelText(text, what), hash: textHash(text), source };
}

function parseModelText(text: string, what: string): VssModel {
  let tree: unknown;
  try { tree = JSON.parse(text); } catch (e) { throw new VssError(`${what}: not JSON (${(e as Error).message})`); }
  try { return VssModel.parse(tree); } catch (e) { throw new VssError(`${what}: ${(e as Error).message}`); }
}

/**
 * A model file (kuksa.vss, the built-in model, the last generate_vehicle_model); VssError when unreadable or invalid.
 * The built-in model ships with the agent and a unit test parses it, so it is read, hashed and parsed at its first use
 * (`hash`, `model`): a restart's Python package check needs only its `file` identity, or the `knownHash` the single
 * binary brings (the digest of its file's bytes, which is the text's). A file a user gave is parsed now, so a bad one
 * is refused at start, naming the file.
 */
export function loadModelSource(file: string, source: ModelOrigin, knownHash?: string): ModelSource {
  const read = (): string => {
    try { return fs.readFileSync(file, 'utf8'); } catch (e) { throw new VssError(`${file}: ${(e as Error).message}`); }
  };
  if (source !== 'built-in') return modelFromText(read(), source, file);
  let id: string;
  try { id = fileIdentity(fs.statSync(file)); } catch (e) { throw new VssError(`${file}: ${(e as Error).message}`); }
  let text: string | null = null;
  let hash: string | null = knownHash ?? null;
  let model: VssModel | null = null;
  return {
    source,
    file: id,
    get hash(): string { return (hash ??= textHash(text ??= read())); },
    get model(): VssModel {
      if (!model) { model = parseModelText(text ?? read(), file); text = null; }
      return model;
    },
  };
}

/** A file's identity for "has it changed?" (size, modification time, inode: a rewrite by rename changes the inode). */
function fileIdentity(st: fs.Stats): string { return `${st.size}:${st.mtimeMs}:${st.ino}`; }

/**
 * A tree a client sent, with the text it is kept as: the JSON text it came as, or JSON.stringify of it (the hash is
 * that text's). Throws VssError.
 */
export function modelFromTree(tree: unknown, sent?: string): { source: ModelSource; text: string } {
  const model = VssModel.parse(tree);
  const text = sent ?? JSON.stringify(tree);
  return { source: { model, hash: textHash(text), source: 'generate_vehicle_model' }, text };
}
