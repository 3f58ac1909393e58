// The Python distributions installed in a folder, in `pip freeze` form, read from their metadata files without a
// process: `<name>.dist-info/METADATA` (pip, wheels), `<name>.egg-info/PKG-INFO` and `<name>.egg-info` files
// (setuptools, Debian's python3-* packages). Used for both places List Python Libraries shows: packages.dir, the run
// user's (anything in it may have been replaced by a link or a FIFO a moment ago), and the interpreter's own folders.
// So, everywhere: an entry is looked at with lstat (a link is skipped, never followed), a metadata file is opened
// O_NOFOLLOW | O_NONBLOCK and read only when it is a regular file (a FIFO would hold open(2) or read(2)), at most
// METADATA_BYTES of it, at most MAX_LISTED entries of a folder; all through fs.promises, off the event loop.
import fs = require('node:fs');
import path = require('node:path');

/** Entries looked at in one folder, and the most of one metadata file read (its head is a few lines). */
export const LIST_LIMITS = { maxListed: 10_000, metadataBytes: 64 * 1024, maxFolders: 32 } as const;

export interface Distribution { readonly name: string; readonly version: string }

const { O_RDONLY, O_NOFOLLOW, O_NONBLOCK } = fs.constants;

/** The distributions in `dir`, sorted by name (case-insensitive); [] when it cannot be read. */
export async function listDistributions(dir: string): Promise<Distribution[]> {
  let entries: string[];
  try { entries = await fs.promises.readdir(dir); } catch { return []; }
  const found: Distribution[] = [];
  for (const e of entries.slice(0, LIST_LIMITS.maxListed)) {
    let file: string;
    if (e.endsWith('.dist-info')) file = path.join(e, 'METADATA');
    else if (e.endsWith('.egg-info')) file = e;
    else continue;
    let st: fs.Stats;
    try { st = await fs.promises.lstat(path.join(dir, e)); } catch { continue; }
    if (st.isSymbolicLink()) continue;
    if (st.isDirectory() && e.endsWith('.egg-info')) file = path.join(e, 'PKG-INFO');
    else if (!st.isDirectory() && e.endsWith('.dist-info')) continue;
    const meta = await headOf(path.join(dir, file));
    if (meta === null) continue;
    const d = distributionOf(meta);
    if (d) found.push(d);
  }
  return found.sort((a, b) => a.name.toLowerCase().localeCompare(b.name.toLowerCase()) || a.version.localeCompare(b.version));
}

/** Name and version from the head of a METADATA / PKG-INFO text (RFC 822 headers up to the first blank line). */
export function distributionOf(meta: string): Distribution | null {
  const head = meta.split(/\r?\n\r?\n/, 1)[0]!;
  const name = /^Name:[ \t]*(.+)$/m.exec(head)?.[1]?.trim();
  const version = /^Version:[ \t]*(.+)$/m.exec(head)?.[1]?.trim();
  return name && version ? { name: name.slice(0, 200), version: version.slice(0, 100) } : null;
}

/** The first metadataBytes of a regular file, never through a link, never waiting on a FIFO; null otherwise. */
async function headOf(file: string): Promise<string | null> {
  let fh: fs.promises.FileHandle | null = null;
  try {
    fh = await fs.promises.open(file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
    if (!(await fh.stat()).isFile()) return null;
    const buf = Buffer.alloc(LIST_LIMITS.metadataBytes);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    return buf.subarray(0, bytesRead).toString('utf8');
  } catch { return null; } finally { await fh?.close().catch(() => {}); }
}

/** `name==version` lines, as pip freeze prints them. */
export function freezeLines(list: readonly Distribution[]): string {
  return list.map((d) => `${d.name}==${d.version}`).join('\n');
}
