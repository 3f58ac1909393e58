// Errors a handler throws on purpose. The message is for a person and says what to do; the code is stable.
export type ErrorCode =
  | 'BAD_REQUEST' | 'UNKNOWN_TYPE' | 'NOT_FOUND' | 'CONFLICT' | 'LIMIT' | 'UNAVAILABLE' | 'TIMEOUT' | 'INTERNAL' | 'FORBIDDEN'
  | 'STORAGE';

export class CommandError extends Error {
  override name = 'CommandError';
  constructor(readonly code: ErrorCode, message: string) { super(message); }
}

export const badRequest = (msg: string): CommandError => new CommandError('BAD_REQUEST', msg);
export const notFound = (msg: string): CommandError => new CommandError('NOT_FOUND', msg);
export const conflict = (msg: string): CommandError => new CommandError('CONFLICT', msg);
export const unavailable = (msg: string): CommandError => new CommandError('UNAVAILABLE', msg);

const STORAGE_WHY: Record<string, string> = {
  EROFS: 'the file system is read-only',
  ENOSPC: 'the disk is full',
  EDQUOT: 'the disk quota is used up',
  EACCES: 'the agent may not write there',
  EPERM: 'the agent may not write there',
  EIO: 'the storage reports an I/O error',
  // A recursive mkdir on a read-only mount reports ENOENT, not EROFS.
  ENOENT: 'the folder is gone or cannot be created (read-only?)',
};

/**
 * A write to runtime.dataDir failed. The text says what could not be written, why in words, the errno, and what the
 * failure means for the request (`outcome`), so the requester knows whether anything changed.
 */
export function storageFailure(e: unknown, what: string, outcome: string): CommandError {
  const errno = (e as NodeJS.ErrnoException | null)?.code;
  // Out of file descriptors is not a storage problem, and freeing disk space would not help.
  if (errno === 'EMFILE' || errno === 'ENFILE') {
    return new CommandError('LIMIT', `could not open ${what}: the agent has too many files open (${errno}); ${outcome}. Close connections to the agent (a client may be holding many sockets) or raise its open-file limit (LimitNOFILE), and retry`);
  }
  const why = (errno && STORAGE_WHY[errno]) ?? 'the write failed';
  const todo = errno === 'ENOSPC' || errno === 'EDQUOT' ? 'Free space in runtime.dataDir' : 'Make runtime.dataDir writable';
  return new CommandError('STORAGE', `could not write ${what}: ${why} (${errno ?? errorText(e)}); ${outcome}. ${todo} and retry`);
}

/** True for the errors of a storage that refuses writes (read-only, full, failing), whatever was being written. */
export function isStorageError(e: unknown): boolean {
  const errno = (e as NodeJS.ErrnoException | null)?.code;
  return errno === 'EROFS' || errno === 'ENOSPC' || errno === 'EDQUOT' || errno === 'EIO';
}

/** The human text of anything thrown; internal errors are not leaked beyond their message. */
export function errorText(e: unknown): string {
  if (e instanceof Error) return e.message || e.name;
  return String(e);
}

export function errorCode(e: unknown): ErrorCode {
  return e instanceof CommandError ? e.code : 'INTERNAL';
}

/**
 * A door could not listen where the config says. `key` is the config key that sets the address, so the one line the
 * start ends with can say what to change; the errno (EADDRINUSE, EACCES, EADDRNOTAVAIL) says why.
 */
export class ListenError extends Error {
  override name = 'ListenError';
  constructor(readonly key: string, readonly address: string, readonly errno: string | undefined, why: string) {
    super(`${key}: cannot listen on ${address}: ${why}`);
  }

  static from(key: string, address: string, e: unknown): ListenError {
    const errno = (e as NodeJS.ErrnoException | null)?.code;
    const why = errno === 'EADDRINUSE' ? 'the address is in use (another process listens there)'
      : errno === 'EACCES' ? 'not permitted (a port below 1024 needs root or CAP_NET_BIND_SERVICE)'
        : errno === 'EADDRNOTAVAIL' ? 'no interface of this box has that address'
          : errorText(e);
    return new ListenError(key, address, errno, why);
  }
}

/** What a vehicle-signal backend's failure means to the request that met it. */
export type SignalFailure = 'unavailable' | 'not-found' | 'invalid' | 'limit';

/**
 * A failure of the signals part with its meaning. The signals area makes these where it recognises a failure
 * (signals/failure.ts maps a databroker's gRPC status, once); commands turn the kind into their error code.
 */
export class SignalError extends Error {
  override name = 'SignalError';
  constructor(readonly kind: SignalFailure, message: string) { super(message); }
}
