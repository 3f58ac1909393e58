// Engine.IO 4 / Socket.IO packet codec: the frames a real socket.io 4 server sends, what we send back, and that
// malformed input of every kind comes back as an error value instead of a throw.
import t from 'tap';
import { decodeEio, decodeSio, encodeAck, encodeConnect, encodeDisconnect, encodeEvent, encodePong, engineUrl } from '../../src/doors/kit/socketio-wire';

t.test('open packet', async (t) => {
  const r = decodeEio('0{"sid":"abc","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":100000000}');
  t.same(r, { ok: true, value: { kind: 'open', open: { sid: 'abc', upgrades: [], pingInterval: 25000, pingTimeout: 20000, maxPayload: 100000000 } } });
  const noMax = decodeEio('0{"sid":"x","pingInterval":1,"pingTimeout":2}');
  t.ok(noMax.ok && noMax.value.kind === 'open' && noMax.value.open.maxPayload === null);
  for (const bad of ['0', '0{', '0[]', '0{"sid":"","pingInterval":1,"pingTimeout":1}', '0{"sid":"a","pingInterval":0,"pingTimeout":1}',
    '0{"sid":"a","pingInterval":1.5,"pingTimeout":1}', '0{"sid":"a","pingInterval":1,"pingTimeout":"1"}', '0{"sid":"a","pingInterval":1,"pingTimeout":1,"upgrades":[1]}',
    '0{"sid":"a","pingInterval":1,"pingTimeout":1,"maxPayload":-1}']) {
    const d = decodeEio(bad);
    t.equal(d.ok, false, bad);
  }
});

t.test('ping, pong, close, noop', async (t) => {
  t.same(decodeEio('2'), { ok: true, value: { kind: 'ping', data: '' } });
  t.same(decodeEio('2probe'), { ok: true, value: { kind: 'ping', data: 'probe' } });
  t.same(decodeEio('3'), { ok: true, value: { kind: 'pong', data: '' } });
  t.same(decodeEio('1'), { ok: true, value: { kind: 'close' } });
  t.same(decodeEio('6'), { ok: true, value: { kind: 'noop' } });
  t.equal(encodePong(), '3');
  t.equal(encodePong('probe'), '3probe');
  t.equal(decodeEio('2' + 'x'.repeat(100)).ok, false);
});

t.test('Socket.IO packets inside messages', async (t) => {
  t.same(decodeEio('40{"sid":"s1"}'), { ok: true, value: { kind: 'message', packet: { type: 'connect', nsp: '/', data: { sid: 's1' } } } });
  t.same(decodeSio('0'), { ok: true, value: { type: 'connect', nsp: '/', data: null } });
  t.same(decodeSio('1'), { ok: true, value: { type: 'disconnect', nsp: '/' } });
  t.same(decodeSio('2["messageToKit",{"cmd":"x"}]'), { ok: true, value: { type: 'event', nsp: '/', id: null, name: 'messageToKit', args: [{ cmd: 'x' }] } });
  t.same(decodeSio('212["ev",1,2]'), { ok: true, value: { type: 'event', nsp: '/', id: 12, name: 'ev', args: [1, 2] } });
  t.same(decodeSio('2/admin,7["ev"]'), { ok: true, value: { type: 'event', nsp: '/admin', id: 7, name: 'ev', args: [] } });
  t.same(decodeSio('33["ok"]'), { ok: true, value: { type: 'ack', nsp: '/', id: 3, args: ['ok'] } });
  t.same(decodeSio('4{"message":"unauthorized","data":{"x":1}}'), { ok: true, value: { type: 'connect_error', nsp: '/', message: 'unauthorized', data: { x: 1 } } });
  t.same(decodeSio('4"old style"'), { ok: true, value: { type: 'connect_error', nsp: '/', message: 'old style', data: null } });
});

t.test('encoders', async (t) => {
  t.same(encodeConnect(), { ok: true, value: '40' });
  t.same(encodeConnect({ token: 'abc' }), { ok: true, value: '40{"token":"abc"}' });
  t.same(encodeConnect(null, '/ns'), { ok: true, value: '40/ns,' });
  t.same(encodeDisconnect(), { ok: true, value: '41' });
  t.same(encodeEvent('register_kit', [{ kit_id: 'k' }]), { ok: true, value: '42["register_kit",{"kit_id":"k"}]' });
  t.same(encodeEvent('e', [1], 5), { ok: true, value: '425["e",1]' });
  t.same(encodeAck(5, ['done']), { ok: true, value: '435["done"]' });
  const circular: Record<string, unknown> = {};
  circular.self = circular;
  t.equal(encodeEvent('e', [circular]).ok, false, 'a circular payload is an error value');
  t.equal(encodeEvent('e', [10n]).ok, false, 'a BigInt is an error value');
  t.equal(encodeEvent('', []).ok, false);
  t.equal(encodeEvent('e', [], -1).ok, false);
  t.equal(encodeAck(1.5, []).ok, false);
  t.equal(encodeConnect({}, 'bad').ok, false);
  // round trip through the decoder
  const e = encodeEvent('x', [{ a: [1, 'b', null] }], 9);
  t.ok(e.ok);
  if (e.ok) t.same(decodeEio('4' + e.value.slice(1)), { ok: true, value: { kind: 'message', packet: { type: 'event', nsp: '/', id: 9, name: 'x', args: [{ a: [1, 'b', null] }] } } });
});

t.test('malformed input never throws', async (t) => {
  const bad: unknown[] = [undefined, null, 42, {}, Buffer.from('42'), '', '7', '5', 'b4AAA', '1x', '6x', '4', '47', '45-["x"]', '46', '4x',
    '42', '42{', '42{}', '42[]', '42[1]', '42[""]', '42"str"', '42["a"', '4212345678901234567["a"]', '43["a"]', '431{"a":1}', '40[1]', '405',
    '41{"x":1}', '44{}', '441{"message":"x"}', '44[1]', '42/' + 'n'.repeat(300) + ',["a"]', '40{"a":' + '['.repeat(100) + '}',
    '42["' + 'e'.repeat(300) + '"]', '\u0000', '0' + '{'.repeat(10_000)];
  for (const b of bad) {
    let r;
    t.doesNotThrow(() => { r = decodeEio(b); }, JSON.stringify(b)?.slice(0, 40));
    t.equal((r as unknown as { ok: boolean }).ok, false, `${JSON.stringify(b)?.slice(0, 40)} is an error`);
    t.type((r as unknown as { error: string }).error, 'string');
  }
});

t.test('engineUrl', async (t) => {
  t.same(engineUrl('http://km:3090'), { ok: true, value: 'ws://km:3090/socket.io/?EIO=4&transport=websocket' });
  t.same(engineUrl('https://kit.example.com/'), { ok: true, value: 'wss://kit.example.com/socket.io/?EIO=4&transport=websocket' });
  t.same(engineUrl('wss://h/base'), { ok: true, value: 'wss://h/base/socket.io/?EIO=4&transport=websocket' });
  t.equal(engineUrl('ftp://x').ok, false);
  t.equal(engineUrl('not a url').ok, false);
});
