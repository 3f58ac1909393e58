// Health checks of a running app (config.healthCheck): is it still doing its job, not only alive? One probe every
// intervalMs — an HTTP GET (2xx/3xx is healthy), a TCP connect, or a command (exit 0) run as the app's user in its
// folder with its environment — each given timeoutMs. Failures during startPeriodMs do not count (a success ends the
// start period early); `failures` in a row after it make the app unhealthy: the watcher says so once and stops, and
// the supervisor ends the app, whose restart policy decides what comes next.
// A check may name only the loopback (127.0.0.0/8, ::1, localhost) unless the host is in apps.healthCheckHosts: the
// agent must not become a way for whoever deploys an app to probe the vehicle's network.
import http = require('node:http');
import net = require('node:net');
import { badRequest } from '../core/errors';
import { systemClock, type Clock } from '../core/clock';
import { runChild } from '../core/child-runner';

export interface HealthCheckConfig {
  http?: string;
  /** host:port */
  tcp?: string;
  /** argv */
  command?: string[];
  intervalMs: number;
  timeoutMs: number;
  failures: number;
  startPeriodMs: number;
}

export const HEALTH_DEFAULTS = { intervalMs: 5000, timeoutMs: 2000, failures: 3, startPeriodMs: 10_000 };
const RANGES = {
  intervalMs: [100, 3_600_000], timeoutMs: [50, 600_000], failures: [1, 100], startPeriodMs: [0, 3_600_000],
} as const;
const MAX_ARGV = 64;
/** What a failed command check keeps of its output for the reason: the last line, at most this long. */
const WHY_MAX = 200;

export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** apps.healthCheckHosts as a list (lower case, brackets off). */
export function allowedHosts(setting: string): string[] {
  return setting.split(',').map((h) => h.trim().replace(/^\[|\]$/g, '').toLowerCase()).filter(Boolean);
}

/** config.healthCheck of a deploy; refused with the field named. undefined when there is none. */
export function parseHealthCheck(raw: unknown, allowed: readonly string[], field = 'config.healthCheck'): HealthCheckConfig | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (typeof raw !== 'object' || Array.isArray(raw)) throw badRequest(`${field}: expected an object with one of http, tcp or command`);
  const o = raw as Record<string, unknown>;
  const known = new Set(['http', 'tcp', 'command', 'intervalMs', 'timeoutMs', 'failures', 'startPeriodMs']);
  for (const k of Object.keys(o)) if (!known.has(k)) throw badRequest(`${field}.${k.slice(0, 40)}: unknown key; known: ${[...known].join(', ')}`);
  const kinds = ['http', 'tcp', 'command'].filter((k) => o[k] !== undefined && o[k] !== null);
  if (kinds.length !== 1) throw badRequest(`${field}: expected exactly one of http, tcp or command, got ${kinds.length ? kinds.join(' and ') : 'none'}`);
  const hostOk = (host: string, key: string) => {
    if (!isLoopback(host) && !allowed.includes(host.replace(/^\[|\]$/g, '').toLowerCase())) {
      throw badRequest(`${field}.${key}: ${host.slice(0, 80)} is not the loopback; a health check may name another host only when it is in apps.healthCheckHosts`);
    }
  };
  const out: HealthCheckConfig = { ...HEALTH_DEFAULTS };
  for (const k of Object.keys(RANGES) as Array<keyof typeof RANGES>) {
    const v = o[k];
    if (v === undefined || v === null) continue;
    const [min, max] = RANGES[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw badRequest(`${field}.${k}: expected an integer from ${min} to ${max}, got ${JSON.stringify(v)?.slice(0, 40)}`);
    out[k] = v;
  }
  // The default timeout never exceeds a shorter interval given; a timeout given must fit in the interval.
  if (o.timeoutMs === undefined || o.timeoutMs === null) out.timeoutMs = Math.min(out.timeoutMs, out.intervalMs);
  if (out.timeoutMs > out.intervalMs) throw badRequest(`${field}.timeoutMs: at most intervalMs (${out.intervalMs}), got ${out.timeoutMs}`);
  if (kinds[0] === 'http') {
    let url: URL;
    try { url = new URL(String(o.http)); } catch { throw badRequest(`${field}.http: expected an http:// or https:// URL`); }
    if (typeof o.http !== 'string' || o.http.length > 2048 || (url.protocol !== 'http:' && url.protocol !== 'https:')) throw badRequest(`${field}.http: expected an http:// or https:// URL of at most 2048 characters`);
    if (url.username || url.password) throw badRequest(`${field}.http: no user or password in the URL`);
    hostOk(url.hostname, 'http');
    out.http = url.href;
  } else if (kinds[0] === 'tcp') {
    const m = typeof o.tcp === 'string' ? /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(o.tcp) : null;
    if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) throw badRequest(`${field}.tcp: expected host:port (a port from 1 to 65535)`);
    hostOk(m[1]!, 'tcp');
    out.tcp = o.tcp as string;
  } else {
    const argv = o.command;
    if (!Array.isArray(argv) || argv.length === 0 || argv.length > MAX_ARGV) throw badRequest(`${field}.command: expected an argument vector (1 to ${MAX_ARGV} strings), e.g. ["python3", "check.py"]`);
    for (const [i, a] of argv.entries()) {
      if (typeof a !== 'string' || a.length > 4096 || a.includes('\0') || (i === 0 && a.length === 0)) throw badRequest(`${field}.command[${i}]: expected a string of at most 4096 characters, no NUL`);
    }
    out.command = argv as string[];
  }
  return out;
}

/** Where a command check runs: the app's folder, environment and user. */
export interface CommandContext { cwd: string; env: Record<string, string>; uid?: number; gid?: number }

