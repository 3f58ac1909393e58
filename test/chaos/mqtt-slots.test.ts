// Section "mqtt-slots" — one local process holding every slot of the MQTT broker (red team of 2026-12-07, defect 6):
//   - squatters: 130 TCP sockets that never send CONNECT, each opened again 50 ms after the agent closes it, while
//     Debian's mosquitto_pub (a client the agent did not start) publishes QoS 1 every 500 ms: it must get in (the
//     oldest socket still waiting for CONNECT gives way to a new one, and none waits more than 2 s);
//   - hogs: as many CONNECTed clients with keep-alive 0 as the broker takes (mqtt.maxClients, 100), while a python app
//     the agent runs connects with the Velocitas SDK's paho-mqtt 1.6.1 and publishes QoS 1 every 500 ms: it must get
//     in (a share of the slots is kept for processes the agent started), and /health must say clients are refused.
// The liveness probe (ping, /health) throughout; an agent of its own for each. Only keys the build before knows are
// set, so the same file measures it (SDV_AGENT_TEST_BUNDLE) and gives the "before" figures.
import t from 'tap';
import * as fs from 'node:fs';
import type * as net from 'node:net';
import * as path from 'node:path';
import { ApiClient, getJson, tmpDir } from '../helpers/agent';
import { VELOCITAS_SDK } from '../helpers/peers';
import { Summary, attack, caughtCrashes, count, req, seedFor, sleep } from './lib';
import { brokerAgent, connect, dial, mosquittoPubAsync } from './raw-mqtt';

const SECTION = 'mqtt-slots';
const summary = new Summary(SECTION, seedFor(SECTION));
t.teardown(() => summary.write(t));

const SQUATTERS = 130;
const HOGS = 100;
const SECONDS = count(6, 25);
/** The share of attempts that must get through on a loaded box (all of them on a quiet one). */
const MIN_SHARE = 0.8;


/** mosquitto_pub -q 1 every 500 ms for `ms`: how many got through, and the last failure. */
async function legitimatePublisher(port: number, ms: number): Promise<{ ok: number; failed: number; last: string }> {
  const out = { ok: 0, failed: 0, last: '' };
  const end = Date.now() + ms;
  for (let i = 0; Date.now() < end; i++) {
    const r = await mosquittoPubAsync(port, ['-q', '1', '-i', `legit-${i}`, '-t', 'app/evt', '-m', 'hi']);
    if (r === 'ok') out.ok++; else { out.failed++; out.last = r; }
    await sleep(500);
  }
  return out;
}

type Health = { status?: string; mqttUp?: boolean; mqttRefused?: number };

t.test('squatters that never send CONNECT', async (t) => {
  const { agent, port } = await brokerAgent(t);
  await attack(t, summary, `${SQUATTERS} sockets that never send CONNECT, reopened 50 ms after each close`, agent, async () => {
    let running = true;
    let opened = 0;
    const open = new Set<net.Socket>();
    const squat = async () => {
      while (running) {
        const s = await dial(port, 5000);
        if (!s) { await sleep(50); continue; }
        opened++;
        open.add(s);
        s.on('error', () => {});
        await new Promise<void>((r) => s.once('close', () => r()));
        open.delete(s);
        await sleep(50);
      }
    };
    const squatters = Array.from({ length: SQUATTERS }, squat);
    await sleep(1000);
    const legit = await legitimatePublisher(port, SECONDS * 1000);
    const health = (await getJson(agent.healthUrl)).body as Health;
    running = false;
    for (const s of open) s.destroy();
    await Promise.all(squatters);
    const tries = legit.ok + legit.failed;
    summary.data.figures['squatters: mosquitto_pub -q 1 served'] = `${legit.ok}/${tries}${legit.failed ? ` (last failure: ${legit.last})` : ''}`;
    summary.data.figures['squatters: sockets opened'] = opened;
    summary.data.figures['squatters: /health status, mqttUp, mqttRefused'] = `${health.status}, ${health.mqttUp}, ${health.mqttRefused ?? 'absent'}`;
    t.ok(tries > 0 && legit.ok >= MIN_SHARE * tries, `mosquitto_pub got in ${legit.ok} of ${tries} times beside the squatters${legit.failed ? ` (last failure: ${legit.last})` : ''}`);
    t.ok((health.mqttRefused ?? 0) > 0, `/health counts the sockets that gave way (mqttRefused ${health.mqttRefused})`);
    return tries > 0 && legit.ok >= MIN_SHARE * tries && (health.mqttRefused ?? 0) > 0;
  });
  summary.data.crashes += caughtCrashes(agent).length;
});

