// kuksa.val.v2 as databroker 0.7.0 serves it, on the embedded server, with raw grpc-js clients built from the
// project's protos (the 0.7.0 wire format: test/unit/kuksa-v2-proto.ts): the provider protocol (provide_signal,
// the publish-after-provide rule, claims held by one provider, UpdateFilterRequest, GetProviderValueRequest,
// ProviderErrorIndication), Subscribe's min_sample_interval and buffer_size, ActuateStream, BatchActuate all or
// none, GetServerInfo, and kuksa.serveApis.
import t, { type Test } from 'tap';
import * as grpc from '@grpc/grpc-js';
import { eventually } from './helpers/agent';
import { call, rawClients, startUpstream, writeAllTypesVss } from './helpers/signals';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
type Duplex = grpc.ClientDuplexStream<Obj, Obj>;

/** A provider stream that records what the server sends and how the stream ended. */
function provider(raw: ReturnType<typeof rawClients>, t: Test) {
  const s = raw.v2.OpenProviderStream() as Duplex;
  const got: Obj[] = [];
  let status: grpc.ServiceError | { code: 0 } | null = null;
  s.on('data', (m: Obj) => got.push(m));
  s.on('error', (e: grpc.ServiceError) => { status = e; });
  s.on('status', (st: grpc.StatusObject) => { if (st.code === 0) status ??= { code: 0 }; });
  t.teardown(() => s.cancel());
  /** The next message with this key (waits for it), taken out of what was received. */
  const next = async (key: string): Promise<Obj> => {
    let m: Obj | undefined;
    await eventually(`a ${key}`, () => { const i = got.findIndex((x) => x[key]); if (i >= 0) m = got.splice(i, 1)[0]![key]; return i >= 0; }, { stepMs: 5 });
    return m!;
  };
  const ended = async () => { await eventually('the provider stream ends', () => status !== null, { stepMs: 5 }); return status as grpc.ServiceError; };
  return { s, got, next, ended };
}

