// The upstream databroker is killed and restarted on the same port: the agent reports disconnected, reconnects with
// backoff and re-subscribes, and the local subscriber gets values again without doing anything.
import t from 'tap';
import { ApiClient, eventually } from './helpers/agent';
import { startDownstream, startUpstream } from './helpers/signals';

for (const api of ['v2', 'v1']) {
  t.test(`${api}: subscriptions resume after the databroker restarts`, async (t) => {
    let up = await startUpstream(t);
    const port = up.port;
    const down = await startDownstream(t, port, api);
    await down.waitLog((l) => l.msg === 'kuksa databroker connected');
    const c = await ApiClient.connect(down.apiUrl);
    t.teardown(() => c.close());
    const sub = await c.request({ type: 'subscribe_apis', apis: ['Vehicle.Speed'] });
    const upc = await ApiClient.connect(up.agent.apiUrl);
    await upc.request({ type: 'write_signals_value', data: { 'Vehicle.Speed': 10 } });
    await c.waitFor((f) => f.id === sub.subscriptionId && (f.result as Record<string, unknown>)['Vehicle.Speed'] === 10);
    upc.close();

    await up.agent.stop('SIGKILL');
    const connected = async () => (await c.request({ type: 'get_runtime_info' })).kuksaConnected as boolean;
    await eventually('reported disconnected', async () => !(await connected()), { stepMs: 100 });
    t.pass('reported disconnected');

    const mark = down.logs.length;
    up = await startUpstream(t, { port });
    const upc2 = await ApiClient.connect(up.agent.apiUrl);
    t.teardown(() => upc2.close());
    await down.waitLog((l) => l.msg === 'kuksa databroker connected' && down.logs.indexOf(l) >= mark);
    await eventually('reported connected again', connected, { stepMs: 100 });
    t.pass('reconnected');
    await upc2.request({ type: 'write_signals_value', data: { 'Vehicle.Speed': 20 } });
    await c.waitFor((f) => f.id === sub.subscriptionId && (f.result as Record<string, unknown>)['Vehicle.Speed'] === 20);
    t.pass('the subscription resumed');
  });
}
