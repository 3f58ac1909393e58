// src/core/sha256.ts: the digest a start makes without loading node:crypto equals node:crypto's, for every length
// around the block boundaries, for UTF-8 text, and for the built-in vehicle model. And the premise of the single
// binary's known hash (src/sea.ts → loadModelSource): the digest of the model file's bytes is the digest of its text.
import t from 'tap';
import crypto = require('node:crypto');
import fs = require('node:fs');
import { sha256Hex } from '../../src/core/sha256';
import { resourcePath } from '../../src/resources';
import { DEFAULT_MODEL } from '../../src/signals/vss';

const native = (d: string | Uint8Array) => crypto.createHash('sha256').update(d).digest('hex');

t.test('sha256Hex equals node:crypto', async (t) => {
  t.equal(sha256Hex(''), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', 'the empty message (FIPS 180-4 test vector)');
  t.equal(sha256Hex('abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad', '"abc" (FIPS 180-4 test vector)');
  let wrong = 0;
  for (let n = 0; n <= 300; n++) {
    const data = crypto.randomBytes(n);
    if (sha256Hex(data) !== native(data)) wrong++;
  }
  t.equal(wrong, 0, 'random messages of 0..300 bytes (every padding case)');
  t.equal(sha256Hex('Fahrzeug ☃ 車両 🚗'), native('Fahrzeug ☃ 車両 🚗'), 'a string is hashed as UTF-8');
  const big = crypto.randomBytes(1 << 20);
  t.equal(sha256Hex(big), native(big), '1 MiB');
});

t.test('the built-in model: the digest of its bytes is the digest of its text', async (t) => {
  const file = resourcePath(DEFAULT_MODEL);
  const bytes = fs.readFileSync(file);
  t.equal(native(fs.readFileSync(file, 'utf8')), native(bytes));
  t.equal(sha256Hex(bytes), native(bytes));
});