t.test('the provider protocol of databroker 0.7', async (t) => {
  const up = await startUpstream(t, { kuksa: { vss: writeAllTypesVss(t), echoActuators: false } });
  const raw = rawClients(up.port, { 'grpc.use_local_subchannel_pool': 1 });
  t.teardown(() => { for (const c of Object.values(raw)) c.close(); });
  const ids: Record<string, number> = {};
  for (const m of (await call(raw.v2, 'ListMetadata', { root: 'Vehicle' })).metadata as Obj[]) ids[m.path] = m.id;
  const I32 = ids['Vehicle.T.S_i32']!;
  const F = ids['Vehicle.T.S_float']!;

  t.match(await call(raw.v2, 'GetServerInfo', {}), { name: String, version: String }, 'GetServerInfo answers');

  await t.test('a publish before provide_signal_request ends the stream ABORTED', async (t) => {
    const p = provider(raw, t);
    p.s.write({ publish_values_request: { request_id: 1, data_points: { [I32]: { value: { int32: 1 } } } } });
    const st = await p.ended();
    t.equal(st.code, grpc.status.ABORTED, `ABORTED (${st.code}: ${st.details})`);
    t.match(st.details, /ProvideSignalRequest first/);
  });

  await t.test('provide_signal → response; publish (request id 7) reaches a subscriber; only refusals are answered', async (t) => {
    const sub = raw.v2.Subscribe({ signal_paths: ['Vehicle.T.S_i32'] }) as grpc.ClientReadableStream<Obj>;
    t.teardown(() => sub.cancel());
    sub.on('error', () => {});
    const seen: unknown[] = [];
    sub.on('data', (r: Obj) => seen.push(r.entries['Vehicle.T.S_i32']?.value?.int32));
    const p = provider(raw, t);
    p.s.write({ provide_signal_request: { signals_sample_intervals: { [I32]: { interval_ms: 100 }, [F]: { interval_ms: 100 } } } });
    t.same(await p.next('provide_signal_response'), {}, 'provide_signal_request is answered provide_signal_response');
    p.s.write({ publish_values_request: { request_id: 7, data_points: { [I32]: { value: { int32: 42 } }, [F]: { value: { string: 'not a float' } } } } });
    const r = await p.next('publish_values_response');
    t.equal(r.request_id, 7, 'the response carries the request id 7');
    t.same(Object.keys(r.status), [String(F)], 'and names only the refused signal');
    t.match(r.status[F], { code: 'ERROR_CODE_INVALID_ARGUMENT', message: /S_float/ });
    await eventually('the subscriber sees 42', () => seen.includes(42), { stepMs: 5 });
    t.pass('a subscriber sees the published value');
    p.s.write({ publish_values_request: { request_id: 8, data_points: { [I32]: { value: { int32: 43 } } } } });
    await eventually('the subscriber sees 43', () => seen.includes(43), { stepMs: 5 });
    t.notOk(p.got.some((m) => m.publish_values_response), 'an accepted publish is not answered (0.7: "nothing upon success")');

    const other = provider(raw, t);
    other.s.write({ provide_signal_request: { signals_sample_intervals: { [I32]: { interval_ms: 10 } } } });
    const st = await other.ended();
    t.equal(st.code, grpc.status.ALREADY_EXISTS, `a second provider of the signal: ALREADY_EXISTS (${st.details})`);

    p.s.write({ publish_values_request: { request_id: 9, data_points: { [ids['Vehicle.T.S_u8']!]: { value: { uint32: 1 } } } } });
    const st2 = await p.ended();
    t.equal(st2.code, grpc.status.ALREADY_EXISTS, `a publish of a signal the stream did not announce: ALREADY_EXISTS (${st2.details})`);

    const again = provider(raw, t);
    again.s.write({ provide_signal_request: { signals_sample_intervals: { [I32]: { interval_ms: 10 } } } });
    await again.next('provide_signal_response');
    t.pass('the claim ended with its stream: another provider gets the signal');
  });

  await t.test('filters reach the provider; GetValue asks it; its error indication clears its values', async (t) => {
    const p = provider(raw, t);
    const U16 = ids['Vehicle.T.S_u16']!;
    p.s.write({ provide_signal_request: { signals_sample_intervals: { [U16]: { interval_ms: 200 } } } });
    await p.next('provide_signal_response');
    const sub = raw.v2.Subscribe({ signal_paths: ['Vehicle.T.S_u16'], filter: { min_sample_interval: { interval_ms: 500 } } }) as grpc.ClientReadableStream<Obj>;
    sub.on('error', () => {});
    const f1 = await p.next('update_filter_request');
    t.same(f1.filters_update, { [U16]: { min_sample_interval: { interval_ms: 500 } } }, 'a subscriber asking 500 ms: the provider is told 500 ms');
    const sub2 = raw.v2.Subscribe({ signal_paths: ['Vehicle.T.S_u16'] }) as grpc.ClientReadableStream<Obj>;
    sub2.on('error', () => {});
    const f2 = await p.next('update_filter_request');
    t.same(f2.filters_update, { [U16]: { min_sample_interval: { interval_ms: 200 } } }, 'an unfiltered subscriber wants every sample: the provider\'s own 200 ms');
    sub2.cancel();
    t.same((await p.next('update_filter_request')).filters_update, { [U16]: { min_sample_interval: { interval_ms: 500 } } }, 'it left: 500 ms again');
    sub.cancel();
    t.same((await p.next('update_filter_request')).filters_update, { [U16]: {} }, 'no subscriber left: a filter without interval');

    p.s.write({ publish_values_request: { request_id: 1, data_points: { [U16]: { value: { uint32: 5 } } } } });
    await eventually('the stored value is 5', async () => (await call(raw.v2, 'GetValue', { signal_id: { path: 'Vehicle.T.S_u16' } })).data_point.value?.uint32 === 5, { stepMs: 20 });
    p.got.length = 0;
    const get = call(raw.v2, 'GetValues', { signal_ids: [{ path: 'Vehicle.T.S_u16' }, { path: 'Vehicle.T.S_u8' }] });
    const ask = await p.next('get_provider_value_request');
    t.same(ask.signal_ids, [U16], 'GetValue of a provided signal is asked of its provider (only its signals)');
    p.s.write({ get_provider_value_response: { request_id: ask.request_id, entries: { [U16]: { value: { uint32: 777 } } } } });
    const got = await get;
    t.equal(got.data_points[0].value.uint32, 777, 'the provider\'s answer is what GetValue returns');
    const silent = call(raw.v2, 'GetValue', { signal_id: { path: 'Vehicle.T.S_u16' } });
    await p.next('get_provider_value_request');
    t.equal((await silent).data_point.value.uint32, 5, 'a provider that does not answer in time: the stored value');

    p.s.write({ provider_error_indication: { provider_error: 'CODE_NETWORK_ERROR' } });
    p.s.write({ get_provider_value_response: { request_id: 0, entries: {} } }); // answers the next question at once
    await eventually('the value is cleared', async () => {
      const r = call(raw.v2, 'GetValue', { signal_id: { path: 'Vehicle.T.S_u16' } });
      await p.next('get_provider_value_request').then(() => p.s.write({ get_provider_value_response: { request_id: 0, entries: {} } }));
      return !(await r).data_point.value;
    }, { stepMs: 20 });
    t.pass('after provider_error_indication its signals read as having no value');
  });

  await t.test('ActuateStream of 3 values reaches the claiming provider; BatchActuate is all or none', async (t) => {
    const p = provider(raw, t);
    p.s.write({ provide_actuation_request: { actuator_identifiers: [{ path: 'Vehicle.Act.Level' }, { id: ids['Vehicle.Act.Lamp'] }] } });
    await p.next('provide_actuation_response');
    const rival = provider(raw, t);
    rival.s.write({ provide_actuation_request: { actuator_identifiers: [{ path: 'Vehicle.Act.Lamp' }] } });
    t.equal((await rival.ended()).code, grpc.status.ALREADY_EXISTS, 'a second claim of an actuator: ALREADY_EXISTS');

    const done = new Promise<grpc.ServiceError | null>((resolve) => {
      const s = raw.v2.ActuateStream((e: grpc.ServiceError | null) => resolve(e));
      for (const v of [10, 20, 30]) s.write({ signal_id: { path: 'Vehicle.Act.Level' }, value: { uint32: v } });
      s.end();
    });
    t.equal(await done, null, 'ActuateStream ends OK on the client\'s half-close');
    const values: number[] = [];
    await eventually('the provider gets 10, 20, 30', async () => {
      while (p.got.some((m) => m.batch_actuate_stream_request)) {
        for (const a of (await p.next('batch_actuate_stream_request')).actuate_requests) {
          t.equal(a.signal_id.id, ids['Vehicle.Act.Level'], 'targets come by id');
          values.push(a.value.uint32);
        }
      }
      return values.includes(30);
    }, { stepMs: 10 });
    t.same(values.filter((v) => [10, 20, 30].includes(v)).slice(-1), [30], `the provider got the 3 values, newest last (${values})`);

    const refused = await new Promise<grpc.ServiceError | null>((resolve) => {
      const s = raw.v2.ActuateStream((e: grpc.ServiceError | null) => resolve(e));
      s.write({ signal_id: { path: 'Vehicle.Act.Level' }, value: { uint32: 101 } });
      s.write({ signal_id: { path: 'Vehicle.Act.Level' }, value: { uint32: 50 } });
    });
    t.equal(refused?.code, grpc.status.INVALID_ARGUMENT, `a value out of min/max ends the ActuateStream INVALID_ARGUMENT (${refused?.details})`);

    p.got.length = 0;
    await call(raw.v2, 'BatchActuate', { actuate_requests: [{ signal_id: { path: 'Vehicle.Act.Level' }, value: { uint32: 7 } }, { signal_id: { path: 'Vehicle.Act.Lamp' }, value: { bool: true } }] });
    const batch = await p.next('batch_actuate_stream_request');
    t.equal(batch.actuate_requests.length, 2, 'a provider gets the targets of one BatchActuate in one request');
    const sensorInBatch = call(raw.v2, 'BatchActuate', { actuate_requests: [{ signal_id: { path: 'Vehicle.Act.Level' }, value: { uint32: 8 } }, { signal_id: { path: 'Vehicle.Speed' }, value: { float: 1 } }] });
    await t.rejects(sensorInBatch, { code: grpc.status.INVALID_ARGUMENT }, 'a sensor in the batch: INVALID_ARGUMENT');
    await t.rejects(call(raw.v2, 'BatchActuate', { actuate_requests: [{ signal_id: { path: 'Vehicle.Act.Level' }, value: { uint32: 8 } }, { signal_id: { path: 'Vehicle.Nope' }, value: { float: 1 } }] }),
      { code: grpc.status.NOT_FOUND }, 'an unknown signal in the batch: NOT_FOUND');
    await call(raw.v2, 'Actuate', { signal_id: { path: 'Vehicle.Act.Level' }, value: { uint32: 9 } });
    const after = await p.next('batch_actuate_stream_request');
    t.same(after.actuate_requests.map((a: Obj) => a.value.uint32), [9], 'the refused batches sent nothing: the next target is the next thing the provider gets');
    p.s.cancel();
    await eventually('the claim is gone', async () => (await call(raw.v2, 'Actuate', { signal_id: { path: 'Vehicle.Act.Level' }, value: { uint32: 1 } }).then(() => 0, (e: grpc.ServiceError) => e.code)) === grpc.status.UNAVAILABLE, { stepMs: 20 });
    t.pass('its claim ended with its stream (UNAVAILABLE, echoActuators off)');
  });

  await t.test('request checks of 0.7', async (t) => {
    const status = (s: grpc.ClientReadableStream<Obj>) => new Promise<grpc.ServiceError>((resolve) => s.on('error', resolve));
    t.equal((await status(raw.v2.Subscribe({ signal_paths: ['Vehicle.Speed'], buffer_size: 1001 }))).code, grpc.status.INVALID_ARGUMENT, 'buffer_size 1001: INVALID_ARGUMENT');
    await t.rejects(call(raw.v2, 'GetValue', { signal_id: { path: `Vehicle.${'x'.repeat(1000)}` } }), { code: grpc.status.INVALID_ARGUMENT, details: /too long/ }, 'a path over 1000 characters: INVALID_ARGUMENT');
    await t.rejects(call(raw.v2, 'PublishValue', { signal_id: { path: 'Vehicle.Speed' } }), { code: grpc.status.INVALID_ARGUMENT }, 'PublishValue without a datapoint: INVALID_ARGUMENT');
    await t.rejects(call(raw.v2, 'Actuate', { signal_id: { path: 'Vehicle.Speed' }, value: { float: 1 } }), { code: grpc.status.INVALID_ARGUMENT }, 'Actuate of a sensor: INVALID_ARGUMENT');
  });
});

