// What a string costs once it is in a JSON reply: the UTF-8 bytes JSON.stringify makes of it, counted without making
// them. A reply is bounded by its serialized size, and escaping can make a string six times longer than its text (a
// control character becomes `\u0001`): a 16 MiB file of them was a 96 MiB read-file reply.

/** UTF-8 bytes of JSON.stringify(s), quotes included. */
export function jsonStringBytes(s: string): number {
  let n = 2;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20) n += c === 0x08 || c === 0x09 || c === 0x0a || c === 0x0c || c === 0x0d ? 2 : 6;
    else if (c === 0x22 || c === 0x5c) n += 2;
    else if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdfff) {
      // A pair is one 4-byte character; a lone surrogate is escaped as \udXXX (well-formed JSON.stringify).
      const pair = c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00;
      if (pair) { n += 4; i++; } else n += 6;
    } else n += 3;
  }
  return n;
}

/**
 * What JSON.stringify makes of bytes[from, to) of valid UTF-8 once decoded, in UTF-8 bytes, quotes not included:
 * counted on the bytes (a multi-byte character is itself again), so the text need not be decoded to be measured.
 * For invalid UTF-8 (see buffer.isUtf8) decode it and use jsonStringBytes.
 */
export function jsonUtf8Bytes(bytes: Uint8Array, from = 0, to = bytes.length): number {
  let n = 0;
  for (let i = from; i < to; i++) {
    const c = bytes[i]!;
    n += c >= 0x20 ? (c === 0x22 || c === 0x5c ? 2 : 1) : c === 0x08 || c === 0x09 || c === 0x0a || c === 0x0c || c === 0x0d ? 2 : 6;
  }
  return n;
}
