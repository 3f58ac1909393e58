// The velocitas scenario: what a Velocitas app gets from the embedded store over sdv.databroker.v1, beside the same
// measure over kuksa.val v2 in the same run. (1) GetDatapoints of 10 signals, calls/s from a closed loop of 8 calls in
// flight, beside v2 GetValues of the same 10; (2) the delay from a local-API write of Vehicle.Speed (50 Hz) to the
// callback of a real Velocitas SDK app's `subscribe`, beside a raw sdv Subscribe and a raw v2 Subscribe (Node
// clients) on the same writes; and the same app through the sdv.databroker.v1 bridge of an agent in external mode
// whose upstream serves kuksa.val.v2 only (`kuksa.serveApis: [kuksa.val.v2]`, the stand-in for databroker 0.7), the
// same ticks written to that upstream at the same moment.
import type * as grpc from '@grpc/grpc-js';
import { ApiClient } from '../test/helpers/agent';
import { startMosquitto } from '../test/helpers/mosquitto';
import { rawClients, startDownstream, startUpstream } from '../test/helpers/signals';
import { runVelocitasApp } from '../test/helpers/velocitas';
import { cpuMeter, quantile, round, sleep, runScope } from './lib';
import type { Metrics, Scenario } from './scenarios';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const TEN = ['Vehicle.Speed', 'Vehicle.Powertrain.TractionBattery.StateOfCharge.Current', 'Vehicle.Cabin.HVAC.AmbientAirTemperature',
  'Vehicle.Chassis.SteeringWheel.Angle', 'Vehicle.Powertrain.Range', 'Vehicle.CurrentLocation.Latitude', 'Vehicle.CurrentLocation.Longitude',
  'Vehicle.Exterior.AirTemperature', 'Vehicle.TraveledDistance', 'Vehicle.Body.Lights.Beam.Low.IsOn'];
const IN_FLIGHT = 8;

/** Calls per second of one unary call kept IN_FLIGHT deep for windowS. */
async function callsPerS(client: Obj, method: string, req: Obj, windowS: number): Promise<number> {
  let done = 0;
  let failed: Error | null = null;
  const end = performance.now() + windowS * 1000;
  const loop = () => new Promise<void>((resolve) => {
    const next = () => {
      if (performance.now() >= end || failed) return resolve();
      client[method](req, (e: Error | null) => { if (e) failed = e; else done++; next(); });
    };
    next();
  });
  const t0 = performance.now();
  await Promise.all(Array.from({ length: IN_FLIGHT }, loop));
  if (failed) throw failed;
  return done / ((performance.now() - t0) / 1000);
}

const APP = `
import asyncio, signal, sys
from vehicle import vehicle
from velocitas_sdk.vehicle_app import VehicleApp

class BenchApp(VehicleApp):
    async def on_start(self):
        await vehicle.Speed.subscribe(self.on_speed)

    async def on_speed(self, reply):
        sys.stdout.write("S %d\\n" % int(reply.get(vehicle.Speed).value))
        sys.stdout.flush()

LOOP = asyncio.get_event_loop()
LOOP.add_signal_handler(signal.SIGTERM, LOOP.stop)
LOOP.run_until_complete(BenchApp().run())
`;

const SDK_READER = (windowS: number) => `
import asyncio, time
from velocitas_sdk.vdb.client import VehicleDataBrokerClient
TEN = ${JSON.stringify(TEN)}

async def main():
    c = VehicleDataBrokerClient()
    await c.GetDatapoints(TEN)
    n = 0
    end = time.monotonic() + ${windowS}
    async def loop():
        nonlocal n
        while time.monotonic() < end:
            await c.GetDatapoints(TEN)
            n += 1
    t0 = time.monotonic()
    await asyncio.gather(*[loop() for _ in range(${IN_FLIGHT})])
    print("N %d" % (n / (time.monotonic() - t0)), flush=True)

asyncio.run(main())
`;

