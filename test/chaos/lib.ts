// Shared pieces of the resilience suite: short/full sizing, a seeded random source, the per-section summary
// (printed with t.comment and written to test/chaos/out/<section>.json), crash counting and feature detection.
// Short mode (inside `npm test`) runs the same files with small counts; SDV_CHAOS=full runs the real figures.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Test } from 'tap';
import { ApiClient, ceiling, type AgentHandle } from '../helpers/agent';

export const FULL = process.env.SDV_CHAOS === 'full';
export const OUT_DIR = path.join(__dirname, 'out');

/**
 * A ping or /health without an answer for this long means the agent is blocked (its event loop held by one piece of
 * work). The full run has a box of its own; the short form inside npm test shares it with the rest of the suite (and
 * whatever else the box does), where a starved but working agent can take seconds.
 */
export const LIVENESS_MS = FULL ? 10_000 : 30_000;

/** A count for the current mode. */
export const count = (short: number, full: number): number => (FULL ? full : short);

/**
 * When a loop of faults stops: in the full run after `fullMs` (a time budget, so a slow box reports fewer rounds and
 * says so), in the short form never before its count is done (how long that takes is the box's business, not a
 * property of the agent).
 */
export const budgetEnd = (fullMs: number): number => (FULL ? Date.now() + fullMs : Number.POSITIVE_INFINITY);

/** The rounds a loop of faults did: all of them in the short form; in the full run at least one, the count a figure. */
export function roundsDone(t: Test, done: number, planned: number, what: string): void {
  if (FULL) t.ok(done > 0, `${done} of ${planned} ${what} within the full run's budget`);
  else t.equal(done, planned, `all ${planned} ${what}`);
}

