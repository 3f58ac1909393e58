// Section 2 — databroker faults: agent A uses agent B as its external databroker (kuksa.mode external → B's embedded
// gRPC server). B is killed and restarted (3 times short, 20 full): writes through A during the outage fail with a clear
// error, succeed after, and A's subscription resumes (a value written at B reaches A's subscriber).
import t from 'tap';
import * as net from 'node:net';
import { ApiClient, startAgent, tmpDir, type AgentHandle } from '../helpers/agent';
import { Summary, budgetEnd, caughtCrashes, count, exited, makeRng, req, roundsDone, seedFor, sleep, until } from './lib';
import { SAFE_ENV } from './safe-env';
import * as path from 'node:path';

const SECTION = 'databroker-faults';
const seed = seedFor(SECTION);
const rng = makeRng(seed);
const summary = new Summary(SECTION, seed);
t.teardown(() => summary.write(t));

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const p = (s.address() as net.AddressInfo).port; s.close(() => resolve(p)); });
  });
}

t.test('external databroker killed and restarted', async (t) => {
  const port = await freePort();
  const brokerDir = path.join(tmpDir(t, 'sdv-chaos-broker-'), 'data');
  const brokerConfig = { kuksa: { mode: 'embedded', serve: true, address: `127.0.0.1:${port}` } };
  let broker: AgentHandle = await startAgent(t, { dataDir: brokerDir, env: SAFE_ENV, config: brokerConfig });
  const agent = await startAgent(t, { env: SAFE_ENV, config: { kuksa: { mode: 'external', address: `127.0.0.1:${port}` } } });
  const c = await ApiClient.connect(agent.apiUrl);
  t.teardown(() => c.close());
  const write = (v: number) => req(c, { type: 'write_signals_value', data: { 'Vehicle.Speed': v } });
  const ok = await until(async () => (await write(1)).type !== 'error', 20_000, 250);
  t.ok(ok, 'agent A writes through agent B, its databroker');
  if (!ok) return;
  await req(c, { type: 'subscribe_apis', apis: ['Vehicle.Speed'] });

  const kills = count(3, 20);
  const deadline = budgetEnd(300_000);
  let done = 0;
  for (let k = 0; k < kills && Date.now() < deadline; k++) {
    await broker.stop('SIGKILL');
    summary.data.faultsInjected++;
    let survived = true;
    const during = await write(1000 + k);
    if (during.type !== 'error') { survived = false; summary.finding(`kill ${k}: a write during the outage was acknowledged: ${JSON.stringify(during).slice(0, 160)}`); }
    else if (String(during.error).length < 10) { survived = false; summary.finding(`kill ${k}: unclear outage error: ${String(during.error)}`); }
    await sleep(rng.int(500));
    broker = await startAgent(t, { dataDir: brokerDir, env: SAFE_ENV, config: brokerConfig });
    const back = await until(async () => (await write(2000 + k)).type !== 'error', 30_000, 250);
    if (!back) { survived = false; summary.finding(`kill ${k}: writes did not succeed again within 30 s`); }
    // the subscription resumed: a value written at the broker reaches A's subscriber
    const bc = await ApiClient.connect(broker.apiUrl);
    const marker = 3000 + k * 7 + 0.5;
    const seen = await until(async () => {
      await req(bc, { type: 'write_signals_value', data: { 'Vehicle.Speed': marker } });
      return c.frames.some((f) => JSON.stringify(f).includes(String(marker)));
    }, 20_000, 500);
    bc.close();
    if (!seen) { survived = false; summary.finding(`kill ${k}: the subscription did not resume`); }
    if (survived) summary.data.faultsSurvived++;
    done++;
  }
  summary.data.figures.brokerRestarts = done;
  summary.data.crashes += (exited(agent) ? 1 : 0) + caughtCrashes(agent).length;
  roundsDone(t, done, kills, 'broker restarts');
  t.equal(summary.data.faultsSurvived, done, 'every outage: clear error, writes back, subscription resumed');
  t.equal(summary.data.crashes, 0, 'no crashes');
});