export type ProbeResult = { ok: true } | { ok: false; why: string };

/** One probe of `cfg`, settled within timeoutMs (plus the moment a killed command takes to be reaped). */
export function probe(cfg: HealthCheckConfig, ctx: CommandContext): Promise<ProbeResult> {
  if (cfg.http) return probeHttp(cfg.http, cfg.timeoutMs);
  if (cfg.tcp) return probeTcp(cfg.tcp, cfg.timeoutMs);
  return probeCommand(cfg.command!, cfg.timeoutMs, ctx);
}

function probeHttp(url: string, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    // https (and tls with it) only for a check that names it: not loaded at start (issue 30).
    const mod = url.startsWith('https:') ? require('node:https') as typeof import('node:https') : http;
    // A probe reads a status code and sends nothing a certificate would protect: a self-signed one is fine.
    const req = mod.get(url, { timeout: timeoutMs, agent: false, rejectUnauthorized: false, headers: { 'user-agent': 'sdv-agent-health-check' } }, (res) => {
      const code = res.statusCode ?? 0;
      res.resume();
      res.on('error', () => {});
      req.destroy();
      resolve(code >= 200 && code < 400 ? { ok: true } : { ok: false, why: `GET ${url} answered ${code}` });
    });
    req.on('timeout', () => { req.destroy(); resolve({ ok: false, why: `GET ${url}: no answer within ${timeoutMs} ms` }); });
    req.on('error', (e) => resolve({ ok: false, why: `GET ${url}: ${(e as NodeJS.ErrnoException).code ?? e.message}` }));
  });
}

function probeTcp(address: string, timeoutMs: number): Promise<ProbeResult> {
  const i = address.lastIndexOf(':');
  const host = address.slice(0, i).replace(/^\[|\]$/g, '');
  const port = Number(address.slice(i + 1));
  return new Promise((resolve) => {
    const sock = net.connect({ host, port });
    const done = (r: ProbeResult) => { clearTimeout(timer); sock.destroy(); resolve(r); };
    const timer = setTimeout(() => done({ ok: false, why: `connect ${address}: no answer within ${timeoutMs} ms` }), timeoutMs);
    sock.once('connect', () => done({ ok: true }));
    sock.once('error', (e) => done({ ok: false, why: `connect ${address}: ${(e as NodeJS.ErrnoException).code ?? e.message}` }));
  });
}

async function probeCommand(argv: string[], timeoutMs: number, ctx: CommandContext): Promise<ProbeResult> {
  // The command's whole process group goes at the timeout, not only the command (core/child-runner).
  const r = await runChild({
    file: argv[0]!, args: argv.slice(1), cwd: ctx.cwd, env: ctx.env, timeoutMs,
    runAs: ctx.uid !== undefined ? { uid: ctx.uid, gid: ctx.gid! } : null,
    mergeStderr: true, keep: 'tail', maxKeptBytes: 4 * WHY_MAX,
  });
  if (r.startError) return { ok: false, why: `${argv[0]}: ${r.startError.code ?? r.startError.message}` };
  if (r.timedOut) return { ok: false, why: `${argv[0]}: no exit within ${timeoutMs} ms` };
  if (r.exitCode === 0) return { ok: true };
  const last = r.stdout.trim().split('\n').at(-1)?.slice(0, WHY_MAX) ?? '';
  return { ok: false, why: `${argv[0]} ${r.exitCode !== null ? `exited with code ${r.exitCode}` : `was killed by ${r.signal}`}${last ? `: ${last}` : ''}` };
}

export type HealthStatus = 'starting' | 'healthy' | 'unhealthy';

/** What list_deployed_apps and /metrics show of an app's checks. */
export interface HealthState { status: HealthStatus; failuresInRow: number; failuresTotal: number; checks: number; lastError: string | null; lastCheckAt: string | null }

/**
 * The checks of one run of an app. `run` makes one probe; `onUnhealthy` is called once, when `failures` in a row
 * (after the start period) failed, and the watcher stops there. `onFailure` gets every failed probe that counted.
 */
export class HealthWatcher {
  readonly state: HealthState = { status: 'starting', failuresInRow: 0, failuresTotal: 0, checks: 0, lastError: null, lastCheckAt: null };
  private timer: unknown = null;
  private stopped = false;
  private readonly startedAt: number;

  constructor(private readonly cfg: HealthCheckConfig, private readonly run: () => Promise<ProbeResult>, private readonly on: { failure(why: string): void; unhealthy(why: string): void; change?(s: HealthState): void }, private readonly clock: Clock = systemClock) {
    this.startedAt = clock.now();
    this.schedule();
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = this.clock.setTimeout(() => void this.check(), this.cfg.intervalMs);
  }

  private async check(): Promise<void> {
    this.timer = null;
    const r = await this.run();
    if (this.stopped) return;
    const s = this.state;
    s.checks++;
    s.lastCheckAt = new Date(this.clock.now()).toISOString();
    if (r.ok) {
      const changed = s.status !== 'healthy';
      s.status = 'healthy';
      s.failuresInRow = 0;
      if (changed) this.on.change?.(s);
    } else if (s.status === 'starting' && this.clock.now() - this.startedAt < this.cfg.startPeriodMs) {
      s.lastError = r.why; // not counted: the app may still be coming up
    } else {
      s.failuresInRow++;
      s.failuresTotal++;
      s.lastError = r.why;
      this.on.failure(r.why);
      if (s.failuresInRow >= this.cfg.failures) {
        s.status = 'unhealthy';
        this.stop();
        this.on.change?.(s);
        this.on.unhealthy(r.why);
        return;
      }
    }
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) { this.clock.clearTimeout(this.timer); this.timer = null; }
  }
}
