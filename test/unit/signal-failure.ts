// src/signals/failure.ts: the one mapping of a signal backend's failure to its meaning; a bug is not a signal failure.
import t from 'tap';
import * as grpc from '@grpc/grpc-js';
import { SignalError } from '../../src/core/errors';
import { grpcText, isNotFound, signalFailure } from '../../src/signals/failure';
import { ValueError } from '../../src/signals/values';

const status = (code: number, details: string) => Object.assign(new Error(`${code} X: ${details}`), { code, details, metadata: new grpc.Metadata() });

t.test('signals/failure: gRPC statuses, values, paths, bounds; bugs pass through', async (t) => {
  t.match(signalFailure(status(grpc.status.NOT_FOUND, 'Vehicle.Nope')), { kind: 'not-found', message: 'Vehicle.Nope' }, 'the server\'s own text');
  for (const c of [grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED, grpc.status.CANCELLED]) t.equal(signalFailure(status(c, 'x'))?.kind, 'unavailable', `status ${c}`);
  t.equal(signalFailure(status(grpc.status.RESOURCE_EXHAUSTED, 'x'))?.kind, 'limit');
  for (const c of [grpc.status.INVALID_ARGUMENT, grpc.status.PERMISSION_DENIED, grpc.status.FAILED_PRECONDITION]) t.equal(signalFailure(status(c, 'x'))?.kind, 'invalid', `status ${c}`);
  t.match(signalFailure(new ValueError('expected a number')), { kind: 'invalid', message: 'expected a number' });
  const own = new SignalError('limit', 'more than 64 subscriptions');
  t.equal(signalFailure(own), own, 'a SignalError is its own meaning');
  t.equal(signalFailure(new TypeError('x is undefined')), null, 'a bug is not a signal failure (dispatch answers INTERNAL)');
  t.equal(signalFailure({ code: 5 }), null, 'nor is a plain object that looks like a status');
  t.equal(signalFailure(undefined), null);
  t.ok(isNotFound(new SignalError('not-found', 'x')));
  t.notOk(isNotFound(status(grpc.status.UNAVAILABLE, 'x')));
  t.equal(grpcText(status(5, 'the details')), 'the details');
  t.equal(grpcText(new Error('plain')), 'plain');
});
