// A project as the playground sends it: `code` is the JSON text of a file tree (the project editor's FileSystemItem,
// frontend/src/components/molecules/project_editor/types.ts): [{type:"folder", name, items:[…]}, {type:"file", name,
// content, isBase64?}]. parseTree checks every name and bound before anything is written; writeTree writes the checked
// tree into a fresh folder of the agent's. Nothing here trusts the client's `path` fields: paths are built from the
// checked names only.
//
// The project's root: when the tree's top level is exactly one folder (what the playground's templates send,
// "rust-project"/…), that folder is the root; otherwise the top level is.
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface TreeLimits {
  /** Folders below the project's root. */
  readonly maxDepth: number;
  /** Files and folders together. */
  readonly maxEntries: number;
  /** The decoded content of all files. */
  readonly maxBytes: number;
  /** UTF-8 bytes of one name (the usual NAME_MAX). */
  readonly maxNameBytes: number;
}

export const TREE_LIMITS: TreeLimits = { maxDepth: 16, maxEntries: 2000, maxBytes: 16 * 1024 * 1024, maxNameBytes: 255 };

export interface TreeFile {
  /** The path below the project's root, as checked names. */
  readonly segments: readonly string[];
  readonly content: Buffer;
}

export interface ProjectTree {
  /** The files, in the tree's order. */
  readonly files: readonly TreeFile[];
  /** Every folder below the root (segments), parents before children. */
  readonly folders: ReadonlyArray<readonly string[]>;
  /** The top folder that became the root ('' when the top level is the root). */
  readonly topFolder: string;
  readonly bytes: number;
}

/** A tree refused: the message names the entry (its path in the tree) and why. */
export class TreeError extends Error { override name = 'TreeError'; }

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** True when `code` is a project (a JSON array), as the frontend decides (PrototypeTabCode.tsx getEditorType). */
export function isProjectTree(code: string): boolean {
  const head = code.trimStart();
  if (!head.startsWith('[')) return false;
  try { return Array.isArray(JSON.parse(code)); } catch { return false; }
}

/** Why a name cannot be a file or folder name, or null when it can. */
export function badName(name: unknown, limits: TreeLimits = TREE_LIMITS): string | null {
  if (typeof name !== 'string' || name === '') return 'a name must be a non-empty string';
  if (name.startsWith('/')) return 'an absolute path is not a name';
  if (name === '.' || name === '..') return `a name may not be "${name}"`;
  if (name.includes('/') || name.includes('\\')) return 'a name may not contain "/" or "\\"';
  if (name.includes('\0')) return 'a name may not contain NUL';
  if (/[\x01-\x1f\x7f]/.test(name)) return 'a name may not contain control characters';
  if (Buffer.byteLength(name) > limits.maxNameBytes) return `a name may be at most ${limits.maxNameBytes} bytes`;
  return null;
}

/** Checks the whole tree; throws TreeError naming the first entry that is refused. */
export function parseTree(code: string, limits: TreeLimits = TREE_LIMITS): ProjectTree {
  let top: unknown;
  try { top = JSON.parse(code); } catch (e) { throw new TreeError(`the project is not valid JSON: ${(e as Error).message}`); }
  if (!Array.isArray(top)) throw new TreeError('the project must be a JSON array of files and folders');
  let items = top;
  let topFolder = '';
  const only = top.length === 1 ? top[0] as Record<string, unknown> | null : null;
  if (only && typeof only === 'object' && only.type === 'folder') {
    const why = badName(only.name, limits);
    if (why) throw new TreeError(`the project's top folder ${JSON.stringify(String(only.name).slice(0, 80))}: ${why}`);
    if (!Array.isArray(only.items)) throw new TreeError(`${String(only.name)}: a folder needs "items" (an array)`);
    topFolder = only.name as string;
    items = only.items;
  }
  const files: TreeFile[] = [];
  const folders: string[][] = [];
  let entries = 0;
  let bytes = 0;
  const walk = (list: unknown[], at: string[]) => {
    const seen = new Set<string>();
    for (const raw of list) {
      const where = (n: unknown) => [topFolder, ...at, typeof n === 'string' ? n : JSON.stringify(n)].filter(Boolean).join('/').slice(0, 300);
      if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new TreeError(`${where('')}: every entry must be an object {type, name}`);
      const item = raw as Record<string, unknown>;
      const why = badName(item.name, limits);
      if (why) throw new TreeError(`${where(item.name)}: ${why}`);
      const name = item.name as string;
      if (seen.has(name)) throw new TreeError(`${where(name)}: appears twice in its folder`);
      seen.add(name);
      if (++entries > limits.maxEntries) throw new TreeError(`the project has more than ${limits.maxEntries} files and folders`);
      const segments = [...at, name];
      if (item.type === 'folder') {
        if (segments.length > limits.maxDepth) throw new TreeError(`${where(name)}: folders nested deeper than ${limits.maxDepth}`);
        if (!Array.isArray(item.items)) throw new TreeError(`${where(name)}: a folder needs "items" (an array)`);
        folders.push(segments);
        walk(item.items, segments);
      } else if (item.type === 'file') {
        const text = item.content ?? '';
        if (typeof text !== 'string') throw new TreeError(`${where(name)}: "content" must be a string`);
        let content: Buffer;
        if (item.isBase64 === true) {
          const packed = text.replace(/\s+/g, '');
          if (!BASE64.test(packed)) throw new TreeError(`${where(name)}: "content" is not base64 (isBase64 is set)`);
          content = Buffer.from(packed, 'base64');
        } else content = Buffer.from(text, 'utf8');
        bytes += content.length;
        if (bytes > limits.maxBytes) throw new TreeError(`the project's files hold more than ${limits.maxBytes} bytes`);
        files.push({ segments, content });
      } else {
        throw new TreeError(`${where(name)}: "type" must be "file" or "folder"`);
      }
    }
  };
  walk(items, []);
  return { files, folders, topFolder, bytes };
}

/** True when the tree has a file at `segments` (e.g. ['CMakeLists.txt']). */
export function hasFile(tree: ProjectTree, ...segments: string[]): boolean {
  return tree.files.some((f) => f.segments.length === segments.length && f.segments.every((s, i) => s === segments[i]));
}

/**
 * Writes the tree into `dir`, an empty folder only the agent can write (with apps.runAs it is handed over afterwards):
 * folders 0700, files 0600, each created exclusively. Returns every path made, children after their folder.
 */
export function writeTree(tree: ProjectTree, dir: string): string[] {
  const made: string[] = [];
  for (const segs of tree.folders) {
    const p = path.join(dir, ...segs);
    fs.mkdirSync(p, { mode: 0o700 });
    made.push(p);
  }
  for (const f of tree.files) {
    const p = path.join(dir, ...f.segments);
    fs.writeFileSync(p, f.content, { mode: 0o600, flag: 'wx' });
    made.push(p);
  }
  return made;
}
