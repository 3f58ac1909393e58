// read-file / write-file: what the frontend's hardware-kit and plugin pages send for signal mappings and VSS files
// (DaRuntimeConnector readFile / writeFile: `read-file {data: "<path>"}`, `write-file {data: {path, content}}`). The
// frontend reads a read-file reply as `data.path` and `data.content` only, so a refusal also puts its reason there
// (`content: "Error: <reason>"`), besides `error`. The files live in runtime.filesDir (src/files/box-files.ts).
// A read-file reply is bounded by what it is on the wire: the file as a JSON string, whose escapes can make it up to six
// times its size, within api.maxPayloadBytes (measured by BoxFiles before the file is decoded).
import { FileRefused } from '../files/box-files';
import { jsonStringBytes } from '../core/json-size';
import { badRequest, CommandError, isStorageError, storageFailure } from '../core/errors';
import type { Frame } from '../core/frame';
import type { Command, CommandRequest } from './types';
import { Outcome } from './outcome';
import { isPlainObject, typeName } from './validate';

/** The path a request names: `data` as a string (read-file) or `data.path`. */
function pathOf(req: CommandRequest): string {
  const d = req.body.data;
  const p = typeof d === 'string' ? d : isPlainObject(d) ? d.path : undefined;
  if (typeof p !== 'string' || p.length === 0) throw badRequest(`data: expected ${req.wireName === 'read-file' ? 'the file\'s path as a string' : '{path, content}'}, got ${typeName(p ?? d)}`);
  return p;
}

/** The reply's envelope besides the path and the content (type, id, result, bytes; a Kit-Manager's cmd and ids). */
const REPLY_OVERHEAD_BYTES = 1024;

/** FileRefused and errno errors as command errors that say what happened to the request. */
function refused(e: unknown, what: string): never {
  if (e instanceof FileRefused) {
    const code = e.kind === 'missing' ? 'NOT_FOUND' : e.kind === 'outside' ? 'FORBIDDEN' : e.kind === 'too-big' ? 'LIMIT' : 'BAD_REQUEST';
    throw new CommandError(code, e.message);
  }
  if (isStorageError(e)) throw storageFailure(e, what, 'the file was not changed');
  const errno = (e as NodeJS.ErrnoException).code;
  if (errno === 'ENOTDIR' || errno === 'EISDIR') throw badRequest(`${what}: a part of the path is a file, not a folder`);
  if (errno === 'ENAMETOOLONG') throw badRequest(`${what}: the path is longer than the file system allows`);
  if (errno === 'EACCES' || errno === 'EPERM') throw new CommandError('FORBIDDEN', `${what}: the agent may not access it (${errno})`);
  throw e;
}

function echoedPath(req: CommandRequest): string {
  const d = req.body.data;
  return (typeof d === 'string' ? d : isPlainObject(d) && typeof d.path === 'string' ? d.path : '').slice(0, 1024);
}

/** The reason where the frontend shows read-file results: data.content (data.error tells a client it failed). */
const readErrorFields = (req: CommandRequest, message: string): Frame => ({ data: { path: echoedPath(req), content: `Error: ${message}`, error: message } });
const writeErrorFields = (req: CommandRequest, message: string): Frame => ({ data: { path: echoedPath(req), error: message } });

export const kitFileCommands: Record<string, Command> = {
  'read-file': {
    kit: { errorFields: readErrorFields },
    handler: async (ctx, req) => {
      const p = pathOf(req);
      const { files } = ctx.parts;
      let r;
      try { r = await files.read(p, { maxReplyBytes: files.maxBytes, otherBytes: jsonStringBytes(p) + REPLY_OVERHEAD_BYTES }); } catch (e) {
        return refused(e, `file ${p.slice(0, 200)}`);
      }
      return Outcome.done({ data: { path: r.path, content: r.content }, bytes: r.bytes });
    },
  },
  'write-file': {
    kit: { errorFields: writeErrorFields },
    handler: (ctx, req) => {
      const p = pathOf(req);
      const content = isPlainObject(req.body.data) ? req.body.data.content : undefined;
      if (typeof content !== 'string') throw badRequest(`data.content: expected the file's text, got ${typeName(content)}`);
      try {
        const r = ctx.parts.files.write(p, content);
        return Outcome.done({ data: { path: r.path, bytes: r.bytes } });
      } catch (e) { return refused(e, `file ${p.slice(0, 200)}`); }
    },
  },
};
