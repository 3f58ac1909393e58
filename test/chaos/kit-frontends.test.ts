// Section "kit-frontends" — more frontends than the agent keeps (defect 7 of the 2026-12-07 red team). Anyone who
// reaches the Kit-Manager gets a new request_from with each connection. A victim frontend runs a python program that
// prints a line every 0.2 s and subscribes to a signal; then new request_from ids arrive, one command each: 300, and
// 10 000 in the full form. The agent used to close its least recently used client past 256, the victim among them:
// its output stopped, its run's end and its signal values never came, and nothing counted the loss. Now the victim
// keeps its whole run and its values, every new id gets a reply (its answer, or LIMIT while every place is busy), and
// nothing is dropped. Then every place is taken by a subscribed frontend: a new id is refused where the playground
// shows it (a run's `Error:` line; a seed request's `error` frame), and served once a place is free again.
import t from 'tap';
import { ApiClient, CEILING_MS, getJson, startAgent } from '../helpers/agent';
import { Summary, attack, caughtCrashes, count, seedFor, until } from './lib';
import { RawKitManager } from './raw-kit-manager';
import { SAFE_ENV } from './safe-env';

const SECTION = 'kit-frontends';
const summary = new Summary(SECTION, seedFor(SECTION));
t.teardown(() => summary.write(t));

/** The agent's bound on frontends (MAX_KIT_CLIENTS in src/doors/kit/frontends.ts). */
const PLACES = 256;
const LINES = count(20, 30);
const RUN_CODE = `import time\nfor i in range(1, ${LINES + 1}):\n    print("line %d" % i, flush=True)\n    time.sleep(0.2)\n`;

type Rec = Record<string, unknown>;
const event = (payload: Rec): string => `42${JSON.stringify(['messageToKit', payload])}`;
/** The text a frontend's run log shows: every isDone:false result of run_python_app. */
const runText = (got: Rec[]): string => got.filter((r) => r.cmd === 'run_python_app' && r.isDone === false).map((r) => String(r.result)).join('');

