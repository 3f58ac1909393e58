// The one place a signal backend's failure gets its meaning (core/errors.ts SignalError): a databroker's gRPC status,
// a value the signal cannot hold, a path the model does not have, a bound of the part. Anything else is not a
// signal failure but a bug, and the caller lets it through (dispatch answers INTERNAL and logs it).
import type * as grpc from '@grpc/grpc-js';
import { SignalError } from '../core/errors';
import { ValueError } from './values';
import { GrpcCode as S } from './grpc-codes';

/** A gRPC error's own text (the server's details, without the numeric prefix grpc-js adds), or any error's message. */
export function grpcText(e: unknown): string {
  const err = e as grpc.ServiceError;
  return err?.details || (err as Error)?.message || String(e);
}

export function signalFailure(e: unknown): SignalError | null {
  if (e instanceof SignalError) return e;
  if (e instanceof ValueError) return new SignalError('invalid', e.message);
  const code = (e as Partial<grpc.ServiceError> | null)?.code;
  if (typeof code !== 'number' || !(e instanceof Error)) return null;
  const text = grpcText(e);
  if (code === S.NOT_FOUND) return new SignalError('not-found', text);
  if (code === S.UNAVAILABLE || code === S.DEADLINE_EXCEEDED || code === S.CANCELLED) return new SignalError('unavailable', text);
  if (code === S.RESOURCE_EXHAUSTED) return new SignalError('limit', text);
  // The databroker refused the request (INVALID_ARGUMENT, FAILED_PRECONDITION, PERMISSION_DENIED, …): its words.
  return new SignalError('invalid', text);
}

/** True when the failure says the signal or pattern does not exist (expansion and the mock list treat that as "none"). */
export function isNotFound(e: unknown): boolean {
  return signalFailure(e)?.kind === 'not-found';
}
