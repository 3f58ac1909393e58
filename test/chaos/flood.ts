// What the flood sections share (kit-flood, local-flood): raw WebSocket frames built once and written straight to a
// socket, the agent's RSS peak over a flood, and local pings right after it.
import { ApiClient, type AgentHandle } from '../helpers/agent';
import type { Test } from 'tap';
import { MB, rssOf, type Summary } from './lib';

/** What the agent may grow by, whatever a flooding peer sends (issue 30's bound). */
export const FLOOD_RSS_BOUND_MB = 64;

/**
 * WebSocket frames of one opcode, each payload under 126 bytes, in one Buffer. `masked`: as a client sends them
 * (a zero masking key, so the payload stays readable); unmasked as a server sends them.
 */
export function wsFrames(opcode: number, payloads: string[], masked = false): Buffer {
  const parts: Buffer[] = [];
  for (const p of payloads) {
    const body = Buffer.from(p);
    parts.push(masked ? Buffer.from([0x80 | opcode, 0x80 | body.length, 0, 0, 0, 0]) : Buffer.from([0x80 | opcode, body.length]), body);
  }
  return Buffer.concat(parts);
}

/**
 * The agent's RSS every 50 ms from the start of a flood until stop(): the peak, including what the agent does with
 * the backlog after the peer stopped sending.
 */
export class Peak {
  readonly start: number;
  private max: number;
  private readonly timer: NodeJS.Timeout;
  constructor(private readonly agent: AgentHandle) {
    this.start = this.max = rssOf(agent.proc.pid) ?? 0;
    this.timer = setInterval(() => this.sample(), 50).unref();
  }
  private sample(): void { this.max = Math.max(this.max, rssOf(this.agent.proc.pid) ?? 0); }
  /** Stops sampling; the growth at the peak in MB. */
  stop(): number {
    clearInterval(this.timer);
    this.sample();
    return +((this.max - this.start) / MB).toFixed(1);
  }
}

/** Local pings right after a flood: every round trip in ms (a missed one, none within the suite's ceiling, is Infinity). */
export async function pingsAfter(agent: AgentHandle, n: number): Promise<number[]> {
  const c = await ApiClient.connect(agent.apiUrl);
  const ms: number[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      const r = await c.request({ type: 'ping' }).catch(() => null);
      ms.push(r?.type === 'pong' ? +(performance.now() - t0).toFixed(1) : Infinity);
    }
  } finally { c.close(); }
  return ms;
}

export const median = (a: number[]): number => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)] ?? NaN;

/**
 * What pingsAfter measured: recorded as `<label>: local ping right after, median / max ms` and asserted answered.
 * True when every ping was.
 */
export function reportPingsAfter(t: Test, summary: Summary, label: string, ms: number[]): boolean {
  summary.data.figures[`${label}: local ping right after, median / max ms`] = `${median(ms)} / ${Math.max(...ms)}`;
  const all = ms.every(Number.isFinite);
  t.ok(all, `${ms.length} local pings right after the flood answered (median ${median(ms)} ms, max ${Math.max(...ms)} ms)`);
  return all;
}