export const velocitas: Scenario = {
  name: 'velocitas', runs: 1, warmup: false, peers: true,
  about: 'sdv.databroker.v1 GetDatapoints of 10 signals (calls/s, 8 in flight) beside kuksa.val v2 GetValues; local write → Velocitas SDK subscribe callback delay beside raw sdv and v2 Subscribe, and through the sdv.databroker.v1 bridge onto a kuksa.val.v2-only upstream',
  async run() {
    const windowS = Number(process.env.BENCH_SIGNALS_S ?? 8);
    const mqtt = await startMosquitto(runScope);
    const up = await startUpstream(runScope);
    const raw = rawClients(up.port);
    const api = await ApiClient.connect(up.agent.apiUrl);
    const streams: grpc.ClientReadableStream<Obj>[] = [];
    const app = runVelocitasApp(runScope, APP, { grpcPort: up.port, mqttUrl: mqtt.url, leaves: { 'Vehicle.Speed': 'float' } });
    const m: Metrics = { signals: TEN.length, inFlight: IN_FLIGHT, windowS };
    // the bridge: an upstream like databroker 0.7, an agent in external mode on it, the same app on its bridge
    const up2 = await startUpstream(runScope, { kuksa: { serveApis: ['kuksa.val.v2'] } });
    const api2 = await ApiClient.connect(up2.agent.apiUrl);
    const down = await startDownstream(runScope, up2.port, 'auto');
    const decided = await Promise.race([down.waitLog((l) => typeof l.upstreamHasSdv === 'boolean'), sleep(20_000).then(() => null)]);
    const bridgePort = decided && decided.upstreamHasSdv === false ? decided.port as number : 0;
    const bridgeApp = bridgePort ? runVelocitasApp(runScope, APP, { grpcPort: bridgePort, mqttUrl: mqtt.url, leaves: { 'Vehicle.Speed': 'float' } }) : null;
    if (!bridgePort) m['writeTo.velocitasBridge'] = 'skipped: this build has no sdv.databroker.v1 bridge';
    try {
      if ((await api2.request({ type: 'write_signals_value', data: { 'Vehicle.Speed': 0 } })).errors) throw new Error('setup write (bridge upstream) failed');
      const values: Record<string, unknown> = { 'Vehicle.Speed': 0, 'Vehicle.Body.Lights.Beam.Low.IsOn': true };
      for (const p of TEN) values[p] ??= 1;
      const w = await api.request({ type: 'write_signals_value', data: values });
      if (w.errors) throw new Error(`setup write failed: ${JSON.stringify(w.errors)}`);

      // (1) read throughput: sdv GetDatapoints vs v2 GetValues, each after a 1 s warm-up
      const sdvReq = { datapoints: TEN };
      const v2Req = { signal_ids: TEN.map((path) => ({ path })) };
      await callsPerS(raw.broker, 'GetDatapoints', sdvReq, 1);
      await callsPerS(raw.v2, 'GetValues', v2Req, 1);
      // Alternating 2 s rounds (the box is shared: load drifts), medians over the rounds. The Node client is the
      // bottleneck on 2 cores, so the agent's CPU per call is the server's own cost.
      const rounds = Math.max(1, Math.round(windowS / 2));
      const per: Record<string, { perS: number[]; us: number[] }> = { getDatapoints10: { perS: [], us: [] }, v2GetValues10: { perS: [], us: [] } };
      for (let i = 0; i < rounds; i++) {
        for (const [key, client, method, req] of [['getDatapoints10', raw.broker, 'GetDatapoints', sdvReq], ['v2GetValues10', raw.v2, 'GetValues', v2Req]] as const) {
          const meter = cpuMeter(up.agent.proc.pid!);
          const perS = await callsPerS(client, method, req, 2);
          const u = meter();
          per[key]!.perS.push(perS);
          per[key]!.us.push((u.cpuS * 1e6) / (perS * u.wallS));
        }
      }
      for (const [key, r] of Object.entries(per)) {
        m[`${key}.callsPerS`] = Math.round(quantile(r.perS, 0.5));
        m[`${key}.agentCpuUsPerCall`] = round(quantile(r.us, 0.5));
      }
      m['getDatapoints10.ratioToV2'] = round((m['getDatapoints10.callsPerS'] as number) / (m['v2GetValues10.callsPerS'] as number), 2);
      // what an app gets: the SDK's own client (grpc C core) calling GetDatapoints, 8 in flight
      const reader = runVelocitasApp(runScope, SDK_READER(windowS), { grpcPort: up.port, mqttUrl: mqtt.url, leaves: { 'Vehicle.Speed': 'float' } });
      m['sdkGetDatapoints10.callsPerS'] = Math.round(Number((await reader.waitOut(/^N /, (windowS + 30) * 1000)).slice(2)));

      // (2) write → callback: one Velocitas app, one raw sdv and one raw v2 subscriber on the same writes
      const sentAt = new Map<number, number>();
      const delays: Record<string, number[]> = { velocitas: [], sdvRaw: [], v2Raw: [], ...(bridgeApp ? { velocitasBridge: [] } : {}) };
      const seen = (sink: number[], tick: number) => { const t0 = sentAt.get(tick); if (t0 !== undefined && tick > 0) sink.push(performance.now() - t0); };
      const lines = (proc: typeof app.proc, sink: number[]) => {
        let buf = '';
        proc.stdout!.on('data', (c: Buffer) => {
          buf += c.toString();
          let nl: number;
          while ((nl = buf.indexOf('\n')) >= 0) { const l = buf.slice(0, nl); buf = buf.slice(nl + 1); if (l.startsWith('S ')) seen(sink, Number(l.slice(2))); }
        });
      };
      lines(app.proc, delays.velocitas!);
      if (bridgeApp) lines(bridgeApp.proc, delays.velocitasBridge!);
      const sdvSub = raw.broker.Subscribe({ query: 'SELECT Vehicle.Speed' }) as grpc.ClientReadableStream<Obj>;
      sdvSub.on('data', (r: Obj) => seen(delays.sdvRaw, Math.round(r.fields?.['Vehicle.Speed']?.float_value ?? -1)));
      const v2Sub = raw.v2.Subscribe({ signal_paths: ['Vehicle.Speed'] }) as grpc.ClientReadableStream<Obj>;
      v2Sub.on('data', (r: Obj) => seen(delays.v2Raw, Math.round(r.entries?.['Vehicle.Speed']?.value?.float ?? -1)));
      for (const s of [sdvSub, v2Sub]) { s.on('error', () => {}); streams.push(s); }
      await app.waitOut(/^S 0$/, 30_000); // the app is subscribed (its first reply is the current value)
      await bridgeApp?.waitOut(/^S 0$/, 30_000);
      await sleep(500);
      let tick = 0;
      const writer = setInterval(() => {
        const n = ++tick;
        sentAt.set(n, performance.now());
        api.send({ type: 'write_signals_value', id: `w${n}`, data: { 'Vehicle.Speed': n } });
        if (bridgeApp) api2.send({ type: 'write_signals_value', id: `w${n}`, data: { 'Vehicle.Speed': n } });
      }, 20);
      await sleep(windowS * 1000);
      clearInterval(writer);
      await sleep(500);
      for (const [k, d] of Object.entries(delays)) {
        m[`writeTo.${k}.medianMs`] = round(quantile(d, 0.5), 2);
        m[`writeTo.${k}.p99Ms`] = round(quantile(d, 0.99), 2);
        m[`writeTo.${k}.received`] = d.length;
      }
      m['writeTo.sent'] = tick;
      if (bridgeApp) m['writeTo.velocitasBridge.extraMedianMs'] = round((m['writeTo.velocitasBridge.medianMs'] as number) - (m['writeTo.velocitas.medianMs'] as number), 2);
      return m;
    } finally {
      for (const s of streams) s.cancel();
      app.proc.kill('SIGKILL'); // the SDK's MQTT thread can outlive a stopped asyncio loop
      bridgeApp?.proc.kill('SIGKILL');
      api.close();
      api2.close();
      await down.stop();
      await up2.agent.stop();
      for (const c of Object.values(raw)) c.close();
      await up.agent.stop();
      await mqtt.stop();
    }
  },
};
