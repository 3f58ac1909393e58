// Errors a handler throws on purpose. The message is for a person and says what to do; the code is stable.
export type ErrorCode =
  | 'BAD_REQUEST' | 'UNKNOWN_TYPE' | 'NOT_FOUND' | 'CONFLICT' | 'LIMIT' | 'UNAVAILABLE' | 'TIMEOUT' | 'INTERNAL' | 'FORBIDDEN';

export class CommandError extends Error {
  override name = 'CommandError';
  constructor(readonly code: ErrorCode, message: string) { super(message); }
}

export const badRequest = (msg: string): CommandError => new CommandError('BAD_REQUEST', msg);
export const notFound = (msg: string): CommandError => new CommandError('NOT_FOUND', msg);
export const conflict = (msg: string): CommandError => new CommandError('CONFLICT', msg);
export const unavailable = (msg: string): CommandError => new CommandError('UNAVAILABLE', msg);

/** The human text of anything thrown; internal errors are not leaked beyond their message. */
export function errorText(e: unknown): string {
  if (e instanceof Error) return e.message || e.name;
  return String(e);
}

export function errorCode(e: unknown): ErrorCode {
  return e instanceof CommandError ? e.code : 'INTERNAL';
}
