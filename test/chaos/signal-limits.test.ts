// Section "signal-limits" — signal requests that try to make the agent do unbounded work or take every slot:
//   - on a 100 000-leaf vehicle model (the largest allowed), requests of up to 20 000 patterns that each name the
//     whole model, distinct wildcards that each scan it, and a subscription to all of it: each is answered (a result or
//     LIMIT) and the agent keeps answering ping and /health meanwhile;
//   - one client subscribing again and again: it stops at its own bound and another client still gets subscriptions.
import t from 'tap';
import { ApiClient, startAgent } from '../helpers/agent';
import { Summary, attack, caughtCrashes, count, req, seedFor } from './lib';
import { SAFE_ENV } from './safe-env';

const SECTION = 'signal-limits';
const summary = new Summary(SECTION, seedFor(SECTION));
t.teardown(() => summary.write(t));

/** Vehicle.B<k>.S<j>: `branches` branches of `per` float sensors each. */
function bigModel(branches: number, per: number): Record<string, unknown> {
  const children: Record<string, unknown> = {};
  for (let k = 0; k < branches; k++) {
    const leaves: Record<string, unknown> = {};
    for (let j = 0; j < per; j++) leaves[`S${j}`] = { type: 'sensor', datatype: 'float' };
    children[`B${k}`] = { type: 'branch', children: leaves };
  }
  return { Vehicle: { type: 'branch', children } };
}

t.test('a 100 000-leaf model and requests that name all of it', async (t) => {
  const agent = await startAgent(t, { env: SAFE_ENV });
  const c = await ApiClient.connect(agent.apiUrl);
  t.teardown(() => c.close());
  const probe = await ApiClient.connect(agent.apiUrl);
  t.teardown(() => probe.close());
  const t0 = Date.now();
  const gen = await req(c, { type: 'generate_vehicle_model', data: bigModel(100, 1000) }, 120_000);
  t.equal(gen.leaves, 100_000, `the 100 000-leaf model is loaded (${Date.now() - t0} ms)`);
  summary.data.figures['100 000-leaf model: generate_vehicle_model (ms)'] = Date.now() - t0;

  const n = count(2000, 20_000);
  const cases: Array<{ name: string; frame: Record<string, unknown>; ok: (r: Record<string, unknown>) => boolean }> = [
    { name: `${n} × Vehicle.** in one get_signals_value`, frame: { type: 'get_signals_value', apis: Array(n).fill('Vehicle.**') },
      ok: (r) => r.type === 'get_signals_value-response' && Object.keys(r.result as object).length === 100_000 },
    { name: `${n} distinct branch patterns (Vehicle.B<k>, .*, .**)`, frame: { type: 'get_signals_value', apis: Array.from({ length: n }, (_, i) => `Vehicle.B${i % 100}${['', '.*', '.**'][Math.floor(i / 100) % 3]}`) },
      ok: (r) => r.type === 'get_signals_value-response' || r.code === 'LIMIT' },
    { name: `${n} distinct wildcards scanning the model (Vehicle.*.S<j>)`, frame: { type: 'get_signals_value', apis: Array.from({ length: n }, (_, j) => `Vehicle.*.S${j}`) },
      ok: (r) => r.code === 'LIMIT' || r.type === 'get_signals_value-response' },
    { name: `${n} distinct exact leaves`, frame: { type: 'get_signals_value', apis: Array.from({ length: n }, (_, j) => `Vehicle.B${j % 100}.S${Math.floor(j / 100)}`) },
      ok: (r) => r.type === 'get_signals_value-response' && Object.keys(r.result as object).length === n },
    { name: 'subscribe_apis Vehicle.** (100 000 signals)', frame: { type: 'subscribe_apis', apis: ['Vehicle.**'] },
      ok: (r) => r.code === 'LIMIT' },
  ];
  for (const k of cases) {
    await attack(t, summary, k.name, agent, async () => {
      const s = Date.now();
      const r = await req(c, k.frame, 120_000);
      const ms = Date.now() - s;
      summary.data.figures[`${k.name}: answered in (ms)`] = ms;
      const ok = k.ok(r);
      t.ok(ok, `${k.name}: answered ${String(r.type)}${r.code ? ` ${String(r.code)}` : ''} in ${ms} ms (${String(r.error ?? '').slice(0, 160)})`);
      return ok;
    }, { probe, everyMs: 50 });
  }
  summary.data.crashes += caughtCrashes(agent).length;
});

t.test('one client cannot take every signal subscription', async (t) => {
  const agent = await startAgent(t, { env: SAFE_ENV });
  const greedy = await ApiClient.connect(agent.apiUrl);
  t.teardown(() => greedy.close());
  const other = await ApiClient.connect(agent.apiUrl);
  t.teardown(() => other.close());
  await attack(t, summary, 'one client subscribes 1 024 times', agent, async () => {
    let granted = 0;
    let refused: Record<string, unknown> | null = null;
    for (let i = 0; i < 1024; i++) {
      const r = await req(greedy, { type: 'subscribe_apis', apis: ['Vehicle.Speed'] });
      if (r.type === 'subscribe_apis-response') granted++;
      else { refused = r; break; }
    }
    summary.data.figures['subscriptions one client got'] = granted;
    t.ok(granted < 1024 && refused?.code === 'LIMIT', `the greedy client stops at its bound (${granted}, then ${String(refused?.code)}: ${String(refused?.error)})`);
    const mine = await req(other, { type: 'subscribe_apis', apis: ['Vehicle.Speed'] });
    t.equal(mine.type, 'subscribe_apis-response', 'another client still gets a subscription');
    const un = await req(greedy, { type: 'unsubscribe_apis' });
    t.equal(un.removed, granted, 'and the greedy one can let go of all of its own');
    return granted < 1024 && mine.type === 'subscribe_apis-response';
  }, { probe: other, everyMs: 50 });
  summary.data.crashes += caughtCrashes(agent).length;
});
