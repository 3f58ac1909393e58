// The Kit-Manager's frame cap. A Socket.IO server closes the connection on a message larger than its
// maxHttpBufferSize (sdv-runtime's newest Kit-Manager: KIT_MAX_HTTP_BUFFER_SIZE, 2 000 000 bytes), which it announces
// as `maxPayload` in the Engine.IO open packet: the reply is lost, the page waits, the link is redialled. So no frame
// above the cap is ever sent (link.ts emitEvent): a reply that does not fit is made to fit here, as what the page can
// show:
//   - a run's output (`isDone: false` with `result` text): cut into several replies, each under the cap; the page
//     appends them, so it shows every byte;
//   - a read-file reply: its content becomes `Error: <path> is <size> bytes; …the cap…`, in `data.content`, the one
//     field the editor shows, with `error`;
//   - any other reply: `result: "Error: …"` and `error` naming its size and the cap, its routing fields kept.
// Pure: the encoder is passed in.

type Rec = Record<string, unknown>;
export type Encode = (payload: Rec) => string | null;

/** Room left under the cap for what this module adds (the error text, escaping). */
const MARGIN = 1024;

const size = (text: string): number => Buffer.byteLength(text);

/**
 * The encoded frames to send for `payload` so that each is at most `cap` bytes, given its encoding `encoded` that is
 * larger. Never empty; every frame returned fits (a reply cut to its routing fields and the error always does).
 */
export function fitToCap(payload: Rec, encoded: string, cap: number, encode: Encode): string[] {
  const result = payload.result;
  if (payload.isDone === false && typeof result === 'string' && result.length > 1) {
    const pieces = splitResult(payload, result, cap, encode);
    if (pieces) return pieces;
  }
  const what = `a reply of ${size(encoded)} bytes is larger than the Kit-Manager's frame cap of ${cap} bytes (its maxPayload)`;
  const data = payload.data as Rec | undefined;
  if (payload.cmd === 'read-file' && data && typeof data === 'object' && typeof data.content === 'string') {
    const file = typeof payload.bytes === 'number' ? payload.bytes : size(data.content);
    const error = `${String(data.path ?? 'the file')} is ${file} bytes; its reply would be ${size(encoded)} bytes, larger than the Kit-Manager's frame cap of ${cap} bytes (its maxPayload, KIT_MAX_HTTP_BUFFER_SIZE): read a smaller file, or raise the cap`;
    const small = encode({ ...pick(payload), result: `Error: ${error}`, error, errorCode: 'LIMIT', data: { path: data.path, content: `Error: ${error}`, error } });
    if (small !== null && size(small) <= cap) return [small];
  }
  const fallback = encode({ ...pick(payload), result: `Error: ${what}`, error: what, errorCode: 'LIMIT' });
  return fallback !== null && size(fallback) <= cap ? [fallback] : [];
}

/** The fields that route and name a reply. */
function pick(payload: Rec): Rec {
  const out: Rec = {};
  for (const k of ['cmd', 'requestCmd', 'request_from', 'kit_id', 'id', 'type', 'isDone', 'code', 'is_finish']) if (payload[k] !== undefined) out[k] = payload[k];
  return out;
}

/** `result` cut into replies under the cap (whole characters, in order), or null if even one character does not fit. */
function splitResult(payload: Rec, text: string, cap: number, encode: Encode): string[] | null {
  const empty = encode({ ...payload, result: '' });
  if (empty === null) return null;
  const budget = cap - size(empty) - MARGIN;
  if (budget <= 0) return null;
  const out: string[] = [];
  let at = 0;
  while (at < text.length) {
    let len = Math.min(text.length - at, budget);
    for (;;) {
      let end = at + len;
      // Never between the two halves of a surrogate pair.
      if (end < text.length && end > at + 1 && /[\uD800-\uDBFF]/.test(text[end - 1]!)) end--;
      const frame = encode({ ...payload, result: text.slice(at, end) });
      if (frame !== null && size(frame) <= cap) { out.push(frame); at = end; break; }
      if (len <= 1) return null;
      len = Math.floor(len / 2);
    }
  }
  return out;
}
