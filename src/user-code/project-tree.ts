// A multi-file project as the Autowrx frontend sends it, in any language: a prototype's `code` that parses as a JSON
// array is a file tree (the frontend's rule, PrototypeTabCode.tsx getEditorType), its nodes `{type: "folder", name,
// items: [...]}` and `{type: "file", name, content, isBase64?}` (project_editor/types.ts). This module reads such a
// text into a checked list of folders and files (pure: no I/O) and writes one into a fresh folder of the agent's.
// Python projects (python/project.ts) and C++/Rust builds (build/project-build.ts) both take their trees from here.
//
// Checked before anything is written, each refusal a ProjectRefused naming the node by its path in the tree:
//   - every name: a string of 1 to 255 UTF-8 bytes, not "." or "..", no "/", "\", NUL or other control character
//     (so no name is a path, absolute or climbing), unique in its folder;
//   - a node is a file or a folder, nothing else; a file's content is text, or base64 with isBase64: true;
//   - depth (folders below the project's root) at most PROJECT_LIMITS.maxDepth, at most maxEntries files and folders,
//     the files' bytes together at most the caller's bound (apps.maxCodeBytes, which bounds the code they came in);
//   - a node's own `path` field is ignored: a path is only ever made from checked names.
// The project's root: when the tree is one folder (the frontend's templates: `python-project`, `rust-project`), that
// folder's contents; otherwise the list itself. The language decides the entry point (python: `main.py` at the root;
// a build: CMakeLists.txt, Cargo.toml or the sources) and any name it keeps for itself (python: `.python-packages`).
import fs = require('node:fs');
import path = require('node:path');

export const PROJECT_LIMITS = {
  /** Folders below the project's root. */
  maxDepth: 16,
  /** Files and folders together. */
  maxEntries: 2000,
  maxNameBytes: 255,
} as const;

export class ProjectRefused extends Error {
  override name = 'ProjectRefused';
}

export interface ProjectFile {
  /** The names from the project's root to the file, each checked. */
  readonly path: readonly string[];
  readonly content: Buffer;
}

export interface ProjectTree {
  /** Every folder, parents before children, as name lists from the root. */
  readonly folders: ReadonlyArray<readonly string[]>;
  readonly files: readonly ProjectFile[];
  readonly bytes: number;
  /** The name of the one top folder the tree came in (its contents are the root), or null. */
  readonly topFolder: string | null;
}

type Rec = Record<string, unknown>;
const isRec = (v: unknown): v is Rec => v !== null && typeof v === 'object' && !Array.isArray(v);
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;
const BASE64 = /^[A-Za-z0-9+/\s]*={0,2}\s*$/;

/** The cheap first test: code that could be a project's JSON array (plain source code is never parsed as JSON). */
export function mayBeProject(code: string): boolean {
  return code.trimStart().startsWith('[');
}

/**
 * The tree a prototype's code is, or null when it is not a project (not a JSON array: plain source code). Throws
 * ProjectRefused, naming the node, when it is a project the agent will not write.
 */
export function parseProject(code: string, maxBytes: number): ProjectTree | null {
  if (!mayBeProject(code)) return null;
  let parsed: unknown;
  try { parsed = JSON.parse(code); } catch { return null; }
  if (!Array.isArray(parsed)) return null;
  let items: unknown[] = parsed;
  let topFolder: string | null = null;
  if (parsed.length === 1 && isRec(parsed[0]) && parsed[0].type === 'folder') {
    topFolder = checkName(parsed[0].name, 'the top folder');
    items = Array.isArray(parsed[0].items) ? parsed[0].items : refuse(`${topFolder}: a folder's "items" must be a list`);
  }
  const folders: string[][] = [];
  const files: ProjectFile[] = [];
  let bytes = 0;
  // Breadth-first, without recursion: a hostile tree's depth never reaches the stack.
  const queue: Array<{ at: string[]; items: unknown[] }> = [{ at: [], items }];
  while (queue.length > 0) {
    const { at, items: here } = queue.shift()!;
    const seen = new Set<string>();
    for (let i = 0; i < here.length; i++) {
      const node = here[i];
      const where = at.length ? at.join('/') : '(the project root)';
      if (!isRec(node)) refuse(`${where}: entry ${i + 1} is not a {type, name} object`);
      const name = checkName(node.name, `${where}: entry ${i + 1}`);
      const p = [...at, name];
      const shown = p.join('/');
      if (seen.has(name)) refuse(`${shown}: two entries of this name in one folder`);
      seen.add(name);
      if (folders.length + files.length >= PROJECT_LIMITS.maxEntries) refuse(`more than ${PROJECT_LIMITS.maxEntries} files and folders`);
      if (node.type === 'folder') {
        if (p.length > PROJECT_LIMITS.maxDepth) refuse(`${shown}: folders nested deeper than ${PROJECT_LIMITS.maxDepth}`);
        const sub = node.items ?? [];
        if (!Array.isArray(sub)) refuse(`${shown}: a folder's "items" must be a list`);
        folders.push(p);
        queue.push({ at: p, items: sub });
      } else if (node.type === 'file') {
        const content = fileContent(node, shown);
        bytes += content.length;
        if (bytes > maxBytes) refuse(`the files together are larger than ${maxBytes} bytes (apps.maxCodeBytes)`);
        files.push({ path: p, content });
      } else {
        refuse(`${shown}: type ${JSON.stringify(node.type)?.slice(0, 40)} is neither "file" nor "folder"`);
      }
    }
  }
  return { folders, files, bytes, topFolder };
}

