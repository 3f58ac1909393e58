// src/commands/dispatch.ts with the table: one handler per name, the Kit-Manager dialect as adapters around it (input,
// progress, render) for a `cmd` request and not for a `type` one; and where the Python runtime's words may appear.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { dispatch, type Envelope } from '../../src/commands/dispatch';
import { commandNames, handlersOf } from '../../src/commands/table';
import type { Client, Frame } from '../../src/core/frame';
import type { Parts } from '../../src/parts';

function fakeParts(): { parts: Parts; calls: Frame[] } {
  const calls: Frame[] = [];
  const signals = {
    subscribe: async (_c: Client, apis: string[], opts: Frame) => { calls.push({ op: 'subscribe', apis, opts }); return { id: opts.id ?? 'sub-1', paths: apis, unknown: [] }; },
    unsubscribe: (id: string) => { calls.push({ op: 'unsubscribe', id }); return true; },
    unsubscribeClient: () => { calls.push({ op: 'unsubscribeClient' }); return 2; },
  };
  const parts = { config: { signals: { subscriberTtlS: 42 } }, log: { error() {} }, signals } as unknown as Parts;
  return { parts, calls };
}

const client: Client = { id: 'fe-1', door: 'kit', closed: false, send() {}, congested: () => false, onClose: () => () => {} };

async function run(parts: Parts, frame: Frame, nameKey: 'type' | 'cmd') {
  const out: Array<{ kind: string; frame: Frame }> = [];
  const envelope: Envelope = {
    done: (_req, _c, body) => out.push({ kind: 'done', frame: body }),
    progress: (_req, _c, f) => out.push({ kind: 'progress', frame: f }),
    fail: (_req, code, message) => out.push({ kind: 'fail', frame: { code, message } }),
  };
  await dispatch(parts, client, frame, nameKey, envelope);
  return out;
}

t.test('commands/table: every name has exactly one handler', async (t) => {
  const names = commandNames();
  t.ok(names.length > 30, `${names.length} commands`);
  t.same(names.filter((n) => handlersOf(n).length !== 1), []);
});

t.test('dispatch: subscribe_apis through the Kit-Manager dialect is a lease; through `type` it is not', async (t) => {
  const { parts, calls } = fakeParts();
  const local = await run(parts, { type: 'subscribe_apis', id: 1, apis: ['Vehicle.Speed'] }, 'type');
  t.match(local, [{ kind: 'done', frame: { subscriptionId: 'sub-1', apis: ['Vehicle.Speed'] } }]);
  t.same(calls.at(-1), { op: 'subscribe', apis: ['Vehicle.Speed'], opts: {} }, 'no lease for a local client');
  const kit = await run(parts, { cmd: 'subscribe_apis', apis: ['Vehicle.Speed'] }, 'cmd');
  t.same(kit, [{ kind: 'done', frame: { result: 'Successful' } }], 'the frontend reads the Python runtime\'s word');
  t.same(calls.at(-1), { op: 'subscribe', apis: ['Vehicle.Speed'], opts: { fullSet: true, ttlS: 42, id: 'kit-fe-1' } }, 'one lease per frontend, full sets');
  t.match(await run(parts, { cmd: 'subscribe_apis' }, 'cmd'), [{ kind: 'fail', frame: { code: 'BAD_REQUEST' } }], 'the handler\'s own validation, either way');
});

t.test('dispatch: unsubscribe_apis ends the frontend\'s lease; a local client\'s own subscriptions', async (t) => {
  const { parts, calls } = fakeParts();
  t.same(await run(parts, { cmd: 'unsubscribe_apis' }, 'cmd'), [{ kind: 'done', frame: { result: 'Successful' } }]);
  t.same(calls.at(-1), { op: 'unsubscribe', id: 'kit-fe-1' });
  t.same(await run(parts, { type: 'unsubscribe_apis', id: 2 }, 'type'), [{ kind: 'done', frame: { removed: 2 } }]);
  t.same(calls.at(-1), { op: 'unsubscribeClient' });
});

t.test('dispatch: an Outcome is said in the Python runtime\'s words through either door', async (t) => {
  const set: string[][] = [];
  const ch = { watch: ['x'], set: (v: Frame) => { set.push(Object.keys(v)); return Object.keys(v).filter((k) => k === 'x'); } };
  const parts = { log: { error() {} }, traces: { get: (id: string) => (id === 'fe-1' ? ch : undefined) } } as unknown as Parts;
  t.same(await run(parts, { type: 'set_vars_value', id: 3, data: { x: 1 } }, 'type'), [{ kind: 'done', frame: { result: 'Successful', data: ['x'] } }], 'a local client\'s reply, as since 0.1.0');
  t.same(await run(parts, { cmd: 'set_vars_value', data: { x: 2 } }, 'cmd'), [{ kind: 'done', frame: { result: 'Successful', data: ['x'] } }], 'the frontend\'s');
  t.match(await run(parts, { cmd: 'set_vars_value', data: { y: 2 } }, 'cmd'), [{ kind: 'fail', frame: { code: 'BAD_REQUEST' } }], 'a refusal stays an error');
  t.same(set, [['x'], ['x'], ['y']]);
});

t.test('the Python runtime\'s words: "Successful" is said in the Kit-Manager dialect only', async (t) => {
  // Handlers return an Outcome (commands/outcome.ts); commands/kit/words.ts words it for both doors. A comment
  // counts too: the word is the dialect's. pip's own "Successfully installed" line is another word.
  const src = path.join(__dirname, '..', '..', 'src');
  const found: string[] = [];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts') && /\bSuccessful\b/.test(fs.readFileSync(p, 'utf8'))) found.push(path.relative(src, p));
    }
  };
  walk(src);
  t.ok(found.includes(path.join('commands', 'kit', 'words.ts')), 'the dialect says it');
  t.same(found.filter((f) => !f.startsWith(`commands${path.sep}kit${path.sep}`)), [], 'nowhere else');
});
