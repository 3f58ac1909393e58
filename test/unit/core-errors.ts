// src/core/errors.ts: the error codes every door answers with, and the texts of storage failures (what could not be
// written, why in words, the errno, what it means for the request, what to do).
import t from 'tap';
import { badRequest, CommandError, conflict, errorCode, errorText, isStorageError, notFound, storageFailure, unavailable } from '../../src/core/errors';

const errno = (code: string) => Object.assign(new Error(`${code}: x`), { code });

t.test('core/errors: codes and texts', async (t) => {
  for (const [make, code] of [[badRequest, 'BAD_REQUEST'], [notFound, 'NOT_FOUND'], [conflict, 'CONFLICT'], [unavailable, 'UNAVAILABLE']] as const) {
    const e = make('why');
    t.ok(e instanceof CommandError);
    t.equal(errorCode(e), code);
    t.equal(errorText(e), 'why');
  }
  t.equal(errorCode(new TypeError('bug')), 'INTERNAL', 'anything else is INTERNAL, never BAD_REQUEST');
  t.equal(errorText('plain'), 'plain');
  t.equal(errorText(new Error('')), 'Error', 'an empty message still says something');

  const full = storageFailure(errno('ENOSPC'), 'the app registry', 'nothing was installed');
  t.equal(full.code, 'STORAGE');
  t.match(full.message, /^could not write the app registry: the disk is full \(ENOSPC\); nothing was installed\. Free space in runtime\.dataDir and retry$/);
  t.match(storageFailure(errno('EROFS'), 'x', 'y').message, /read-only \(EROFS\).*Make runtime\.dataDir writable/);
  const fds = storageFailure(errno('EMFILE'), 'the registry', 'nothing changed');
  t.equal(fds.code, 'LIMIT', 'out of descriptors is a limit, not storage');
  t.match(fds.message, /too many files open \(EMFILE\).*LimitNOFILE/);
  t.match(storageFailure(new Error('odd'), 'x', 'y').message, /the write failed \(odd\)/);
  t.ok(isStorageError(errno('EIO')));
  t.notOk(isStorageError(errno('ENOENT')));
});
