// gRPC statuses as the embedded server's handlers throw them: a ServiceError with its code and details.
import * as grpc from '@grpc/grpc-js';

export type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
export const S = grpc.status;

export function fail(code: grpc.status, details: string): grpc.ServiceError {
  return Object.assign(new Error(details), { code, details, metadata: new grpc.Metadata() }) as grpc.ServiceError;
}

/** A thrown ServiceError as it is; anything else is INTERNAL with its message. */
export function asStatus(e: unknown): grpc.ServiceError {
  return typeof (e as grpc.ServiceError)?.code === 'number' ? (e as grpc.ServiceError) : fail(S.INTERNAL, (e as Error)?.message ?? String(e));
}
