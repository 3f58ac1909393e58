// src/core/json-size.ts: the UTF-8 bytes JSON.stringify makes of a string, counted without making them.
import t from 'tap';
import { jsonStringBytes, jsonUtf8Bytes } from '../../src/core/json-size';

const real = (s: string) => Buffer.byteLength(JSON.stringify(s));

t.test('core/json-size: what JSON.stringify makes, byte for byte', async (t) => {
  for (const [i, s] of ['', 'plain', '"quoted" \\ back', '\n\r\t\b\f', '\u0000\u0001\u001f\u007f', 'é ß ü', '中文', '\u{1F697} car', '\u2028\u2029',
    '\ud800 lone high', 'lone low \udc00', '\udc00\ud800 reversed', '\ud83d', 'x\ud83d\ude97y'].entries()) {
    t.equal(jsonStringBytes(s), real(s), `case ${i}: ${Array.from(s, (c) => c.codePointAt(0)!.toString(16)).join(' ')}`);
  }
  let seed = 7;
  const rnd = () => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed; };
  for (let n = 0; n < 200; n++) {
    const s = String.fromCharCode(...Array.from({ length: 64 }, () => [rnd() % 0x30, rnd() % 0x100, rnd() % 0x10000][rnd() % 3]!));
    if (jsonStringBytes(s) !== real(s)) { t.fail(`random string ${n}: ${JSON.stringify(s)}`); return; }
  }
  t.pass('200 random strings of control, Latin-1 and any UTF-16 units (lone surrogates too)');
  t.equal(jsonStringBytes('\u0001'.repeat(1000)), 6002, 'a control character costs six bytes');
});

t.test('core/json-size: counted on valid UTF-8 bytes, as their decoded text would be', async (t) => {
  const texts = ['', 'plain', '"quoted" \\ back\n\t', '\u0000\u0001\u001f\u007f', 'é ß ü 中文 \u{1F697}', '\u2028\u2029'];
  for (const [i, s] of texts.entries()) t.equal(jsonUtf8Bytes(Buffer.from(s)) + 2, real(s), `case ${i}`);
  const b = Buffer.from('ab\u0001"c');
  t.equal(jsonUtf8Bytes(b, 1, 4), real('b\u0001"') - 2, 'a slice');
});
