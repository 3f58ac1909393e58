// kuksa.val v1 and v2 against the agent's embedded gRPC server: a second agent in external mode (api v1, v2, auto)
// reads, writes and subscribes through the local API; a raw client checks wire behaviour and the token.
import t from 'tap';
import { ApiClient, eventually } from './helpers/agent';
import { ALL_TYPE_VALUES, call, rawClients, startDownstream, startUpstream, writeAllTypesVss } from './helpers/signals';

t.test('v1, v2 and auto clients against the embedded server', async (t) => {
  const vss = writeAllTypesVss(t);
  // echo off upstream: a databroker without a provider, as an external one is (the echo is tested in signals-sdv)
  const up = await startUpstream(t, { kuksa: { vss, echoActuators: false } });
  const raw = rawClients(up.port);
  t.teardown(() => { raw.v1.close(); raw.v2.close(); });

  for (const api of ['v2', 'v1', 'auto']) {
    await t.test(`api ${api}`, async (t) => {
      const down = await startDownstream(t, up.port, api);
      const c = await ApiClient.connect(down.apiUrl);
      t.teardown(() => c.close());
      await down.waitLog((l) => l.msg === 'kuksa databroker connected');

      // every value kind, converted and round-tripped through the wire
      const w = await c.request({ type: 'write_signals_value', data: ALL_TYPE_VALUES });
      t.notOk(w.errors, `all kinds written (${JSON.stringify(w.errors)})`);
      const g = await c.request({ type: 'get_signals_value', apis: Object.keys(ALL_TYPE_VALUES) });
      t.same(g.result, ALL_TYPE_VALUES, 'values read back exactly');

      // strings from mock lists become the signal's type
      const s = await c.request({ type: 'write_signals_value', data: { 'Vehicle.T.S_bool': 'False', 'Vehicle.T.S_i32': '-7', 'Vehicle.T.A_i32': '[1,-2]' } });
      t.notOk(s.errors);
      const g2 = await c.request({ type: 'get_signals_value', apis: ['Vehicle.T.S_bool', 'Vehicle.T.S_i32', 'Vehicle.T.A_i32'] });
      t.same(g2.result, { 'Vehicle.T.S_bool': false, 'Vehicle.T.S_i32': -7, 'Vehicle.T.A_i32': [1, -2] });

      // per-path errors; the good path is still written
      const e = await c.request({ type: 'write_signals_value', data: { 'Vehicle.T.S_u8': 300, 'Vehicle.Nope': 1, 'Vehicle.T.S_i8': 'abc', 'Vehicle.T.Enum': 'FLY', 'Vehicle.Speed': 12.5 } });
      const errs = e.errors as Record<string, string>;
      t.match(errs['Vehicle.T.S_u8'], /300 does not fit uint8/);
      t.match(errs['Vehicle.Nope'], /no such signal/);
      t.match(errs['Vehicle.T.S_i8'], /expected an integer/);
      t.match(errs['Vehicle.T.Enum'], /not one of the allowed/);
      t.notOk(errs['Vehicle.Speed']);
      t.same((await c.request({ type: 'get_signals_value', apis: ['Vehicle.Speed'] })).result, { 'Vehicle.Speed': 12.5 });

      // wildcards expand with metadata
      const sub = await c.request({ type: 'subscribe_apis', apis: ['Vehicle.Act.*', 'Vehicle.T.**'] });
      t.equal((sub.apis as string[]).length, 24, 'Act.* (2) + T.** (22)');
      t.ok((sub.apis as string[]).includes('Vehicle.Act.Lamp'));
      const first = await c.waitFor((f) => f.type === 'apis-value' && f.id === sub.subscriptionId);
      t.equal((first.result as Record<string, unknown>)['Vehicle.T.S_string'], 'hello', 'initial snapshot');

      // routing: a sensor gets a current value, an actuator a target
      await call(raw.v2, 'PublishValue', { signal_id: { path: 'Vehicle.T.S_i16' }, data_point: { value: { int32: -3 } } });
      const f = await c.waitFor((fr) => fr.type === 'apis-value' && (fr.result as Record<string, unknown>)['Vehicle.T.S_i16'] === -3);
      t.ok(f, 'a change published by another app reaches the subscriber');
      const act = await c.request({ type: 'write_signals_value', data: { 'Vehicle.Act.Level': 40 } });
      if (api === 'v1') {
        t.notOk(act.errors, 'v1: the target is set without a provider');
        const got = await call(raw.v1, 'Get', { entries: [{ path: 'Vehicle.Act.Level', view: 'VIEW_ALL', fields: [] }] });
        t.equal(got.entries[0].actuator_target.uint32, 40, 'actuator target set');
        t.notOk(got.entries[0].value?.uint32, 'current value untouched');
      } else {
        t.match((act.errors as Record<string, string>)['Vehicle.Act.Level'], /no provider/, 'v2: Actuate without a provider is a clear error');
      }
    });
  }

  await t.test('actuation reaches the v2 provider (mock echo) and the value comes back', async (t) => {
    const down = await startDownstream(t, up.port, 'v2');
    const c = await ApiClient.connect(down.apiUrl);
    t.teardown(() => c.close());
    await down.waitLog((l) => l.msg === 'kuksa databroker connected');
    const st = await c.request({ type: 'mock_service_start', mode: 'echo-all' });
    t.equal(st.mode, 'echo-all');
    await eventually('the mock provider claims the actuators', async () => ((await c.request({ type: 'mock_service_status' })).claimed as number) > 0, { stepMs: 100 });
    const sub = await c.request({ type: 'subscribe_apis', apis: ['Vehicle.Act.Lamp'] });
    const w = await c.request({ type: 'write_signals_value', data: { 'Vehicle.Act.Lamp': 'True' } });
    t.notOk(w.errors, JSON.stringify(w.errors));
    await c.waitFor((f) => f.id === sub.subscriptionId && (f.result as Record<string, unknown>)['Vehicle.Act.Lamp'] === true);
    t.pass('echoed current value delivered');
    await c.request({ type: 'mock_service_stop' });
  });

  await t.test('raw wire behaviour', async (t) => {
    const info = await call(raw.v2, 'GetServerInfo', {});
    t.ok(info.version);
    await t.rejects(call(raw.v2, 'GetValue', { signal_id: { path: 'Vehicle.Nope' } }), { code: 5 }, 'NOT_FOUND');
    await t.rejects(call(raw.v2, 'PublishValue', { signal_id: { path: 'Vehicle.T.S_i32' }, data_point: { value: { string: 'x' } } }), { code: 3 }, 'INVALID_ARGUMENT');
    await t.rejects(call(raw.v2, 'Actuate', { signal_id: { path: 'Vehicle.Act.Lamp' }, value: { bool: true } }), { code: 14 }, 'UNAVAILABLE without provider');
    const unimpl = await new Promise<{ code: number }>((resolve) => { const s = raw.v1.StreamedUpdate(); s.on('error', resolve); s.end(); });
    t.equal(unimpl.code, 12, 'rpcs not served answer UNIMPLEMENTED (v1 StreamedUpdate)');
    const speedId = (await call(raw.v2, 'ListMetadata', { root: 'Vehicle.Speed' })).metadata[0].id as number;
    const byId = raw.v2.SubscribeById({ signal_ids: [speedId] });
    const first = await new Promise<Record<string, unknown>>((resolve, reject) => { byId.once('data', resolve); byId.once('error', reject); });
    byId.cancel();
    byId.on('error', () => {});
    t.ok(String(speedId) in (first.entries as object), 'SubscribeById answers its first reply keyed by signal id');
    const md = await call(raw.v2, 'ListMetadata', { root: 'Vehicle.T.S_i8' });
    t.match(md.metadata[0], { path: 'Vehicle.T.S_i8', data_type: 'DATA_TYPE_INT8', entry_type: 'ENTRY_TYPE_SENSOR', min: { int32: -100 }, max: { int32: 100 } });
    const g = await call(raw.v1, 'Get', { entries: [{ path: 'Vehicle.T.S_i64', view: 'VIEW_CURRENT_VALUE', fields: ['FIELD_VALUE'] }] });
    t.equal(typeof g.entries[0].value.int64, 'string', 'int64 on the wire');
  });

  await t.test('a provider of its own on OpenProviderStream: announce, publish by id, claim an actuator, receive Actuate', async (t) => {
    const idOf = async (p: string) => (await call(raw.v2, 'ListMetadata', { root: p })).metadata[0].id as number;
    const sensor = await idOf('Vehicle.T.S_i32');
    const stream = raw.v2.OpenProviderStream();
    t.teardown(() => stream.cancel());
    stream.on('error', () => {});
    const replies: Array<Record<string, any>> = []; // eslint-disable-line @typescript-eslint/no-explicit-any
    stream.on('data', (m: Record<string, unknown>) => replies.push(m));
    const next = async (key: string) => {
      let got: any; // eslint-disable-line @typescript-eslint/no-explicit-any
      await eventually(`a ${key}`, () => { const k = replies.findIndex((r) => r[key]); if (k >= 0) got = replies.splice(k, 1)[0]![key]; return k >= 0; }, { stepMs: 10 });
      return got;
    };
    const f32 = await idOf('Vehicle.T.S_float');
    stream.write({ provide_signal_request: { signals_sample_intervals: { [sensor]: { interval_ms: 10 }, [f32]: { interval_ms: 10 } } } });
    await next('provide_signal_response');
    stream.write({ publish_values_request: { request_id: 7, data_points: { [sensor]: { value: { int32: 42 } }, [f32]: { value: { bool: true } } } } });
    const pub = await next('publish_values_response');
    t.equal(pub.request_id, 7, 'the request id comes back (uint32)');
    t.match(pub.status, { [f32]: { code: 'ERROR_CODE_INVALID_ARGUMENT' } }, 'a refused value is reported per signal');
    t.notOk(pub.status[sensor], 'the good value is accepted');
    t.equal((await call(raw.v2, 'GetValue', { signal_id: { id: sensor } })).data_point.value.int32, 42, 'the published value is read back');

    stream.write({ provide_actuation_request: { actuator_identifiers: [{ path: 'Vehicle.Act.Level' }] } });
    await next('provide_actuation_response');
    await call(raw.v2, 'Actuate', { signal_id: { path: 'Vehicle.Act.Level' }, value: { uint32: 55 } });
    const act = await next('batch_actuate_stream_request');
    t.match(act.actuate_requests[0], { value: { uint32: 55 } }, 'Actuate is forwarded to the provider that claimed the actuator');
  });
});