function refuse(message: string): never {
  throw new ProjectRefused(message);
}

function checkName(name: unknown, where: string): string {
  if (typeof name !== 'string' || name.length === 0) refuse(`${where}: a name must be a non-empty string`);
  const shown = JSON.stringify(name.length > 60 ? `${name.slice(0, 60)}…` : name);
  if (name === '.' || name === '..') refuse(`${where}: ${shown} is not a file or folder name (no ".." or ".": a project stays in its folder)`);
  if (name.includes('/') || name.includes('\\')) refuse(`${where}: ${shown} holds a path separator; a name is one file or folder`);
  if (CONTROL.test(name)) refuse(`${where}: ${shown} holds NUL or another control character`);
  if (Buffer.byteLength(name) > PROJECT_LIMITS.maxNameBytes) refuse(`${where}: ${shown} is longer than ${PROJECT_LIMITS.maxNameBytes} bytes`);
  return name;
}

function fileContent(node: Rec, shown: string): Buffer {
  const c = node.content ?? '';
  if (typeof c !== 'string') refuse(`${shown}: a file's "content" must be a string`);
  if (node.isBase64 === true) {
    if (!BASE64.test(c)) refuse(`${shown}: isBase64 is set but the content is not base64`);
    return Buffer.from(c, 'base64');
  }
  return Buffer.from(c, 'utf8');
}

/** The file at this path below the project's root (`fileAt(tree, 'main.py')`, `fileAt(tree, 'src', 'main.rs')`), if any. */
export function fileAt(tree: ProjectTree, ...names: string[]): ProjectFile | undefined {
  return tree.files.find((f) => f.path.length === names.length && f.path.every((n, i) => n === names[i]));
}

/** True when a file or folder of this name is at the project's root. */
export function atRoot(tree: ProjectTree, name: string): boolean {
  return tree.files.some((f) => f.path.length === 1 && f.path[0] === name) || tree.folders.some((f) => f.length === 1 && f[0] === name);
}

/** One line that says what a tree is, for a run's log: `python-project/: 3 files, 1 folder, 2 KiB`. */
export function describeProject(tree: ProjectTree): string {
  const n = (k: number, what: string) => `${k} ${what}${k === 1 ? '' : 's'}`;
  const size = tree.bytes < 1024 ? `${tree.bytes} bytes` : `${(tree.bytes / 1024).toFixed(1)} KiB`;
  return `${tree.topFolder ? `${tree.topFolder}/` : 'project'}: ${n(tree.files.length, 'file')}, ${n(tree.folders.length, 'folder')}, ${size}`;
}

/**
 * Writes a checked tree into `dir`, an empty folder of the agent's that no one else can write (0700, in a folder only
 * the agent changes): folders 0700, files 0600, each created exclusively and never through a link. Nothing is written
 * outside `dir`: every path is `dir` joined with checked names. Returns every path made, folders (parents first) then
 * files. Handing the tree to apps.runAs is the caller's (user-files.ts handOverTree, run-as.ts handOver), once it is
 * complete.
 */
export function writeProject(tree: ProjectTree, dir: string): string[] {
  const made: string[] = [];
  for (const f of tree.folders) {
    const p = path.join(dir, ...f);
    fs.mkdirSync(p, { mode: 0o700 });
    made.push(p);
  }
  const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = fs.constants;
  for (const f of tree.files) {
    const p = path.join(dir, ...f.path);
    const fd = fs.openSync(p, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
    try { fs.writeFileSync(fd, f.content); } finally { fs.closeSync(fd); }
    made.push(p);
  }
  return made;
}
