// The folder of files the playground may read and write on the box (runtime.filesDir, default dataDir/files): signal
// mappings and VSS files of the hardware-kit and plugin pages. Every path a client sends is taken inside that folder:
// "/app/remote_access/vss.json" and "app/remote_access/vss.json" both name <folder>/app/remote_access/vss.json. A path
// with "..", NUL or a backslash is refused, and so is one that leads out of the folder through a symbolic link. Only
// regular files are read: a FIFO, socket or device is refused before it is opened (opening a FIFO to read waits for a
// writer, and the event loop with it). Files are at most maxBytes; a read can be bounded by the reply it makes, as JSON
// text, which escapes can make six times the file (measured in slices before the file is decoded). Reads run one at a
// time and off the event loop, so a file is in memory once however many clients ask for it. Writes are atomic (temp
// file, fsync, rename) and private (0600, folders 0700).
import { isUtf8 } from 'node:buffer';
import fs = require('node:fs');
import path = require('node:path');
import { setImmediate as nextTurn } from 'node:timers/promises';
import { jsonStringBytes, jsonUtf8Bytes } from '../core/json-size';
import { ensurePrivateDir, writeFileAtomic } from '../fsutil';

export const MAX_PATH = 1024;
/** NAME_MAX of Linux file systems. */
const MAX_NAME_BYTES = 255;

export class FileRefused extends Error {
  override name = 'FileRefused';
  constructor(readonly kind: 'bad-path' | 'outside' | 'missing' | 'not-a-file' | 'too-big', message: string) { super(message); }
}

/** A read's reply: at most `maxReplyBytes` in all, of which `otherBytes` are not the file's (its path, the envelope). */
export interface ReplyBound { readonly maxReplyBytes: number; readonly otherBytes: number }

/** Bytes of a file measured as JSON text between two turns of the event loop. */
const MEASURE_SLICE = 1024 * 1024;

/** What a directory entry is, in words, for a refusal. */
function kindOf(st: fs.Stats): string {
  return st.isDirectory() ? 'a folder' : st.isFIFO() ? 'a FIFO (named pipe)' : st.isSocket() ? 'a socket'
    : st.isCharacterDevice() || st.isBlockDevice() ? 'a device' : st.isSymbolicLink() ? 'a symbolic link' : 'not a regular file';
}

export class BoxFiles {
  readonly root: string;
  /** The read in progress, which the next one waits for. */
  private reading: Promise<unknown> = Promise.resolve();

  /** `maxBytes`: the most a file may have (api.maxPayloadBytes: a reply carries it). */
  constructor(root: string, readonly maxBytes: number) {
    this.root = path.resolve(root);
  }

  /** The absolute file a client path names, inside the folder; throws FileRefused. */
  resolve(clientPath: string): string {
    if (typeof clientPath !== 'string' || clientPath.length === 0) throw new FileRefused('bad-path', 'expected a file path');
    if (clientPath.length > MAX_PATH) throw new FileRefused('bad-path', `a path longer than ${MAX_PATH} characters`);
    if (clientPath.includes('\0')) throw new FileRefused('bad-path', 'a path must not contain NUL');
    if (clientPath.includes('\\')) throw new FileRefused('bad-path', 'a path must not contain "\\"');
    const parts = clientPath.split('/').filter((p) => p !== '' && p !== '.');
    if (parts.includes('..')) throw new FileRefused('outside', `${JSON.stringify(clientPath.slice(0, 200))} climbs out of the box's file folder with ".."`);
    if (parts.length === 0) throw new FileRefused('bad-path', `${JSON.stringify(clientPath.slice(0, 200))} names the folder itself, not a file`);
    // Linux refuses a name over 255 bytes (ENAMETOOLONG); say so before asking it (a few emoji reach that in 64 characters).
    const long = parts.find((n) => Buffer.byteLength(n) > MAX_NAME_BYTES);
    if (long) throw new FileRefused('bad-path', `${JSON.stringify(long.slice(0, 60))}…: a file or folder name longer than ${MAX_NAME_BYTES} bytes`);
    return path.join(this.root, ...parts);
  }

