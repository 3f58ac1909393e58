// The embedded MQTT broker with real peers: Debian's mosquitto_sub/mosquitto_pub, paho-mqtt 2.x (the peer venv) and
// the SDK's paho-mqtt 1.6.1: wildcards, retained, QoS 1, persistent sessions, last will, keep-alive, a subscriber
// that never reads, and every bound. /health and get_runtime_info say whether MQTT is up.
import t from 'tap';
import { ApiClient, eventually, getJson, sleep, startAgent, type AgentHandle } from './helpers/agent';
import { mosquittoPub, mosquittoSub, RawMqtt } from './helpers/mqtt';
import { runPython, VELOCITAS_SDK } from './helpers/peers';

async function brokerPort(agent: AgentHandle): Promise<number> {
  return (await agent.waitLog((l) => l.msg === 'mqtt broker listening')).port as number;
}

/** A paho-mqtt 2.x program (the peer venv) with the broker's port as argv[1]. */
const PAHO = `import sys, time, json
import paho.mqtt.client as mqtt
PORT = int(sys.argv[1])
def client(cid, **kw):
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=cid, **kw)
    return c
`;

t.test('round trips with mosquitto clients and paho', async (t) => {
  const agent = await startAgent(t);
  const port = await brokerPort(agent);

  t.test('wildcards: + matches one level, # the rest and the parent', async (t) => {
    const sub = await mosquittoSub(t, port, ['-t', 'car/+/speed', '-t', 'fleet/#', '-C', '3']);
    t.teardown(() => sub.stop());
    for (const [topic, msg] of [['car/1/speed', '50'], ['car/1/rpm', 'no'], ['car/1/speed/x', 'no'], ['fleet/a/b', 'deep'], ['fleet', 'parent'], ['$SYS/x', 'no']]) {
      t.equal(mosquittoPub(port, ['-t', topic!, '-m', msg!]).code, 0, `published ${topic}`);
    }
    t.same(await sub.waitMessages(3), ['car/1/speed 50', 'fleet/a/b deep', 'fleet parent']);
    t.equal(await sub.exited, 0);
  });

  t.test('retained: a new subscriber gets the last one; an empty retained message clears it', async (t) => {
    mosquittoPub(port, ['-t', 'state/door', '-m', 'closed', '-r']);
    mosquittoPub(port, ['-t', 'state/door', '-m', 'open', '-r']);
    const late = await mosquittoSub(t, port, ['-t', 'state/+', '-C', '1']);
    t.same(await late.waitMessages(1), ['state/door open'], 'the last retained value, once');
    mosquittoPub(port, ['-t', 'state/door', '-n', '-r']);
    const after = await mosquittoSub(t, port, ['-t', 'state/#', '-W', '1']);
    await after.exited;
    t.same(after.messages, [], 'cleared');
  });

  t.test('QoS 1: PUBACK to the publisher; a persistent session keeps what arrives while its client is away', async (t) => {
    const first = await mosquittoSub(t, port, ['-q', '1', '-c', '-i', 'persist-1', '-t', 'q/#']);
    t.ok(first.debug.some((l) => /received SUBACK/.test(l)));
    await first.stop();
    const r = mosquittoPub(port, ['-d', '-q', '1', '-t', 'q/1', '-m', 'while-away']);
    t.equal(r.code, 0);
    t.match(r.out, /received PUBACK \(Mid: \d+, RC:0\)/);
    const back = await mosquittoSub(t, port, ['-q', '1', '-c', '-i', 'persist-1', '-t', 'q/#', '-C', '1']);
    t.same(await back.waitMessages(1), ['q/1 while-away'], 'delivered on reconnect');
    const raw = await RawMqtt.connect(port);
    t.equal((await raw.hello('persist-1', { clean: false })).sessionPresent, true, 'CONNACK says the session is present');
    raw.close();
    const fresh = await RawMqtt.connect(port);
    t.equal((await fresh.hello('persist-1', { clean: true })).sessionPresent, false, 'clean session 1 drops it');
    fresh.close();
  });

  t.test('paho-mqtt 2.x: QoS 1 both ways, granted QoS, last will on a dropped connection', async (t) => {
    const will = await mosquittoSub(t, port, ['-t', 'will/#', '-C', '1']);
    t.teardown(() => will.stop());
    const dying = runPython(t, `${PAHO}
c = client("dying")
c.will_set("will/dying", "gone", qos=1)
up = []
c.on_connect = lambda *a: up.append(1)
c.connect("127.0.0.1", PORT, keepalive=30)
c.loop_start()
while not up: time.sleep(0.01)
print("connected", flush=True)
time.sleep(60)
`, { args: [String(port)] });
    await dying.waitOut(/connected/);
    const py = runPython(t, `${PAHO}
got, acked, granted = [], [], []
c = client("qos1-peer")
c.on_message = lambda c, u, m: got.append((m.topic, m.payload.decode(), m.qos))
c.on_subscribe = lambda c, u, mid, rcs, p: granted.extend(rc.value for rc in rcs)
c.on_publish = lambda c, u, mid, rc, p: acked.append(mid)
c.connect("127.0.0.1", PORT)
c.loop_start()
c.subscribe([("p/#", 1), ("p/two", 2)])
while len(granted) < 2: time.sleep(0.02)
for i in range(100): c.publish("p/%d" % i, "m%d" % i, qos=1)
deadline = time.time() + 10
while (len(got) < 100 or len(acked) < 100) and time.time() < deadline: time.sleep(0.02)
print(json.dumps({"got": len(got), "acked": len(acked), "granted": granted, "qos": sorted(set(q for _, _, q in got)), "last": got[-1][1] if got else None}), flush=True)
c.disconnect(); c.loop_stop()
`, { args: [String(port)] });
    const res = JSON.parse(await py.waitOut(/^\{/));
    t.same(res, { got: 100, acked: 100, granted: [1, 1], qos: [1], last: 'm99' }, 'QoS 2 is granted as 1; every message acked and delivered');
    dying.proc.kill('SIGKILL');
    t.same(await will.waitMessages(1), ['will/dying gone'], 'the will of a connection that dropped');
  });

  t.test('the SDK\'s paho-mqtt 1.6.1 round trip', async (t) => {
    const py = runPython(t, `import sys, time, paho.mqtt, paho.mqtt.client as mqtt
assert paho.mqtt.__version__ == "1.6.1", paho.mqtt.__version__
got = []
c = mqtt.Client()
c.on_message = lambda c, u, m: got.append(m.payload.decode())
c.connect("127.0.0.1", int(sys.argv[1]))
c.loop_start()
c.subscribe("sdk/#", qos=1)
time.sleep(0.3)
c.publish("sdk/x", "via-1.6.1", qos=1).wait_for_publish()
t0 = time.time()
while not got and time.time() - t0 < 5: time.sleep(0.02)
print("got", got, flush=True)
`, { args: [String(port)], env: { PYTHONPATH: VELOCITAS_SDK } });
    t.match(await py.waitOut(/^got/), /got \['via-1\.6\.1'\]/);
  });

  t.test('keep-alive: a client silent for 1.5 × its keep-alive is cut off and its will published', async (t) => {
    const will = await mosquittoSub(t, port, ['-t', 'ka/#', '-C', '1']);
    const raw = await RawMqtt.connect(port);
    const ack = await raw.hello('silent', { keepalive: 1, will: { topic: 'ka/silent', payload: Buffer.from('timed out'), qos: 0, retain: false } });
    t.equal(ack.returnCode, 0);
    const t0 = Date.now();
    const closedAt = await raw.closedAt;
    // Not before 1.5 × its keep-alive; how soon after is the box's scheduling, not the broker's rule.
    t.ok(closedAt - t0 >= 1400, `cut off after ${closedAt - t0} ms (1.5 s expected)`);
    t.same(await will.waitMessages(1), ['ka/silent timed out']);
    const pinger = await RawMqtt.connect(port);
    // keep-alive 2 s pinged every 0.7 s for 4 keep-alive periods: cut off only if a ping were 2.3 s late.
    await pinger.hello('pinger', { keepalive: 2 });
    for (let i = 0; i < 12; i++) { await sleep(700); pinger.send({ cmd: 'pingreq' }); await pinger.waitPacket('pingresp'); }
    t.notOk(pinger.closed, 'a client that pings stays');
    pinger.close();
  });

  t.test('a paho subscriber that never reads: QoS 0 to it is dropped with a log line; the others get everything', async (t) => {
    const sleeper = runPython(t, `${PAHO}
c = client("never-reads")
ok = []
c.on_subscribe = lambda *a: ok.append(1)
c.connect("127.0.0.1", PORT)
c.loop_start()
c.subscribe("flood/#")
while not ok: time.sleep(0.01)
c.loop_stop()   # from here on nobody reads the socket
print("subscribed", flush=True)
time.sleep(120)
`, { args: [String(port)] });
    t.teardown(() => sleeper.proc.kill('SIGKILL'));
    await sleeper.waitOut(/subscribed/);
    const c = await ApiClient.connect(agent.apiUrl);
    t.teardown(() => c.close());
    const rss0 = (await c.request({ type: 'get_runtime_info' })).rssBytes as number;
    const reader = await mosquittoSub(t, port, ['-t', 'flood/end', '-C', '1']);
    const payload = 'x'.repeat(4000);
    // 40 000 × 4 kB = 160 MB towards a client that reads nothing.
    const pub = runPython(t, `${PAHO}
c = client("flooder")
c.connect("127.0.0.1", PORT)
c.loop_start()
for i in range(40000):
    c.publish("flood/data", ${JSON.stringify(payload)}, qos=0)
    if i % 500 == 0: time.sleep(0.01)
c.publish("flood/end", "done", qos=1).wait_for_publish()
print("sent", flush=True)
`, { args: [String(port)] });
    await pub.waitOut(/sent/);
    t.same(await reader.waitMessages(1), ['flood/end done'], 'a reading subscriber is not held up');
    const line = await agent.waitLog((l) => l.msg === 'mqtt subscriber is not reading fast enough: messages to it were dropped (mqtt.maxQueuedBytes)');
    t.equal(line.clientId, 'never-reads');
    t.ok((line.droppedQos0 as number) > 0, `${line.droppedQos0} QoS 0 messages dropped`);
    const info = await c.request({ type: 'get_runtime_info' });
    const grown = ((info.rssBytes as number) - rss0) / 1e6;
    t.ok(grown < 60, `agent RSS grew ${grown.toFixed(1)} MB for 160 MB sent to a client that never reads`);
    const broker = (info.mqtt as Record<string, Record<string, number>>).broker!;
    t.ok(broker.dropped > 0);
    t.ok(broker.largestQueueBytes <= 1024 * 1024 + 4100, `largest queue ${broker.largestQueueBytes} bytes (mqtt.maxQueuedBytes 1 MiB)`);
  });

  t.test('/health and get_runtime_info report MQTT', async (t) => {
    const h = await getJson(agent.healthUrl);
    t.match(h.body, { status: 'healthy', mqttMode: 'embedded', mqttUp: true });
    const c = await ApiClient.connect(agent.apiUrl);
    t.teardown(() => c.close());
    const info = await c.request({ type: 'get_runtime_info' });
    t.match(info.mqtt, { mode: 'embedded', address: `127.0.0.1:${port}`, up: true, error: null });
  });
});

t.test('bounds', async (t) => {
  const agent = await startAgent(t, { config: { mqtt: { maxClients: 3, maxPacketBytes: 4096, maxQueuedBytes: 16384, maxRetained: 2, maxRetainedBytes: 300, maxSubscriptions: 3, maxTopicLength: 32 } } });
  const port = await brokerPort(agent);
  const ctl = await ApiClient.connect(agent.apiUrl);
  t.teardown(() => ctl.close());
  const onlineClients = async () => (((await ctl.request({ type: 'get_runtime_info' })).mqtt as { broker: { clients: number } }).broker.clients);

  t.test('mqtt.maxClients: one more client gets CONNACK 3', async (t) => {
    const held = await Promise.all([1, 2, 3].map(async (i) => { const r = await RawMqtt.connect(port); t.equal((await r.hello(`held-${i}`)).returnCode, 0); return r; }));
    const r = mosquittoPub(port, ['-t', 'x', '-m', 'y']);
    t.not(r.code, 0);
    t.match(r.out, /unavailable/i, r.out.trim());
    held[0]!.close();
    await eventually('the closed client gone', async () => (await onlineClients()) === 2, { stepMs: 100 });
    t.equal(mosquittoPub(port, ['-t', 'x', '-m', 'y']).code, 0, 'a slot freed is usable');
    for (const h of held) h.close();
    await eventually('every slot free again for the next checks', async () => (await onlineClients()) === 0, { stepMs: 100 });
  });

  t.test('mqtt.maxPacketBytes: a bigger packet closes its connection, read from the header before the body', async (t) => {
    const sub = await mosquittoSub(t, port, ['-t', 'big/#']);
    t.teardown(() => sub.stop());
    mosquittoPub(port, ['-t', 'big/no', '-s'], 'z'.repeat(5000));
    mosquittoPub(port, ['-t', 'big/yes', '-s'], 'z'.repeat(4000));
    await sub.waitMessages(1);
    t.same(sub.messages.map((m) => m.split(' ')[0]), ['big/yes'], 'only the one that fits');
    const raw = await RawMqtt.connect(port);
    await raw.hello('claims-10MB');
    raw.socket.write(Buffer.from([0x30, 0x80, 0x80, 0x80, 0x05])); // PUBLISH, remaining length 10 MiB, no body
    await raw.closedAt;
    t.pass('closed on the header alone');
  });

  t.test('mqtt.maxTopicLength and invalid filters: refused in the SUBACK; a long topic name closes the publisher', async (t) => {
    const raw = await RawMqtt.connect(port);
    await raw.hello('topics');
    raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'ok/+', qos: 1 }, { topic: 'x'.repeat(33), qos: 0 }, { topic: 'a/#/b', qos: 0 }, { topic: 'a+/b', qos: 0 }] });
    t.same((await raw.waitPacket('suback') as { granted: number[] }).granted, [1, 0x80, 0x80, 0x80]);
    raw.send({ cmd: 'publish', topic: 'y'.repeat(33), payload: Buffer.from('x'), qos: 0, retain: false, dup: false });
    await raw.closedAt;
    t.pass('closed');
  });

  t.test('mqtt.maxSubscriptions: filters past the bound are refused', async (t) => {
    const raw = await RawMqtt.connect(port);
    await raw.hello('many-subs');
    raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: ['s/1', 's/2', 's/3', 's/4'].map((topic) => ({ topic, qos: 0 as const })) });
    t.same((await raw.waitPacket('suback') as { granted: number[] }).granted, [0, 0, 0, 0x80]);
    raw.send({ cmd: 'subscribe', messageId: 2, subscriptions: [{ topic: 's/1', qos: 1 }] });
    t.same((await raw.waitPacket('suback') as { granted: number[] }).granted, [1], 'a filter it already has can be changed');
    raw.close();
  });

  t.test('mqtt.maxRetained and maxRetainedBytes: past a bound a retained message is delivered, not kept', async (t) => {
    const live = await mosquittoSub(t, port, ['-t', 'r/#']);
    t.teardown(() => live.stop());
    mosquittoPub(port, ['-t', 'r/1', '-m', 'one', '-r']);
    mosquittoPub(port, ['-t', 'r/2', '-m', 'two', '-r']);
    mosquittoPub(port, ['-t', 'r/3', '-m', 'three', '-r']);
    mosquittoPub(port, ['-t', 'r/1', '-s', '-r'], 'w'.repeat(400));
    await live.waitMessages(4);
    t.equal(live.messages.length, 4, 'all four delivered live');
    const late = await mosquittoSub(t, port, ['-t', 'r/#', '-W', '1']);
    await late.exited;
    t.same(late.messages.sort(), ['r/1 one', 'r/2 two'], 'two kept; the third topic and the oversized replacement were not');
    await agent.waitLog((l) => typeof l.msg === 'string' && (l.msg as string).startsWith('mqtt retained message not kept'));
  });

  t.test('mqtt.maxQueuedBytes: QoS 1 towards a client that never reads is dropped too once its queue is full', async (t) => {
    const stuck = await RawMqtt.connect(port);
    await stuck.hello('stuck');
    stuck.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'fill', qos: 1 }] });
    await stuck.waitPacket('suback');
    stuck.socket.pause();
    const pub = await RawMqtt.connect(port);
    await pub.hello('filler');
    const body = Buffer.alloc(3000, 1);
    for (let i = 0; i < 2000; i++) pub.send({ cmd: 'publish', topic: 'fill', payload: body, qos: 0, retain: false, dup: false });
    for (let i = 0; i < 200; i++) pub.send({ cmd: 'publish', topic: 'fill', payload: body, qos: 1, messageId: i + 1, retain: false, dup: false });
    const line = await agent.waitLog((l) => l.clientId === 'stuck' && typeof l.droppedQos0 === 'number');
    t.ok((line.droppedQos0 as number) > 0);
    // Every QoS 1 message was routed once the publisher has its PUBACKs; the close logs the drops not yet logged.
    for (let i = 0; i < 200; i++) await pub.waitPacket('puback');
    stuck.close();
    const last = await agent.waitLog((l) => l.clientId === 'stuck' && (l.droppedQos1 as number) > 0);
    t.ok((last.droppedQos1 as number) > 0, `${last.droppedQos1} QoS 1 dropped past the queue bound`);
    pub.close();
  });
});

t.test('modes and a port in use', async (t) => {
  const off = await startAgent(t, { config: { mqtt: { mode: 'off' } } });
  t.match((await getJson(off.healthUrl)).body, { status: 'healthy', mqttMode: 'off', mqttUp: false });
  t.notOk(off.logs.some((l) => l.msg === 'mqtt broker listening'), 'nothing started');

  const first = await startAgent(t);
  const port = await brokerPort(first);
  const second = await startAgent(t, { config: { mqtt: { address: `127.0.0.1:${port}` } } });
  const h = (await getJson(second.healthUrl)).body;
  t.match(h, { status: 'degraded', mqttUp: false });
  const c = await ApiClient.connect(second.apiUrl);
  t.teardown(() => c.close());
  const info = await c.request({ type: 'get_runtime_info' });
  t.match((info.notices as string[]).join('\n'), /embedded MQTT broker not started: 127\.0\.0\.1:\d+ is in use .*mqtt\.mode external/);

  const ext = await startAgent(t, { config: { mqtt: { mode: 'external', address: `127.0.0.1:${port}` } } });
  await ext.waitLog((l) => l.msg === 'external MQTT broker reachable');
  t.match((await getJson(ext.healthUrl)).body, { mqttMode: 'external', mqttUp: true });
});
