// Server streams of the embedded databroker, as a raw gRPC client sees them: every failing stream (kuksa.val v1, v2
// and sdv.databroker.v1) ends with its status code at once; a v2 provider that half-closes its request side keeps
// its claim while its response stream is open; a v1 metadata subscription answers with the metadata.
import t from 'tap';
import * as grpc from '@grpc/grpc-js';
import { CEILING_MS, eventually } from './helpers/agent';
import { call, rawClients, startUpstream } from './helpers/signals';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const TOKEN = 'stream-token-1';
const LOW = 'Vehicle.Body.Lights.Beam.Low.IsOn';

function md(token?: string): grpc.Metadata {
  const m = new grpc.Metadata();
  if (token) m.set('authorization', `Bearer ${token}`);
  return m;
}

/** Opens a stream and resolves with its status and how long it took to arrive; rejects after the suite's ceiling. */
function statusOf(open: () => grpc.ClientReadableStream<Obj> | grpc.ClientDuplexStream<Obj, Obj>): Promise<{ code: number; details: string; ms: number; data: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const s = open();
    let data = 0;
    const timer = setTimeout(() => { s.cancel(); reject(new Error(`no status in ${CEILING_MS} ms: the stream hangs`)); }, CEILING_MS);
    s.on('data', () => { data++; });
    s.on('error', (e: grpc.ServiceError) => { clearTimeout(timer); resolve({ code: e.code, details: e.details, ms: performance.now() - t0, data }); });
    s.on('end', () => { clearTimeout(timer); resolve({ code: 0, details: 'ended OK', ms: performance.now() - t0, data }); });
  });
}

t.test('every failing server stream ends with its status, no data before it', async (t) => {
  const up = await startUpstream(t, { kuksa: { token: TOKEN } });
  const raw = rawClients(up.port);
  t.teardown(() => { for (const c of Object.values(raw)) c.close(); });
  // connect every channel first: the bound is on the stream, not on dialing
  for (const [c, m] of [[raw.v1, 'GetServerInfo'], [raw.v2, 'GetServerInfo'], [raw.broker, 'GetMetadata'], [raw.collector, 'UpdateDatapoints']] as const) {
    await call(c, m, {}, TOKEN);
  }
  const duplex = (c: Obj, method: string, token: string | undefined, first?: Obj) => () => {
    const s = c[method](md(token)) as grpc.ClientDuplexStream<Obj, Obj>;
    if (first) s.write(first);
    return s;
  };
  const cases: Array<[string, () => grpc.ClientReadableStream<Obj> | grpc.ClientDuplexStream<Obj, Obj>, grpc.status, RegExp]> = [
    ['v2 Subscribe, unknown path', () => raw.v2.Subscribe({ signal_paths: ['Vehicle.Nope'] }, md(TOKEN)), grpc.status.NOT_FOUND, /Vehicle\.Nope/],
    ['v2 Subscribe, a branch where a leaf is required', () => raw.v2.Subscribe({ signal_paths: ['Vehicle.Body.Lights.Beam.Low'] }, md(TOKEN)), grpc.status.NOT_FOUND, /Beam\.Low/],
    ['v2 Subscribe, no path', () => raw.v2.Subscribe({ signal_paths: [] }, md(TOKEN)), grpc.status.INVALID_ARGUMENT, /at least one/],
    ['v2 Subscribe, no token', () => raw.v2.Subscribe({ signal_paths: [LOW] }, md()), grpc.status.UNAUTHENTICATED, /Bearer/],
    ['v2 Subscribe, wrong token', () => raw.v2.Subscribe({ signal_paths: [LOW] }, md('wrong')), grpc.status.UNAUTHENTICATED, /Bearer/],
    ['v2 OpenProviderStream, wrong token', duplex(raw.v2, 'OpenProviderStream', 'wrong'), grpc.status.UNAUTHENTICATED, /Bearer/],
    ['v2 OpenProviderStream, claim of an unknown path', duplex(raw.v2, 'OpenProviderStream', TOKEN, { provide_actuation_request: { actuator_identifiers: [{ path: 'Vehicle.Nope' }] } }), grpc.status.NOT_FOUND, /Vehicle\.Nope/],
    ['v1 Subscribe, unknown path', () => raw.v1.Subscribe({ entries: [{ path: 'Vehicle.Nope', fields: ['FIELD_VALUE'] }] }, md(TOKEN)), grpc.status.NOT_FOUND, /Vehicle\.Nope/],
    ['v1 Subscribe, no entries', () => raw.v1.Subscribe({ entries: [] }, md(TOKEN)), grpc.status.INVALID_ARGUMENT, /at least one/],
    ['v1 Subscribe, fields naming nothing to stream', () => raw.v1.Subscribe({ entries: [{ path: LOW, fields: ['FIELD_PATH'] }] }, md(TOKEN)), grpc.status.INVALID_ARGUMENT, /nothing to subscribe/],
    ['v1 Subscribe, no token', () => raw.v1.Subscribe({ entries: [{ path: LOW, fields: ['FIELD_VALUE'] }] }, md()), grpc.status.UNAUTHENTICATED, /Bearer/],
    ['sdv Subscribe, unknown path', () => raw.broker.Subscribe({ query: 'SELECT Vehicle.Nope' }, md(TOKEN)), grpc.status.INVALID_ARGUMENT, /Vehicle\.Nope: no such signal/],
    ['sdv Subscribe, a branch where a leaf is required', () => raw.broker.Subscribe({ query: 'SELECT Vehicle.Body.Lights.Beam.Low' }, md(TOKEN)), grpc.status.INVALID_ARGUMENT, /Beam\.Low: no such signal/],
    ['sdv Subscribe, bad query', () => raw.broker.Subscribe({ query: 'SELECT Vehicle.Speed WHERE Vehicle.Speed >' }, md(TOKEN)), grpc.status.INVALID_ARGUMENT, /expected a signal path/],
    ['sdv Subscribe, type mismatch', () => raw.broker.Subscribe({ query: `SELECT ${LOW} WHERE Vehicle.Speed = 'fast'` }, md(TOKEN)), grpc.status.INVALID_ARGUMENT, /cannot compare/],
    ['sdv Subscribe, LAG', () => raw.broker.Subscribe({ query: 'SELECT LAG(Vehicle.Speed)' }, md(TOKEN)), grpc.status.INVALID_ARGUMENT, /LAG\(\) is not supported/],
    ['sdv Subscribe, sub-query', () => raw.broker.Subscribe({ query: 'SELECT (SELECT Vehicle.Speed)' }, md(TOKEN)), grpc.status.INVALID_ARGUMENT, /sub-queries are not supported/],
    ['sdv Subscribe, no token', () => raw.broker.Subscribe({ query: 'SELECT Vehicle.Speed' }, md()), grpc.status.UNAUTHENTICATED, /Bearer/],
    ['sdv StreamDatapoints, wrong token', duplex(raw.collector, 'StreamDatapoints', 'wrong'), grpc.status.UNAUTHENTICATED, /Bearer/],
  ];
  for (const [what, open, code, details] of cases) {
    const r = await statusOf(open);
    t.equal(r.code, code, `${what}: ${grpc.status[code]}`);
    t.match(r.details, details, `${what}: the message says why (${r.details})`);
    t.equal(r.data, 0, `${what}: no data before the status (after ${r.ms.toFixed(1)} ms)`);
  }

  // a feeder that half-closes StreamDatapoints gets OK, as from databroker 0.4
  const feeder = raw.collector.StreamDatapoints(md(TOKEN)) as grpc.ClientDuplexStream<Obj, Obj>;
  const fed = statusOf(() => feeder);
  feeder.end();
  t.equal((await fed).code, grpc.status.OK, 'StreamDatapoints half-closed by the feeder ends OK');
});

