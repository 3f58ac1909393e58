// node:crypto, loaded by its first user instead of at start: loading it initialises OpenSSL, ~2.5 MB of pages kept
// resident and ~11 ms of a restart, and a restarted box that no client has reached needs no random id, digest or
// comparison from it (the digests a start does need are src/core/sha256.ts's; bench/README.md, "node:crypto on first
// use").
import type * as Crypto from 'node:crypto';

let loaded: typeof Crypto | null = null;

export function cryptoModule(): typeof Crypto {
  return (loaded ??= require('node:crypto') as typeof Crypto);
}
