// Raw TCP MQTT clients for the broker's chaos sections: what a hostile local process does and a real client never
// does — stop reading and keep writing, never send CONNECT, hold a slot with keep-alive 0, subscribe with filters made
// to cost the broker memory. Packets come from mqtt-packet (the broker's own codec); nothing here waits on the clock
// except the deadlines it is given.
import { spawn } from 'node:child_process';
import * as net from 'node:net';
import * as mqtt from 'mqtt-packet';
import { startAgent, type AgentHandle } from '../helpers/agent';
import { requirePeer } from '../helpers/peers';
import { LIVENESS_MS, rssOf, sleep } from './lib';
import { SAFE_ENV } from './safe-env';

/**
 * An agent for one attack, stopped and its folder removed when the test ends, and the port its broker listens on.
 * Only keys every build knows are set, so the same attack measures the build before (SDV_AGENT_TEST_BUNDLE).
 */
export async function brokerAgent(t: { teardown(fn: () => unknown): void }): Promise<{ agent: AgentHandle; port: number }> {
  const agent = await startAgent(t, { env: SAFE_ENV });
  const port = (await agent.waitLog((l) => l.msg === 'mqtt broker listening')).port as number;
  return { agent, port };
}

export const PINGREQ = Buffer.from([0xc0, 0x00]);

/** A TCP connection to the broker, or null when it is refused or not open within the deadline. */
export function dial(port: number, timeoutMs = 5000): Promise<net.Socket | null> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    const done = (ok: boolean) => { clearTimeout(timer); if (!ok) s.destroy(); resolve(ok ? s : null); };
    const timer = setTimeout(() => done(false), timeoutMs);
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

export interface Connected { socket: net.Socket; returnCode: number; sessionPresent: boolean }

/**
 * CONNECT on a new socket and the CONNACK read by hand (the first 4 bytes), so the socket can be paused right after
 * without a parser behind it. null when no CONNACK came within the deadline (closed, refused at TCP, timed out).
 */
export async function connect(port: number, clientId: string, opts: { clean?: boolean; keepalive?: number; timeoutMs?: number } = {}): Promise<Connected | null> {
  const timeoutMs = opts.timeoutMs ?? 5000;
  const socket = await dial(port, timeoutMs);
  if (!socket) return null;
  socket.on('error', () => { /* the close that follows is what counts */ });
  socket.write(mqtt.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: opts.clean ?? true, clientId, keepalive: opts.keepalive ?? 0 }));
  return new Promise((resolve) => {
    let buf = Buffer.alloc(0);
    const done = (r: Connected | null) => { clearTimeout(timer); socket.off('data', onData); socket.off('close', onClose); if (!r) socket.destroy(); resolve(r); };
    const onData = (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      if (buf.length < 4) return;
      if (buf[0] !== 0x20) { done(null); return; }
      socket.pause();
      // Anything after the CONNACK in the same chunk goes back to the stream for whoever reads next.
      if (buf.length > 4) socket.unshift(buf.subarray(4));
      done({ socket, returnCode: buf[3]!, sessionPresent: (buf[2]! & 1) === 1 });
    };
    const onClose = () => done(null);
    const timer = setTimeout(() => done(null), timeoutMs);
    socket.on('data', onData);
    socket.once('close', onClose);
  });
}

/**
 * A client that never reads writes `packets` (one Buffer, many packets) as fast as its own socket takes them, for
 * `ms` or until the agent closes it or `stop()` says so. Returns the bytes the kernel took and whether the agent
 * closed the connection, and when.
 */
export async function floodUnread(socket: net.Socket, packets: Buffer, ms: number, stop: () => boolean = () => false): Promise<{ sentBytes: number; closedAfterMs: number | null }> {
  socket.pause();
  const t0 = Date.now();
  let closedAt: number | null = null;
  socket.once('close', () => { closedAt = Date.now(); });
  let written = 0;
  while (closedAt === null && Date.now() - t0 < ms && !stop()) {
    // The kernel takes what it can; past 1 MiB of our own backlog the agent is not reading: wait a little.
    if (socket.writableLength > 1024 * 1024) { await sleep(20); continue; }
    socket.write(packets);
    written += packets.length;
    await new Promise((r) => setImmediate(r));
  }
  const sentBytes = written - socket.writableLength;
  socket.destroy();
  return { sentBytes, closedAfterMs: closedAt === null ? null : closedAt - t0 };
}