t.test('a v2 provider that half-closes its request side keeps its claim while its response stream is open', async (t) => {
  const up = await startUpstream(t, { kuksa: { echoActuators: false } });
  const raw = rawClients(up.port);
  t.teardown(() => { for (const c of Object.values(raw)) c.close(); });
  await t.rejects(call(raw.v2, 'Actuate', { signal_id: { path: LOW }, value: { bool: true } }), { code: grpc.status.UNAVAILABLE }, 'no claim: Actuate is refused (echo off)');

  const provider = raw.v2.OpenProviderStream(md()) as grpc.ClientDuplexStream<Obj, Obj>;
  provider.on('error', () => {});
  const got: Obj[] = [];
  provider.on('data', (m: Obj) => got.push(m));
  provider.write({ provide_actuation_request: { actuator_identifiers: [{ path: LOW }] } });
  provider.end(); // what kuksa-client does right after its claim
  await eventually('the claim acknowledged', () => got.some((m) => m.provide_actuation_response), { stepMs: 10 });
  t.ok(got.some((m) => m.provide_actuation_response), 'the claim is acknowledged');
  await call(raw.v2, 'Actuate', { signal_id: { path: LOW }, value: { bool: true } });
  await eventually('the actuation forwarded', () => got.some((m) => m.batch_actuate_stream_request), { stepMs: 10 });
  const lowId = (await call(raw.v2, 'ListMetadata', { root: LOW })).metadata[0].id as number;
  t.match(got.find((m) => m.batch_actuate_stream_request)?.batch_actuate_stream_request.actuate_requests[0], { signal_id: { id: lowId }, value: { bool: true } },
    'Actuate after the half-close reaches the provider (the signal by id, as databroker 0.7 sends it)');

  provider.cancel();
  let refused: unknown;
  await eventually('Actuate refused once the claim ended', async () => {
    refused = await call(raw.v2, 'Actuate', { signal_id: { path: LOW }, value: { bool: false } }).then(() => undefined, (e) => e);
    return refused !== undefined;
  }, { stepMs: 10 });
  t.match(refused, { code: grpc.status.UNAVAILABLE }, 'the claim ends with the response stream (cancel)');
});

t.test('v1 Subscribe with VIEW_METADATA answers with the metadata', async (t) => {
  const up = await startUpstream(t);
  const raw = rawClients(up.port);
  t.teardown(() => { for (const c of Object.values(raw)) c.close(); });
  const s = raw.v1.Subscribe({ entries: [{ path: 'Vehicle.Speed', view: 'VIEW_METADATA', fields: ['FIELD_METADATA'] }] }, md()) as grpc.ClientReadableStream<Obj>;
  t.teardown(() => s.cancel());
  s.on('error', () => {});
  const first = await new Promise<Obj>((resolve, reject) => { s.once('data', resolve); setTimeout(() => reject(new Error('no metadata in 5 s')), 5000); });
  t.match(first.updates, [{ entry: { path: 'Vehicle.Speed', metadata: { data_type: 'DATA_TYPE_FLOAT', entry_type: 'ENTRY_TYPE_SENSOR', unit: 'km/h' } }, fields: ['FIELD_METADATA'] }]);
});