t.test('token: rejected without, accepted with', async (t) => {
  const up = await startUpstream(t, { kuksa: { token: 'sesame-123' } });
  const raw = rawClients(up.port);
  t.teardown(() => { raw.v1.close(); raw.v2.close(); });
  await t.rejects(call(raw.v2, 'GetServerInfo', {}), { code: 16 }, 'UNAUTHENTICATED without a token');
  await t.rejects(call(raw.v1, 'GetServerInfo', {}, 'wrong'), { code: 16 }, 'UNAUTHENTICATED with a wrong token');
  t.ok((await call(raw.v2, 'GetServerInfo', {}, 'sesame-123')).version, 'accepted with the token');

  const good = await startDownstream(t, up.port, 'v1', { token: 'sesame-123' });
  await good.waitLog((l) => l.msg === 'kuksa databroker connected');
  const c = await ApiClient.connect(good.apiUrl);
  t.teardown(() => c.close());
  const w = await c.request({ type: 'write_signals_value', data: { 'Vehicle.Speed': 3 } });
  t.notOk(w.errors);
  const info = await c.request({ type: 'get_runtime_info' });
  t.equal(info.kuksaConnected, true);

  const bad = await startDownstream(t, up.port, 'v2', { token: 'nope' });
  await bad.waitLog((l) => l.msg === 'kuksa databroker not reachable');
  const cb = await ApiClient.connect(bad.apiUrl);
  t.teardown(() => cb.close());
  t.equal((await cb.request({ type: 'get_runtime_info' })).kuksaConnected, false, 'a refused token reads as not connected');
});