t.test('min_sample_interval 500 ms caps a 40/s stream; an unfiltered subscriber gets every change; buffer_size keeps order', async (t) => {
  const up = await startUpstream(t);
  const raw = rawClients(up.port, { 'grpc.use_local_subchannel_pool': 1 });
  t.teardown(() => { for (const c of Object.values(raw)) c.close(); });
  const count = (req: Obj) => {
    const s = raw.v2.Subscribe(req) as grpc.ClientReadableStream<Obj>;
    const got: number[] = [];
    s.on('data', (r: Obj) => { const v = r.entries['Vehicle.Speed']?.value?.float; if (v !== undefined) got.push(v); });
    s.on('error', () => {});
    t.teardown(() => s.cancel());
    return got;
  };
  const filtered = count({ signal_paths: ['Vehicle.Speed'], filter: { min_sample_interval: { interval_ms: 500 } } });
  const plain = count({ signal_paths: ['Vehicle.Speed'] });
  const buffered = count({ signal_paths: ['Vehicle.Speed'], buffer_size: 1000 });
  await call(raw.v2, 'PublishValue', { signal_id: { path: 'Vehicle.Speed' }, data_point: { value: { float: 0 } } });
  await eventually('the three subscribers have their first message', () => filtered.length > 0 && plain.length > 0 && buffered.length > 0, { stepMs: 5 });
  const f0 = filtered.length;
  const start = performance.now();
  for (let i = 1; i <= 120; i++) {
    await call(raw.v2, 'PublishValue', { signal_id: { path: 'Vehicle.Speed' }, data_point: { value: { float: i } } });
    const due = start + i * 25;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  const elapsed = performance.now() - start;
  await eventually('every subscriber has the last value', () => filtered.at(-1) === 120 && plain.at(-1) === 120 && buffered.at(-1) === 120, { stepMs: 10 });
  const updates = filtered.length - f0;
  const bound = Math.ceil(elapsed / 500) + 1;
  // 3 s of it: ceil(3000 / 500) + 1 = 7, within the "≤ 10 updates in 3 s"
  t.ok(updates <= bound, `the filtered subscriber got ${updates} updates in ${Math.round(elapsed)} ms: at most ceil(elapsed / 500) + 1 = ${bound}`);
  t.equal(filtered.at(-1), 120, 'and it ends on the last value (the change within the last interval is not lost)');
  t.ok(plain.length - 1 >= 60, `the unfiltered subscriber got ${plain.length - 1} of the 120 changes (≥ 60)`);
  const ordered = buffered.every((v, i) => i === 0 || v > buffered[i - 1]!);
  t.ok(ordered, 'buffer_size 1000: the messages in their order');
});

t.test('kuksa.serveApis: [kuksa.val.v2] serves what databroker 0.7 serves', async (t) => {
  const up = await startUpstream(t, { kuksa: { serveApis: ['kuksa.val.v2'] } });
  const raw = rawClients(up.port);
  t.teardown(() => { for (const c of Object.values(raw)) c.close(); });
  t.ok((await call(raw.v2, 'GetServerInfo', {})).version, 'kuksa.val.v2 answers');
  await t.rejects(call(raw.v1, 'GetServerInfo', {}), { code: grpc.status.UNIMPLEMENTED }, 'kuksa.val.v1: UNIMPLEMENTED');
  await t.rejects(call(raw.broker, 'GetDatapoints', { datapoints: ['Vehicle.Speed'] }), { code: grpc.status.UNIMPLEMENTED }, 'sdv.databroker.v1 Broker: UNIMPLEMENTED');
  await t.rejects(call(raw.collector, 'UpdateDatapoints', { datapoints: {} }), { code: grpc.status.UNIMPLEMENTED }, 'sdv.databroker.v1 Collector: UNIMPLEMENTED');
  const listening = await up.agent.waitLog((l) => l.msg === 'databroker gRPC server listening');
  t.same(listening.apis, ['kuksa.val.v2'], 'the log names what is served');
});
