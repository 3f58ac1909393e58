// src/doors/kit/frame-cap.ts: a reply above the Kit-Manager's frame cap is made to fit: a run's output cut into
// replies under the cap (every character kept, in order), a read-file reply said as its size and the cap, anything
// else an error keeping its routing fields.
import t from 'tap';
import { fitToCap } from '../../src/doors/kit/frame-cap';
import { encodeEvent } from '../../src/doors/kit/socketio-wire';

const encode = (f: Record<string, unknown>): string | null => { const e = encodeEvent('messageToKit-kitReply', [f]); return e.ok ? e.value : null; };
const decode = (s: string): Record<string, unknown> => (JSON.parse(s.slice(2)) as [string, Record<string, unknown>])[1];
const CAP = 10_000;

t.test('a run\'s output: cut under the cap, every character kept', async (t) => {
  const text = `${'y'.repeat(25_000)}é😀${'"\\\n'.repeat(3000)}end\n`;
  const payload = { cmd: 'run_python_app', isDone: false, result: text, code: 0, request_from: 'c1', kit_id: 'K' };
  const frames = fitToCap(payload, encode(payload)!, CAP, encode);
  t.ok(frames.length >= 3, `${frames.length} frames`);
  for (const f of frames) t.ok(Buffer.byteLength(f) <= CAP, `${Buffer.byteLength(f)} bytes`);
  const back = frames.map(decode);
  t.equal(back.map((f) => f.result).join(''), text);
  t.ok(back.every((f) => f.request_from === 'c1' && f.isDone === false && f.cmd === 'run_python_app'));
});

t.test('read-file: the file\'s size and the cap, in data.content', async (t) => {
  const payload = { cmd: 'read-file', result: 'Successful', data: { path: '/app/vss.json', content: 'x'.repeat(20_000) }, bytes: 20_000, request_from: 'c1', kit_id: 'K' };
  const frames = fitToCap(payload, encode(payload)!, CAP, encode);
  t.equal(frames.length, 1);
  const f = decode(frames[0]!);
  t.match((f.data as Record<string, unknown>).content, /^Error: \/app\/vss\.json is 20000 bytes; .*frame cap of 10000 bytes/);
  t.match(f, { cmd: 'read-file', request_from: 'c1', errorCode: 'LIMIT' });
});

t.test('anything else: an error naming both sizes, routed as the reply', async (t) => {
  const payload = { cmd: 'get-runtime-info', data: { big: 'z'.repeat(20_000) }, request_from: 'c2', kit_id: 'K' };
  const f = decode(fitToCap(payload, encode(payload)!, CAP, encode)[0]!);
  t.match(f, { cmd: 'get-runtime-info', request_from: 'c2', kit_id: 'K', result: /^Error: a reply of \d+ bytes is larger than the Kit-Manager's frame cap of 10000 bytes/ });
  t.equal(f.data, undefined);
  t.same(fitToCap(payload, encode(payload)!, 20, encode), [], 'a cap nothing fits under: nothing');
});