t.test('clients that hold every slot with keep-alive 0, and an app of the agent', async (t) => {
  const { agent, port } = await brokerAgent(t);
  const c = await ApiClient.connect(agent.apiUrl);
  t.teardown(() => c.close());
  // The app waits for this file, so that it starts publishing once the hogs hold their slots.
  const dir = tmpDir(t, 'sdv-chaos-mqtt-');
  const go = path.join(dir, 'go');
  const code = [
    'import os, time, urllib.parse',
    'import paho.mqtt.client as mqtt',
    'u = urllib.parse.urlparse(os.environ["SDV_MQTT_ADDRESS"])',
    'print("READY", flush=True)',
    `while not os.path.exists(${JSON.stringify(go)}): time.sleep(0.05)`,
    `end = time.time() + ${SECONDS}`,
    'while time.time() < end:',
    '    c = mqtt.Client()',  // as the SDK makes its clients: paho 1.6.1, an id the broker assigns
    '    try:',
    '        c.connect(u.hostname, u.port, keepalive=10)',
    '        c.loop_start()',
    '        t0 = time.time()',
    '        while not c.is_connected() and time.time() - t0 < 5: time.sleep(0.02)',
    '        if not c.is_connected(): print("FAIL no connection", flush=True)',
    '        else:',
    '            m = c.publish("app/evt", "hi", qos=1)',
    '            t0 = time.time()',
    '            while not m.is_published() and time.time() - t0 < 5: time.sleep(0.02)',
    '            print("OK" if m.is_published() else "FAIL no PUBACK", flush=True)',
    '        c.disconnect(); c.loop_stop()',
    '    except Exception as e: print("FAIL", repr(e), flush=True)',
    '    time.sleep(0.5)',
    'print("DONE", flush=True)',
  ].join('\n');
  t.not((await c.request({ type: 'deploy_request', prototype: { id: 'mqtt-app', name: 'MqttApp', type: 'python', code, config: { env: { PYTHONPATH: VELOCITAS_SDK } } } }, 60_000)).type, 'error', 'the app is deployed');
  await req(c, { type: 'console_subscribe', appId: 'VEA-mqtt-app' });
  t.not((await c.request({ type: 'run_app', appId: 'VEA-mqtt-app' }, 30_000)).type, 'error', 'the app runs');
  await c.waitFor((f) => f.type === 'console_output' && f.output === 'READY', 60_000);

  await attack(t, summary, `${HOGS} clients CONNECTed with keep-alive 0; an app of the agent publishes QoS 1`, agent, async () => {
    const hogs: net.Socket[] = [];
    let refused = 0;
    for (let i = 0; i < HOGS; i++) {
      const h = await connect(port, `hog-${i}`, { keepalive: 0, timeoutMs: 10_000 });
      if (h?.returnCode === 0) hogs.push(h.socket); else { refused++; h?.socket.destroy(); }
    }
    t.teardown(() => { for (const h of hogs) h.destroy(); });
    const stranger = await mosquittoPubAsync(port, ['-q', '1', '-i', 'stranger', '-t', 'app/evt', '-m', 'hi']);
    fs.writeFileSync(go, '');
    await c.waitFor((f) => f.type === 'console_output' && f.appId === 'VEA-mqtt-app' && f.output === 'DONE', (SECONDS + 60) * 1000);
    const lines = c.frames.filter((f) => f.type === 'console_output' && f.appId === 'VEA-mqtt-app').map((f) => String(f.output));
    const ok = lines.filter((l) => l === 'OK').length;
    const failed = lines.filter((l) => l.startsWith('FAIL'));
    const health = (await getJson(agent.healthUrl)).body as Health;
    for (const h of hogs) h.destroy();
    const tries = ok + failed.length;
    summary.data.figures['hogs: clients that got a slot, refused'] = `${hogs.length}, ${refused}`;
    summary.data.figures['hogs: the app\'s QoS 1 publishes through'] = `${ok}/${tries}${failed.length ? ` (${failed[failed.length - 1]})` : ''}`;
    summary.data.figures['hogs: a client the agent did not start (mosquitto_pub)'] = stranger;
    summary.data.figures['hogs: /health status, mqttUp, mqttRefused'] = `${health.status}, ${health.mqttUp}, ${health.mqttRefused ?? 'absent'}`;
    t.ok(tries > 0 && ok >= MIN_SHARE * tries, `the app got in and published ${ok} of ${tries} times while ${hogs.length} hogs held their slots${failed.length ? ` (${failed[failed.length - 1]})` : ''}`);
    t.ok((health.mqttRefused ?? 0) > 0 && health.status === 'degraded', `/health says clients are refused: status ${health.status}, mqttRefused ${health.mqttRefused}`);
    return tries > 0 && ok >= MIN_SHARE * tries && (health.mqttRefused ?? 0) > 0 && health.status === 'degraded';
  });
  summary.data.crashes += caughtCrashes(agent).length;
});
