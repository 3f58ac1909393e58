// The embedded gRPC server's listening half (src/signals/grpc/server.ts): the port is bound at start, and grpc-js, the
// protos and the handlers are loaded when the first client connects (issue 30). What a client sees must be what a
// server that bound the port itself gives: the first calls, made while the services load, are answered; a client
// that leaves before the load does not hurt the agent; a taken port is said at start.
import * as net from 'node:net';
import t from 'tap';
import { ApiClient, startAgent } from './helpers/agent';
import { call, rawClients, startUpstream } from './helpers/signals';

t.test('an idle box does not load the gRPC services; the first clients, all at once, are served while they load', async (t) => {
  const { agent, port } = await startUpstream(t);
  const c = await ApiClient.connect(agent.apiUrl);
  t.teardown(() => c.close());
  // The local API works on the store without the gRPC services.
  await c.request({ type: 'write_signals_value', data: { 'Vehicle.Speed': 42 } });
  t.notOk(agent.logs.some((l) => l.msg === 'databroker gRPC services loaded (first connection)'), 'not loaded while no gRPC client came');

  // A socket that connects and resets before the services are loaded, then three clients of their own connections.
  const early = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => { early.once('connect', resolve); early.once('error', reject); });
  early.resetAndDestroy();
  const clients = [0, 1, 2].map(() => rawClients(port, { 'grpc.use_local_subchannel_pool': 1 }));
  t.teardown(() => { for (const r of clients) for (const k of ['v1', 'v2', 'broker', 'collector'] as const) r[k].close(); });
  const replies = await Promise.all(clients.flatMap((r) => [
    call(r.v2, 'GetValue', { signal_id: { path: 'Vehicle.Speed' } }),
    call(r.v1, 'Get', { entries: [{ path: 'Vehicle.Speed', view: 'VIEW_CURRENT_VALUE', fields: ['FIELD_VALUE'] }] }),
    call(r.broker, 'GetDatapoints', { datapoints: ['Vehicle.Speed'] }),
  ]));
  for (let i = 0; i < replies.length; i += 3) {
    t.equal(replies[i]!.data_point.value.float, 42, 'kuksa.val v2 GetValue');
    t.equal(replies[i + 1]!.entries[0].value.float, 42, 'kuksa.val v1 Get');
    t.equal(replies[i + 2]!.datapoints['Vehicle.Speed'].float_value, 42, 'sdv.databroker.v1 GetDatapoints');
  }
  t.equal(agent.logs.filter((l) => l.msg === 'databroker gRPC services loaded (first connection)').length, 1, 'loaded once');
  const ping = await c.request({ type: 'ping' });
  t.equal(ping.type, 'pong', 'the agent is well after the reset socket');
});

t.test('a taken kuksa.address is said at start, as before the lazy load', async (t) => {
  const squatter = net.createServer();
  await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => squatter.close(() => resolve())));
  const port = (squatter.address() as net.AddressInfo).port;
  const agent = await startAgent(t, { config: { kuksa: { serve: true, address: `127.0.0.1:${port}` } } });
  const line = await agent.waitLog((l) => typeof l.msg === 'string' && l.msg.startsWith('databroker gRPC server not started'));
  t.match(line.msg, /EADDRINUSE/, 'the reason is the taken port');
  const health = await (await fetch(agent.healthUrl)).json() as Record<string, unknown>;
  t.match(JSON.stringify(health), /databroker gRPC server not started/, '/health says so');
});
