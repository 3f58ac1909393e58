// node:crypto, loaded by its first user instead of at start: loading it initialises OpenSSL (~11 ms of a restart, and
// its memory), and a restarted box that no client has reached needs no random id, digest or comparison from it (the
// two short digests a start does make are src/core/sha256.ts's; bench/README.md, "A restart reads no model and loads
// no node:crypto").
import type * as Crypto from 'node:crypto';

let loaded: typeof Crypto | null = null;

export function cryptoModule(): typeof Crypto {
  return (loaded ??= require('node:crypto') as typeof Crypto);
}
