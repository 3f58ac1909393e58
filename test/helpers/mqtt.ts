// Debian's mosquitto clients as real peers of the embedded MQTT broker (scripts/test-peers.sh installs them), and a
// raw TCP MQTT client built on the mqtt-packet codec for what a well-behaved client never does (stay silent, send an
// oversized header, never read).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as net from 'node:net';
import * as mqtt from 'mqtt-packet';
import { requirePeer } from './peers';
import { ceiling, stopChild, trackChild, type Scope } from './scope';

function tool(name: string): string {
  for (const dir of ['/usr/bin', '/usr/sbin', '/usr/local/bin']) {
    try { return requirePeer(`${dir}/${name}`, name); } catch { /* next */ }
  }
  return requirePeer(`/usr/bin/${name}`, `${name} (Debian package mosquitto-clients / mosquitto)`);
}

export interface Sub { proc: ChildProcess; messages: string[]; debug: string[]; exited: Promise<number | null>; waitMessages(n: number, timeoutMs?: number): Promise<string[]>; stop(): Promise<number | null> }

/** mosquitto_sub -v -d …, stopped with the scope; resolves once the broker acknowledged the subscription. `messages` holds "topic payload". */
export async function mosquittoSub(scope: Scope, port: number, args: string[]): Promise<Sub> {
  // stdbuf: mosquitto_sub writes through stdio, which holds a pipe's output until 4 kB have gathered.
  const proc = trackChild(spawn('stdbuf', ['-oL', tool('mosquitto_sub'), '-h', '127.0.0.1', '-p', String(port), '-v', '-d', ...args], { stdio: ['ignore', 'pipe', 'pipe'] }));
  scope.teardown(() => stopChild(proc, 'SIGTERM', 5000));
  const messages: string[] = [];
  const debug: string[] = [];
  const waiters: Array<() => void> = [];
  let buf = '';
  proc.stdout!.on('data', (c: Buffer) => {
    buf += c.toString('utf8');
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (/^Client \S+ (sending|received) |^Subscribed \(mid: /.test(line)) debug.push(line); else messages.push(line);
      for (const w of waiters.splice(0)) w();
    }
  });
  proc.stderr!.on('data', (c: Buffer) => debug.push(c.toString('utf8')));
  // 'close', not 'exit': a subscriber with -C exits as soon as it has its messages, and its last lines may still be in
  // the pipe when 'exit' comes.
  let closed = false;
  const exited = new Promise<number | null>((resolve) => proc.on('close', (code) => { closed = true; for (const w of waiters.splice(0)) w(); resolve(code); }));
  const until = async (pred: () => boolean, atLeastMs: number, what: string) => {
    const deadline = Date.now() + ceiling(atLeastMs);
    while (!pred()) {
      if (Date.now() > deadline || closed) throw new Error(`mosquitto_sub: ${what} not seen; messages ${JSON.stringify(messages)}; debug ${debug.slice(-5).join(' | ')}`);
      await new Promise<void>((r) => { const t = setTimeout(r, 100); waiters.push(() => { clearTimeout(t); r(); }); });
    }
  };
  // Subscribed, or (a persistent session) already receiving what was kept for it before the SUBACK.
  await until(() => debug.some((l) => l.includes('received SUBACK') || l.includes('received PUBLISH')), 10_000, 'SUBACK');
  return {
    proc, messages, debug, exited,
    waitMessages: async (n, timeoutMs?: number) => { await until(() => messages.length >= n, timeoutMs ?? 0, `${n} messages`); return messages.slice(0, n); },
    // mosquitto_sub disconnects from its signal handler, which can deadlock on the library's lock: SIGKILL after a
    // grace (seen once: a subscriber that never exited held its test for 5 minutes).
    stop: async () => { if (!closed) await stopChild(proc, 'SIGTERM', 20_000); return exited; },
  };
}

/** mosquitto_pub …; resolves with its exit code and output (with -d: the packets it sent and received). */
export function mosquittoPub(port: number, args: string[], input?: string | Buffer): { code: number | null; out: string } {
  const r = spawnSync(tool('mosquitto_pub'), ['-h', '127.0.0.1', '-p', String(port), ...args], { input, encoding: 'utf8', timeout: 15_000 });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

/** A bare MQTT client: packets in, packets out, nothing more. */
export class RawMqtt {
  readonly packets: mqtt.Packet[] = [];
  closed = false;
  private readonly parser = mqtt.parser({ protocolVersion: 4 });
  private waiters: Array<() => void> = [];
  readonly closedAt: Promise<number>;

  private constructor(readonly socket: net.Socket) {
    this.parser.on('packet', (p: mqtt.Packet) => { this.packets.push(p); for (const w of this.waiters.splice(0)) w(); });
    socket.on('data', (c) => this.parser.parse(c));
    socket.on('error', () => {});
    this.closedAt = new Promise((resolve) => socket.on('close', () => { this.closed = true; for (const w of this.waiters.splice(0)) w(); resolve(Date.now()); }));
  }

  static async connect(port: number): Promise<RawMqtt> {
    const s = net.connect({ host: '127.0.0.1', port });
    await new Promise<void>((resolve, reject) => { s.once('connect', () => resolve()); s.once('error', reject); });
    return new RawMqtt(s);
  }

  send(p: mqtt.Packet): void { this.socket.write(mqtt.generate(p)); }

  async waitPacket(cmd: string, atLeastMs?: number): Promise<mqtt.Packet> {
    const deadline = Date.now() + ceiling(atLeastMs);
    for (;;) {
      const p = this.packets.find((x) => x.cmd === cmd);
      if (p) { this.packets.splice(this.packets.indexOf(p), 1); return p; }
      if (this.closed || Date.now() > deadline) throw new Error(`no ${cmd} (closed: ${this.closed}); got ${this.packets.map((x) => x.cmd).join(',')}`);
      await new Promise<void>((r) => { const t = setTimeout(r, 50); this.waiters.push(() => { clearTimeout(t); r(); }); });
    }
  }

  /** CONNECT and wait for the CONNACK. */
  async hello(clientId: string, extra: Partial<mqtt.IConnectPacket> = {}): Promise<mqtt.IConnackPacket> {
    this.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId, keepalive: 0, ...extra });
    return (await this.waitPacket('connack')) as mqtt.IConnackPacket;
  }

  close(): void { this.socket.destroy(); }
}
