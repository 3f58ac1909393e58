// Debian's real mosquitto on a free loopback port: the Velocitas SDK connects to MQTT as soon as
// `velocitas_sdk.vehicle_app` is imported, so every Velocitas app test needs a broker listening.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { requirePeer } from './peers';
import { trackChild, type Scope } from './scope';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const p = (s.address() as net.AddressInfo).port; s.close(() => resolve(p)); });
  });
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect(port, '127.0.0.1');
    c.once('connect', () => { c.destroy(); resolve(true); });
    c.once('error', () => resolve(false));
  });
}

export interface Mosquitto { port: number; url: string; stop(): Promise<void> }

/** Starts `mosquitto -p <port>` (loopback only: mosquitto 2 without a config file listens on localhost), stopped with the scope. */
export async function startMosquitto(scope: Scope): Promise<Mosquitto> {
  const bin = ['/usr/sbin/mosquitto', '/usr/bin/mosquitto'].find((f) => fs.existsSync(f)) ?? '/usr/sbin/mosquitto';
  requirePeer(bin, 'mosquitto');
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const proc = trackChild(spawn(bin, ['-p', String(port)], { stdio: ['ignore', 'ignore', 'pipe'] }));
    let stderr = '';
    proc.stderr!.on('data', (c: Buffer) => { stderr += c.toString(); });
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    const stop = async () => { if (proc.exitCode === null && proc.signalCode === null) { proc.kill('SIGTERM'); await exited; } };
    scope.teardown(stop);
    for (let i = 0; i < 100 && proc.exitCode === null; i++) {
      if (await accepts(port)) return { port, url: `mqtt://127.0.0.1:${port}`, stop };
      await new Promise((r) => setTimeout(r, 50));
    }
    await stop();
    if (attempt === 2) throw new Error(`mosquitto did not listen on ${port}: ${stderr}`);
  }
  throw new Error('unreachable');
}
