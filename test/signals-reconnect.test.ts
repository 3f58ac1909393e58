// The upstream databroker is killed and restarted on the same port: the agent reports disconnected, reconnects with
// backoff and re-subscribes, and the local subscriber gets values again without doing anything.
import t from 'tap';
import { ApiClient, sleep } from './helpers/agent';
import { startDownstream, startUpstream } from './helpers/signals';

for (const api of ['v2', 'v1']) {
  t.test(`${api}: subscriptions resume after the databroker restarts`, async (t) => {
    let up = await startUpstream();
    const port = up.port;
    t.teardown(() => up.agent.stop());
    const down = await startDownstream(port, api);
    t.teardown(() => down.stop());
    await down.waitLog((l) => l.msg === 'kuksa databroker connected');
    const c = await ApiClient.connect(down.apiUrl);
    t.teardown(() => c.close());
    const sub = await c.request({ type: 'subscribe_apis', apis: ['Vehicle.Speed'] });
    const upc = await ApiClient.connect(up.agent.apiUrl);
    await upc.request({ type: 'write_signals_value', data: { 'Vehicle.Speed': 10 } });
    await c.waitFor((f) => f.id === sub.subscriptionId && (f.result as Record<string, unknown>)['Vehicle.Speed'] === 10);
    upc.close();

    await up.agent.stop('SIGKILL');
    let connected = true;
    for (let i = 0; i < 50 && connected; i++) { await sleep(100); connected = (await c.request({ type: 'get_runtime_info' })).kuksaConnected as boolean; }
    t.equal(connected, false, 'reported disconnected');

    up = await startUpstream({ port });
    const upc2 = await ApiClient.connect(up.agent.apiUrl);
    t.teardown(() => upc2.close());
    await down.waitLog((l) => l.msg === 'kuksa databroker connected' && (l.time as string) > new Date(Date.now() - 20_000).toISOString() && down.logs.indexOf(l) > 5, 20_000);
    for (let i = 0; i < 50 && !connected; i++) { await sleep(100); connected = (await c.request({ type: 'get_runtime_info' })).kuksaConnected as boolean; }
    t.equal(connected, true, 'reconnected');
    await upc2.request({ type: 'write_signals_value', data: { 'Vehicle.Speed': 20 } });
    await c.waitFor((f) => f.id === sub.subscriptionId && (f.result as Record<string, unknown>)['Vehicle.Speed'] === 20, 15_000);
    t.pass('the subscription resumed');
  });
}