  /** Refuses a file whose existing part of the path leads out of the folder through a symbolic link. */
  private confine(file: string, clientPath: string): void {
    const rootReal = fs.realpathSync(this.root);
    let probe = file;
    for (;;) {
      let real: string;
      try { real = fs.realpathSync(probe); } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
        const up = path.dirname(probe);
        if (up === probe) return;
        probe = up;
        continue;
      }
      if (real !== rootReal && !real.startsWith(`${rootReal}${path.sep}`)) {
        throw new FileRefused('outside', `${JSON.stringify(clientPath.slice(0, 200))} leads out of the box's file folder (a symbolic link)`);
      }
      return;
    }
  }

  /** A file's text; refused (FileRefused) for what is not a regular file in the folder, or makes too big a reply. */
  read(clientPath: string, bound?: ReplyBound): Promise<{ path: string; content: string; bytes: number }> {
    const run = this.reading.then(() => this.readNow(clientPath, bound));
    this.reading = run.catch(() => {});
    return run;
  }

  private async readNow(clientPath: string, bound?: ReplyBound): Promise<{ path: string; content: string; bytes: number }> {
    const file = this.resolve(clientPath);
    ensurePrivateDir(this.root);
    this.confine(file, clientPath);
    const notAFile = (st: fs.Stats) => new FileRefused('not-a-file', `${clientPath} is ${kindOf(st)}, not a file; the box reads only regular files`);
    // Looked at before it is opened: open(2) of a FIFO for reading waits for a writer, and a device's open may act.
    let before: fs.Stats;
    try { before = fs.lstatSync(file); } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw this.missing(clientPath);
      throw e;
    }
    if (before.isSymbolicLink()) throw new FileRefused('outside', `${clientPath} is a symbolic link; the box reads only plain files`);
    if (!before.isFile()) throw notAFile(before);
    // O_NONBLOCK: should a FIFO be swapped in after the look, its open does not wait either; fstat then refuses it.
    let fd: number;
    try { fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK); } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') throw this.missing(clientPath);
      if (code === 'ELOOP') throw new FileRefused('outside', `${clientPath} is a symbolic link; the box reads only plain files`);
      throw e;
    }
    let buf: Buffer;
    try {
      const st = fs.fstatSync(fd);
      if (!st.isFile()) throw notAFile(st);
      if (st.size > this.maxBytes) throw new FileRefused('too-big', `${clientPath} has ${st.size} bytes, more than the ${this.maxBytes} a reply may carry (api.maxPayloadBytes)`);
      buf = await new Promise<Buffer>((resolve, reject) => fs.readFile(fd, (err, b) => (err ? reject(err) : resolve(b))));
    } finally { fs.closeSync(fd); }
    if (bound) await this.checkReply(clientPath, buf, bound);
    return { path: clientPath, content: buf.toString('utf8'), bytes: buf.length };
  }

  /** Refuses ('too-big') a file whose reply, with the file as a JSON string, would be over the bound. */
  private async checkReply(clientPath: string, buf: Buffer, { maxReplyBytes, otherBytes }: ReplyBound): Promise<void> {
    // Six bytes a byte at most (\u0001); only a file that could be over is measured.
    if (buf.length * 6 + 2 + otherBytes <= maxReplyBytes) return;
    let json = 2;
    if (isUtf8(buf)) {
      for (let at = 0; at < buf.length; at += MEASURE_SLICE) {
        if (at > 0) await nextTurn();
        json += jsonUtf8Bytes(buf, at, Math.min(buf.length, at + MEASURE_SLICE));
      }
    } else json = jsonStringBytes(buf.toString('utf8')); // invalid UTF-8 becomes U+FFFD: measured as decoded
    const reply = json + otherBytes;
    if (reply > maxReplyBytes) {
      throw new FileRefused('too-big', `${clientPath} has ${buf.length} bytes, but as JSON text (its control characters, quotes and backslashes escaped) the reply would be about ${reply} bytes, more than the ${maxReplyBytes} a reply may carry (api.maxPayloadBytes)`);
    }
  }

  private missing(clientPath: string): FileRefused {
    return new FileRefused('missing', `no file ${clientPath} in the box's file folder yet (runtime.filesDir): write it first`);
  }

  write(clientPath: string, content: string): { path: string; bytes: number } {
    const file = this.resolve(clientPath);
    const bytes = Buffer.byteLength(content);
    if (bytes > this.maxBytes) throw new FileRefused('too-big', `${bytes} bytes, more than the ${this.maxBytes} a file may have (api.maxPayloadBytes)`);
    ensurePrivateDir(this.root);
    this.confine(file, clientPath);
    ensurePrivateDir(path.dirname(file));
    // The folders just made are checked again: a link swapped in meanwhile is not followed out.
    this.confine(file, clientPath);
    try {
      const st = fs.lstatSync(file);
      if (st.isSymbolicLink()) throw new FileRefused('outside', `${clientPath} is a symbolic link; the box writes only plain files`);
      if (!st.isFile()) throw new FileRefused('not-a-file', `${clientPath} is ${kindOf(st)}, not a file; the box writes only regular files`);
    } catch (e) { if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e; }
    writeFileAtomic(file, content);
    return { path: clientPath, bytes };
  }
}
