// Benchmarks of the Velocitas app environment: messages/s through the embedded MQTT broker between two paho-mqtt
// clients and the agent's CPU for them, beside Debian's mosquitto on the same machine in the same run; and the time
// from generate_vehicle_model (VSS 4.0, 910 leaves, which rewrites the Python vehicle package) to its reply.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { ApiClient, ROOT, startAgent, tmpDir } from '../test/helpers/agent';
import { PEER_PYTHON } from '../test/helpers/peers';
import { FULL_VSS } from '../test/helpers/signals';
import { cpuMeter, quantile, round, sleep, runScope } from './lib';
import type { Metrics, Scenario } from './scenarios';

const MESSAGES = Number(process.env.BENCH_MQTT_MESSAGES ?? 30_000);

async function freePort(): Promise<number> {
  const s = net.createServer().listen(0, '127.0.0.1');
  await new Promise((r) => s.once('listening', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** Subscriber and publisher as two processes (two paho clients, no shared GIL); resolves with what the subscriber saw. */
async function pahoPair(port: number, qos: 0 | 1, n: number): Promise<{ received: number; seconds: number }> {
  if (!fs.existsSync(PEER_PYTHON)) throw new Error('the peer venv is missing: scripts/test-peers.sh did not make it');
  const dir = tmpDir(runScope, 'sdv-bench-mqtt-');
  const sub = path.join(dir, 'sub.py');
  fs.writeFileSync(sub, `import sys, time, json, paho.mqtt.client as mqtt
n, qos = int(sys.argv[2]), int(sys.argv[3])
st = {"count": 0, "first": 0.0, "last": 0.0, "end": False}
def on_message(c, u, m):
    if m.topic == "bench/end":
        st["end"] = True
        return
    if st["count"] == 0: st["first"] = time.perf_counter()
    st["count"] += 1
    st["last"] = time.perf_counter()
ok = []
c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-sub")
c.on_message = on_message
c.on_subscribe = lambda *a: ok.append(1)
c.connect("127.0.0.1", int(sys.argv[1]))
c.subscribe([("bench/data", qos), ("bench/end", 1)])
while not ok: c.loop(0.05)
print("ready", flush=True)
deadline = time.time() + 120
while not st["end"] and st["count"] < n and time.time() < deadline: c.loop(0.05)
t_end = time.time() + 1.0
while st["count"] < n and time.time() < t_end: c.loop(0.05)
print(json.dumps({"received": st["count"], "seconds": st["last"] - st["first"]}), flush=True)
`);
  const pub = path.join(dir, 'pub.py');
  fs.writeFileSync(pub, `import sys, time, paho.mqtt.client as mqtt
n, qos = int(sys.argv[2]), int(sys.argv[3])
c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-pub")
c.max_inflight_messages_set(64)
c.connect("127.0.0.1", int(sys.argv[1]))
c.loop_start()
payload = b"x" * 64
for i in range(n):
    info = c.publish("bench/data", payload, qos=qos)
    if qos == 1 and i % 1000 == 999: info.wait_for_publish()
c.publish("bench/end", b"end", qos=1).wait_for_publish()
c.loop_stop()
`);
  const lines = (p: ChildProcess) => {
    const out: string[] = [];
    let buf = '';
    p.stdout!.on('data', (c: Buffer) => { buf += c.toString(); let i; while ((i = buf.indexOf('\n')) >= 0) { out.push(buf.slice(0, i)); buf = buf.slice(i + 1); } });
    return out;
  };
  const s = spawn(PEER_PYTHON, [sub, String(port), String(n), String(qos)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const sOut = lines(s);
  const sExit = new Promise((r) => s.once('exit', r));
  for (let i = 0; i < 200 && !sOut.includes('ready'); i++) await sleep(50);
  if (!sOut.includes('ready')) { s.kill('SIGKILL'); throw new Error('benchmark subscriber did not subscribe'); }
  const p = spawn(PEER_PYTHON, [pub, String(port), String(n), String(qos)], { stdio: ['ignore', 'ignore', 'inherit'] });
  // The subscriber may end before the publisher: both exits are awaited from the moment they are spawned.
  const pubCode = await new Promise<number | null>((r) => p.once('exit', r));
  // The subscriber ends on bench/end (or 1 s after its last message); a publisher that failed ends it too.
  const killer = setTimeout(() => s.kill('SIGKILL'), pubCode === 0 ? 15_000 : 0);
  await sExit;
  clearTimeout(killer);
  if (pubCode !== 0) throw new Error(`benchmark publisher exited with ${pubCode}`);
  fs.rmSync(dir, { recursive: true, force: true });
  const last = sOut.find((l) => l.startsWith('{'));
  if (!last) throw new Error('benchmark subscriber printed no result');
  return JSON.parse(last) as { received: number; seconds: number };
}

/** Runs one broker through QoS 0 and QoS 1 and reports rate, delivery and broker CPU per 100 000 messages. */
async function measure(prefix: string, pid: number, port: number, out: Metrics): Promise<void> {
  for (const qos of [0, 1] as const) {
    const n = qos === 0 ? MESSAGES : Math.round(MESSAGES / 2);
    const cpu = cpuMeter(pid);
    const r = await pahoPair(port, qos, n);
    const c = cpu();
    out[`${prefix}_qos${qos}_msgs_per_s`] = round(r.received / r.seconds, 0);
    out[`${prefix}_qos${qos}_delivered_pct`] = round((100 * r.received) / n, 1);
    out[`${prefix}_qos${qos}_cpu_s_per_100k`] = round((c.cpuS * 100_000) / Math.max(1, r.received), 2);
    out[`${prefix}_qos${qos}_cpu_pct`] = round(c.cpuPct, 0);
  }
}

export const mqttScenario: Scenario = {
  name: 'mqtt', runs: 3, warmup: false, peers: true,
  about: `${MESSAGES} 64-byte messages (QoS 0; half as many QoS 1) from one paho-mqtt 2.x client to another through the embedded broker, beside Debian's mosquitto in the same run: messages/s at the subscriber, delivered %, broker CPU`,
  async run() {
    const mosquittoBin = ['/usr/sbin/mosquitto', '/usr/bin/mosquitto'].find((f) => fs.existsSync(f));
    if (!mosquittoBin) throw new Error('mosquitto is missing: scripts/test-peers.sh did not install it');
    const out: Metrics = {};
    const agent = await startAgent(runScope);
    try {
      const info = await (await ApiClient.connect(agent.apiUrl)).request({ type: 'get_runtime_info' });
      const port = Number(String((info.mqtt as { address: string }).address).split(':').pop());
      await measure('agent', agent.proc.pid!, port, out);
    } finally { await agent.stop(); }
    const dir = tmpDir(runScope, 'sdv-bench-mosquitto-');
    const port = await freePort();
    fs.writeFileSync(path.join(dir, 'm.conf'), `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\n`);
    const m = spawn(mosquittoBin, ['-c', path.join(dir, 'm.conf')], { stdio: 'ignore' });
    try {
      for (let i = 0; i < 100; i++) {
        const ok = await new Promise<boolean>((r) => { const s = net.connect(port, '127.0.0.1', () => { s.destroy(); r(true); }); s.on('error', () => r(false)); });
        if (ok) break;
        await sleep(50);
      }
      await measure('mosquitto', m.pid!, port, out);
    } finally { m.kill('SIGTERM'); fs.rmSync(dir, { recursive: true, force: true }); }
    for (const q of [0, 1]) {
      out[`qos${q}_rate_ratio_agent_vs_mosquitto`] = round((out[`agent_qos${q}_msgs_per_s`] as number) / (out[`mosquitto_qos${q}_msgs_per_s`] as number), 2);
      out[`qos${q}_cpu_ratio_agent_vs_mosquitto`] = round((out[`agent_qos${q}_cpu_s_per_100k`] as number) / Math.max(0.01, out[`mosquitto_qos${q}_cpu_s_per_100k`] as number), 1);
    }
    return out;
  },
};

export const modelScenario: Scenario = {
  name: 'vehicle-model', runs: 1, warmup: false,
  about: 'generate_vehicle_model with VSS 4.0 (910 leaves) → reply, which includes writing the Python vehicle package (its share: pythonModel.ms); alternated with revert_vehicle_model (to the 120-leaf subset given as kuksa.vss)',
  async run() {
    // kuksa.vss: the 120-leaf subset, so that every generate and revert changes the model (the built-in is VSS 4.0).
    const agent = await startAgent(runScope, { config: { kuksa: { vss: path.join(ROOT, 'resources', 'default-vss.json') } } });
    const c = await ApiClient.connect(agent.apiUrl);
    const vss = fs.readFileSync(FULL_VSS, 'utf8');
    const gen: number[] = [];
    const py: number[] = [];
    const rev: number[] = [];
    try {
      for (let i = 0; i < Number(process.env.BENCH_MODEL_RUNS ?? 20) + 1; i++) {
        let t0 = performance.now();
        const r = await c.request({ type: 'generate_vehicle_model', data: vss }, 60_000);
        if (r.result !== 'Successful') throw new Error(`generate_vehicle_model: ${JSON.stringify(r).slice(0, 300)}`);
        if (i > 0) { gen.push(performance.now() - t0); py.push((r.pythonModel as { ms: number }).ms); }
        t0 = performance.now();
        await c.request({ type: 'revert_vehicle_model' }, 60_000);
        if (i > 0) rev.push(performance.now() - t0);
      }
    } finally { c.close(); await agent.stop(); }
    return {
      generate_vss40_reply_ms_median: round(quantile(gen, 0.5)), generate_vss40_reply_ms_p99: round(quantile(gen, 0.99)),
      python_package_ms_median: round(quantile(py, 0.5)), revert_builtin_reply_ms_median: round(quantile(rev, 0.5)),
    };
  },
};