/** Samples the agent's RSS every `everyMs` until stopped; peak and last in bytes. */
export class RssWatch {
  peak: number;
  last: number;
  private timer: NodeJS.Timeout;
  constructor(private readonly pid: number | undefined, everyMs = 100) {
    this.peak = this.last = rssOf(pid) ?? 0;
    this.timer = setInterval(() => this.sample(), everyMs);
  }
  sample(): number {
    this.last = rssOf(this.pid) ?? this.last;
    this.peak = Math.max(this.peak, this.last);
    return this.last;
  }
  stop(): { peak: number; last: number } { clearInterval(this.timer); this.sample(); return { peak: this.peak, last: this.last }; }
}

/**
 * A new MQTT client getting in while an attack runs: CONNECT, CONNACK 0, one QoS 1 PUBLISH and its PUBACK, within the
 * liveness deadline (lib.ts LIVENESS_MS), again and again until stopped. Counts what got through.
 */
export class MqttProbe {
  ok = 0;
  failed = 0;
  lastFailure = '';
  private running = true;
  private readonly loop: Promise<void>;
  constructor(port: number, everyMs = 500, deadlineMs = LIVENESS_MS) {
    this.loop = (async () => {
      let i = 0;
      while (this.running) {
        const r = await roundTrip(port, `probe-${process.pid}-${i++}`, deadlineMs);
        if (r === 'ok') this.ok++; else { this.failed++; this.lastFailure = r; }
        await sleep(everyMs);
      }
    })();
  }
  async stop(): Promise<{ ok: number; failed: number; lastFailure: string }> {
    this.running = false;
    await this.loop;
    return { ok: this.ok, failed: this.failed, lastFailure: this.lastFailure };
  }
}

/** 'ok', or what went wrong: one CONNECT, one QoS 1 PUBLISH acknowledged, DISCONNECT. */
export async function roundTrip(port: number, clientId: string, deadlineMs = LIVENESS_MS): Promise<string> {
  const end = Date.now() + deadlineMs;
  const c = await connect(port, clientId, { timeoutMs: deadlineMs });
  if (!c) return 'no CONNACK';
  const { socket } = c;
  try {
    if (c.returnCode !== 0) return `CONNACK ${c.returnCode}`;
    const parser = mqtt.parser({ protocolVersion: 4 });
    const acked = new Promise<boolean>((resolve) => {
      parser.on('packet', (p: mqtt.Packet) => { if (p.cmd === 'puback') resolve(true); });
      socket.on('data', (d: Buffer) => parser.parse(d));
      socket.once('close', () => resolve(false));
      setTimeout(() => resolve(false), Math.max(1, end - Date.now()));
    });
    socket.resume();
    socket.write(mqtt.generate({ cmd: 'publish', topic: 'probe/ok', payload: Buffer.from('x'), qos: 1, messageId: 1, retain: false, dup: false }));
    if (!await acked) return 'no PUBACK';
    socket.write(mqtt.generate({ cmd: 'disconnect' }));
    return 'ok';
  } finally {
    socket.end();
    setTimeout(() => socket.destroy(), 200).unref();
  }
}

/** Debian's mosquitto_pub, run without blocking the test's event loop: 'ok' or its last output line. */
export function mosquittoPubAsync(port: number, args: string[], timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve) => {
    const p = spawn(requirePeer('/usr/bin/mosquitto_pub', 'mosquitto_pub (Debian package mosquitto-clients)'), ['-h', '127.0.0.1', '-p', String(port), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout!.on('data', (c: Buffer) => { out += c.toString(); });
    p.stderr!.on('data', (c: Buffer) => { out += c.toString(); });
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('error', (e) => { clearTimeout(timer); resolve(`spawn: ${e.message}`); });
    p.on('exit', (code, sig) => { clearTimeout(timer); resolve(code === 0 ? 'ok' : (out.trim().split('\n').pop() || `exit ${code ?? sig}`)); });
  });
}

/** One SUBSCRIBE of `filters` (QoS 0) and the SUBACK's granted codes, read with a parser on a reading socket. */
export async function subscribe(socket: net.Socket, messageId: number, filters: readonly string[], timeoutMs = 30_000): Promise<number[] | null> {
  const parser = mqtt.parser({ protocolVersion: 4 });
  return new Promise((resolve) => {
    const done = (r: number[] | null) => { clearTimeout(timer); socket.off('data', onData); socket.off('close', onClose); socket.pause(); resolve(r); };
    parser.on('packet', (p: mqtt.Packet) => { if (p.cmd === 'suback' && p.messageId === messageId) done((p as mqtt.ISubackPacket).granted as number[]); });
    const onData = (d: Buffer) => parser.parse(d);
    const onClose = () => done(null);
    const timer = setTimeout(() => done(null), timeoutMs);
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.resume();
    socket.write(mqtt.generate({ cmd: 'subscribe', messageId, subscriptions: filters.map((topic) => ({ topic, qos: 0 as const })) }));
  });
}