/** mulberry32: small, fast and reproducible. The seed is printed so a failing run can be replayed (SDV_CHAOS_SEED). */
export function makeRng(seed: number): { next(): number; int(n: number): number; pick<T>(a: readonly T[]): T; chance(p: number): boolean; seed: number } {
  let s = seed >>> 0;
  const next = (): number => {
    s = (s + 0x6d2b79f5) >>> 0;
    let x = s;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
  return {
    seed,
    next,
    int: (n) => Math.floor(next() * n),
    pick: (a) => a[Math.floor(next() * a.length)]!,
    chance: (p) => next() < p,
  };
}

export function seedFor(section: string): number {
  const fromEnv = Number(process.env.SDV_CHAOS_SEED);
  if (Number.isInteger(fromEnv) && fromEnv > 0) return fromEnv;
  let h = Date.now() >>> 0;
  for (const ch of section) h = Math.imul(h ^ ch.charCodeAt(0), 16777619) >>> 0;
  return h || 1;
}

/** The figures every section reports. crashes and stateLost must stay 0. */
export interface SectionSummary {
  section: string;
  mode: 'short' | 'full';
  seed: number;
  faultsInjected: number;
  faultsSurvived: number;
  framesFuzzed: number;
  crashes: number;
  stateLost: number;
  /** Parts of the section that did not run and why (e.g. "not built yet"). */
  skipped: string[];
  /** Weaknesses seen: internal errors, slow recoveries… one line each. */
  findings: string[];
  /** Extra figures (RSS, reconnect times…). */
  figures: Record<string, number | string>;
  durationMs: number;
}

export class Summary {
  readonly data: SectionSummary;
  private readonly t0 = Date.now();

  constructor(section: string, seed: number) {
    this.data = { section, mode: FULL ? 'full' : 'short', seed, faultsInjected: 0, faultsSurvived: 0, framesFuzzed: 0, crashes: 0, stateLost: 0, skipped: [], findings: [], figures: {}, durationMs: 0 };
  }

  /** A part the environment cannot run (not root, no mount): recorded, never a reason to pass silently. */
  skip(what: string, why: string): void { this.data.skipped.push(`${what}: skipped: ${why}`); }

  /** Findings are capped so a noisy run does not produce a megabyte of JSON. */
  finding(line: string): void {
    if (this.data.findings.length < 50 && !this.data.findings.includes(line)) this.data.findings.push(line);
  }

  line(): string {
    const d = this.data;
    return `chaos ${d.section} [${d.mode}, seed ${d.seed}]: faults injected ${d.faultsInjected}, faults survived ${d.faultsSurvived}, `
      + `frames fuzzed ${d.framesFuzzed}, crashes ${d.crashes}, acknowledged state lost ${d.stateLost}`
      + (d.skipped.length ? `; ${d.skipped.join('; ')}` : '');
  }

  /** Prints the summary line and writes the JSON file. Call from t.teardown or the end of the test. */
  write(t: { comment(...args: unknown[]): void }): void {
    this.data.durationMs = Date.now() - this.t0;
    t.comment(this.line());
    for (const f of this.data.findings) t.comment(`finding: ${f}`);
    fs.mkdirSync(OUT_DIR, { recursive: true });
    fs.writeFileSync(path.join(OUT_DIR, `${this.data.section}.json`), JSON.stringify(this.data, null, 2) + '\n');
  }
}

/** Lines the agent logs when something escaped a handler: each one is a crash that the safety net caught. */
export function caughtCrashes(agent: AgentHandle): Array<Record<string, unknown>> {
  return agent.logs.filter((l) => l.msg === 'unexpected error (the agent keeps running)');
}

/** Handlers that threw something other than a CommandError (a bug shown to the client as INTERNAL). */
export function internalErrors(agent: AgentHandle): Array<Record<string, unknown>> {
  return agent.logs.filter((l) => l.msg === 'command failed unexpectedly');
}

export function exited(agent: AgentHandle): boolean {
  return agent.proc.exitCode !== null || agent.proc.signalCode !== null;
}

/** Resident set size of a process in bytes (Linux /proc), or null where it cannot be read. */
export function rssOf(pid: number | undefined): number | null {
  if (!pid) return null;
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch { return null; }
}

let reqSeq = 0;
/** Sends a request with a fresh id and resolves with the first frame carrying that id, whatever its type
 * (console_subscribe answers console_subscribed, not …-response). */
export async function req(c: ApiClient, frame: Record<string, unknown>, timeoutMs?: number): Promise<Record<string, unknown>> {
  const id = `cx-${process.pid}-${++reqSeq}`;
  c.send({ ...frame, id });
  // A progress frame carries the id too, but is not the answer.
  return c.waitFor((f) => f.id === id && !String(f.type).endsWith('-progress'), timeoutMs);
}

/** Asserts that the agent serves the command a section drives (anything but UNKNOWN_TYPE / UNAVAILABLE). */
export async function served(t: Test, c: ApiClient, type: string, extra: Record<string, unknown> = {}): Promise<boolean> {
  const r = await req(c, { type, ...extra });
  const ok = !(r.type === 'error' && (r.code === 'UNKNOWN_TYPE' || r.code === 'UNAVAILABLE'));
  t.ok(ok, `${type} is served (${String(r.error ?? r.type)})`);
  return ok;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls until pred() is true or the deadline passes; returns the last result. */
/** Polls until pred holds; false after at least the suite's ceiling (or timeoutMs when longer). */
export async function until(pred: () => boolean | Promise<boolean>, timeoutMs?: number, stepMs = 50): Promise<boolean> {
  const end = Date.now() + ceiling(timeoutMs);
  for (;;) {
    if (await pred()) return true;
    if (Date.now() >= end) return false;
    await sleep(stepMs);
  }
}

export const MB = 1024 * 1024;

/**
 * After fuzzing: no client string ran in a shell (no file named by the sentinel in /tmp), nothing landed next to
 * dataDir, and the agent neither exited nor caught a crash. Sets summary.data.crashes and returns it.
 */
export function checkAftermath(t: Test, summary: Summary, agent: AgentHandle, sentinel: string): number {
  const escaped = fs.readdirSync('/tmp').filter((n) => n.startsWith(sentinel));
  t.same(escaped, [], 'no client string was run by a shell or used as an absolute path');
  const besideData = fs.readdirSync(path.dirname(agent.dataDir)).filter((n) => n !== 'data' && n !== 'config.yaml');
  t.same(besideData, [], 'nothing was written next to dataDir (no ../ escaped it)');
  if (escaped.length || besideData.length) summary.finding(`files outside dataDir: ${[...escaped, ...besideData].join(', ')}`);
  const crashes = (exited(agent) ? 1 : 0) + caughtCrashes(agent).length;
  for (const c of caughtCrashes(agent).slice(0, 5)) summary.finding(`caught crash: ${JSON.stringify(c.err ?? c).slice(0, 300)}`);
  for (const e of internalErrors(agent).slice(0, 5)) summary.finding(`handler bug (${String(e.command)}): ${JSON.stringify((e.err as { message?: string })?.message ?? e.err).slice(0, 200)}`);
  summary.data.crashes = crashes;
  t.equal(crashes, 0, 'zero crashes (no exit, nothing caught by the last-resort handler)');
  return crashes;
}

/** What a Liveness probe saw while an attack ran. */
export interface LivenessFigures { pings: number; pingsMissed: number; maxPingMs: number; healths: number; healthsMissed: number; maxHealthMs: number }

/**
 * The agent answering while an attack runs: a local API `ping` and a `GET /health` every `everyMs`, each with its own
 * deadline (a missed one is counted, never waited for). stop() ends the probe and returns what it saw.
 */
export class Liveness {
  private readonly f: LivenessFigures = { pings: 0, pingsMissed: 0, maxPingMs: 0, healths: 0, healthsMissed: 0, maxHealthMs: 0 };
  private running = true;
  private readonly loop: Promise<void>;

  constructor(private readonly agent: AgentHandle, private readonly client: ApiClient, everyMs = 200, private readonly deadlineMs = LIVENESS_MS) {
    this.loop = (async () => {
      while (this.running) {
        await Promise.all([this.ping(), this.health()]);
        await sleep(everyMs);
      }
    })();
  }

  private async ping(): Promise<void> {
    const t0 = performance.now();
    const id = `live-${process.pid}-${++reqSeq}`;
    this.client.send({ type: 'ping', id });
    const r = await this.client.waitWithin((f) => f.id === id, this.deadlineMs).catch(() => null);
    this.f.pings++;
    if (r?.type === 'pong') this.f.maxPingMs = Math.max(this.f.maxPingMs, performance.now() - t0);
    else this.f.pingsMissed++;
  }

  /**
   * GET /health on a kept-alive connection (so it is served even while the agent has no descriptor left for a new one),
   * and once more within the same deadline when that connection was dropped before an answer: a flood of idle sockets
   * makes the server drop its oldest idle ones (http-limits.ts), the checker's kept-alive socket among them, and a
   * health checker that reconnects is served.
   */
  private async health(): Promise<void> {
    const t0 = performance.now();
    const deadline = t0 + this.deadlineMs;
    let ok = false;
    for (let attempt = 0; attempt < 2 && !ok && performance.now() < deadline; attempt++) {
      ok = await fetch(this.agent.healthUrl, { signal: AbortSignal.timeout(Math.max(1, Math.round(deadline - performance.now()))) }).then((r) => r.json()).then(() => true, () => false);
    }
    this.f.healths++;
    if (ok) this.f.maxHealthMs = Math.max(this.f.maxHealthMs, performance.now() - t0);
    else this.f.healthsMissed++;
  }

  async stop(): Promise<LivenessFigures> {
    this.running = false;
    await this.loop;
    return { ...this.f, maxPingMs: Math.round(this.f.maxPingMs), maxHealthMs: Math.round(this.f.maxHealthMs) };
  }
}

/**
 * One attack of a section, with the figures every attack reports: RSS before and after, and what the liveness probe
 * saw. `run` does the attack and returns whether the agent held (its own checks made with t); the attack counts as
 * survived when it held, no ping or /health was missed and the agent did not exit.
 */
export async function attack(t: Test, summary: Summary, name: string, agent: AgentHandle, run: () => Promise<boolean>, opts: { probe?: ApiClient; everyMs?: number } = {}): Promise<boolean> {
  summary.data.faultsInjected++;
  const probe = opts.probe ?? await ApiClient.connect(agent.apiUrl);
  const rss0 = rssOf(agent.proc.pid) ?? 0;
  const live = new Liveness(agent, probe, opts.everyMs ?? 200);
  let held = false;
  try { held = await run(); } catch (e) { t.fail(`${name}: ${(e as Error).message}`); }
  const seen = await live.stop();
  const rss1 = rssOf(agent.proc.pid) ?? 0;
  if (!opts.probe) probe.close();
  summary.data.figures[`${name}: RSS MB before → after`] = `${(rss0 / MB).toFixed(1)} → ${(rss1 / MB).toFixed(1)}`;
  summary.data.figures[`${name}: ping, /health answered (slowest ms)`] = `${seen.pings - seen.pingsMissed}/${seen.pings} (${seen.maxPingMs}), ${seen.healths - seen.healthsMissed}/${seen.healths} (${seen.maxHealthMs})`;
  t.equal(seen.pingsMissed, 0, `${name}: every ping answered throughout (${seen.pings}, slowest ${seen.maxPingMs} ms)`);
  t.equal(seen.healthsMissed, 0, `${name}: every /health answered throughout (${seen.healths}, slowest ${seen.maxHealthMs} ms)`);
  t.notOk(exited(agent), `${name}: the agent is still running`);
  const ok = held && seen.pingsMissed === 0 && seen.healthsMissed === 0 && !exited(agent);
  if (ok) summary.data.faultsSurvived++;
  else summary.finding(`${name}: did not hold (held ${held}, pings missed ${seen.pingsMissed}, /health missed ${seen.healthsMissed})`);
  return ok;
}