t.test('a victim frontend while new request_from ids arrive', async (t) => {
  const km = await RawKitManager.start();
  t.teardown(() => km.close());
  const agent = await startAgent(t, { env: SAFE_ENV, config: { kitManager: { url: km.url, reconnect: { minMs: 50, maxMs: 500 } } } });
  t.teardown(() => agent.stop('SIGKILL'));
  t.ok(await km.waitRegistered(0), 'the agent registers with the hand-written Kit-Manager');
  const api = await ApiClient.connect(agent.apiUrl);
  t.teardown(() => api.close());

  let round = 0;
  for (const newIds of [300, count(0, 10_000)].filter((n) => n > 0)) {
    const r = ++round;
    await attack(t, summary, `${newIds} new request_from ids while a victim runs and subscribes`, agent, async () => {
      const victim = `victim-${r}`;
      const got = km.watch(victim);
      km.send(event({ request_from: victim, cmd: 'subscribe_apis', apis: ['Vehicle.Speed'] }), null, 'subscribe');
      const subscribed = await until(() => got.some((x) => x.cmd === 'subscribe_apis'), 15_000);
      km.send(event({ request_from: victim, cmd: 'run_python_app', data: { code: RUN_CODE, name: 'victim' } }), null, 'run');
      // Its run has begun: the first line arrived.
      const started = await until(() => runText(got).includes('line 1\r\n'), 60_000);
      const dropped0 = (await getJson(agent.healthUrl)).body.kitManagerDroppedReplies as number;
      const settled0 = new Map(km.settledBy);
      for (let i = 0; i < newIds; i++) {
        const rf = `new-${r}-${i}`;
        km.send(event({ request_from: rf, cmd: 'list_mock_signal' }), rf, 'list_mock_signal');
        if (i % 500 === 499) await new Promise((res) => setImmediate(res));
      }
      const owed = await km.drain(count(60_000, 180_000));
      const refused = (km.settledBy.get('LIMIT') ?? 0) - (settled0.get('LIMIT') ?? 0);
      // A value written after the new ids reaches the victim.
      const speed = 40 + r;
      const w = await api.request({ type: 'write_signals_value', data: { 'Vehicle.Speed': speed } });
      const valued = await until(() => got.some((x) => x.cmd === 'apis-value' && (x.result as Rec | undefined)?.['Vehicle.Speed'] === speed), 15_000);
      const ended = await until(() => got.some((x) => x.cmd === 'run_python_app' && x.isDone === true), 60_000);
      const text = runText(got);
      const missing = Array.from({ length: LINES }, (_, i) => `line ${i + 1}\r\n`).filter((l) => !text.includes(l));
      const end = got.find((x) => x.cmd === 'run_python_app' && x.isDone === true);
      const dropped = ((await getJson(agent.healthUrl)).body.kitManagerDroppedReplies as number) - dropped0;
      summary.data.figures[`${newIds} new ids: answered, refused LIMIT, unanswered`] = `${newIds - owed.length - refused}, ${refused}, ${owed.length}`;
      summary.data.figures[`${newIds} new ids: victim's lines, end, value, replies dropped`] = `${LINES - missing.length}/${LINES}, ${end ? `code ${String(end.code)}` : 'none'}, ${valued}, ${dropped}`;
      t.ok(subscribed && started, 'the victim subscribed and its run began before the new ids');
      t.same(owed, [], `every new id got a reply (${newIds - owed.length - refused} answered, ${refused} refused with LIMIT while every place was busy, ${owed.length} unanswered)`);
      t.not(w.type, 'error', 'the signal is written');
      t.same(missing, [], `the victim got every line of its run (${LINES})`);
      t.ok(ended && end?.code === 0, `and the end of its run (code ${String(end?.code)})`);
      t.ok(valued, 'and the value written after the new ids');
      t.equal(dropped, 0, 'no reply dropped (kitManagerDroppedReplies)');
      return subscribed && started && owed.length === 0 && missing.length === 0 && ended && end?.code === 0 && valued && dropped === 0;
    });
  }

  await attack(t, summary, `every place taken by a subscribed frontend (${PLACES})`, agent, async () => {
    // The victims leave (their runs ended; they unsubscribe), so every earlier frontend is idle; then subscribers
    // take every place and hold it.
    for (let r = 1; r <= round; r++) km.send(event({ request_from: `victim-${r}`, cmd: 'unsubscribe_apis' }), `victim-${r}`, 'unsubscribe');
    const left = await km.drain(CEILING_MS);
    const limit0 = km.settledBy.get('LIMIT') ?? 0;
    for (let i = 0; i < PLACES; i++) km.send(event({ request_from: `holder-${i}`, cmd: 'subscribe_apis', apis: ['Vehicle.Speed'] }), `holder-${i}`, 'subscribe_apis');
    const owed = await km.drain(CEILING_MS);
    const refusedHolders = (km.settledBy.get('LIMIT') ?? 0) - limit0;
    // A new id now: a run is refused in the run log (an `Error:` line, then the end), a seed request with an error.
    const run = km.watch('late-run');
    km.send(event({ request_from: 'late-run', cmd: 'run_python_app', data: { code: 'print(1)', name: 'late' } }), null, 'late run');
    const seed = km.watch('late-seed');
    km.send(event({ request_from: 'late-seed', type: 'ping', id: 'p1' }), null, 'late ping');
    const runRefused = await until(() => run.some((x) => x.isDone === true), 15_000);
    const seedRefused = await until(() => seed.length > 0, 15_000);
    const line = run.find((x) => x.isDone === false);
    const last = run.find((x) => x.isDone === true);
    t.same(left, [], 'the victims unsubscribed');
    t.same(owed, [], 'every subscriber got its answer');
    t.equal(refusedHolders, 0, `each of the ${PLACES} subscribers took a place left by an idle frontend`);
    t.ok(runRefused && /^Error: .*256 frontends/.test(String(line?.result)), `a refused run says why in the run log: ${String(line?.result).trim()}`);
    t.match(last, { cmd: 'run_python_app', errorCode: 'LIMIT', code: 1 }, 'then ends it (Exit code 1)');
    t.ok(seedRefused, 'a refused seed request is answered');
    t.match(seed[0], { type: 'error', id: 'p1', code: 'LIMIT' }, 'with an error frame of its id');
    // A place frees up: the new id is served.
    km.send(event({ request_from: 'holder-0', cmd: 'unsubscribe_apis' }), 'holder-0', 'unsubscribe');
    await km.drain(CEILING_MS);
    const later = km.watch('late-seed-2');
    km.send(event({ request_from: 'late-seed-2', type: 'ping', id: 'p2' }), null, 'ping after a place freed');
    const served = await until(() => later.some((x) => x.type === 'pong'), 15_000);
    t.ok(served, 'a new id is served once a place is free again');
    summary.data.figures['all places held: holders refused, late run refused, late seed refused, served after'] = `${refusedHolders}, ${runRefused}, ${seedRefused}, ${served}`;
    return left.length === 0 && owed.length === 0 && refusedHolders === 0 && runRefused && seedRefused && served && last?.errorCode === 'LIMIT' && (seed[0] as Rec | undefined)?.code === 'LIMIT';
  });
  summary.data.crashes += caughtCrashes(agent).length;
});
