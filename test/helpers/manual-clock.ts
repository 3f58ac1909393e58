// A Clock whose time moves only when the test says: timers run in due order as the test advances it, so properties
// that hang on a timer (a batch window, a sampling interval, a health probe's period, a send bound's grace) are
// checked in microseconds and never decided by how busy the machine is.
import type { Clock } from '../../src/core/clock';

interface Timer { at: number; seq: number; fn: () => void }

export class ManualClock implements Clock {
  t = 0;
  private timers = new Set<Timer>();
  private seq = 0;

  constructor(private readonly rand: () => number = () => 0.5) {}

  now(): number { return this.t; }
  random(): number { return this.rand(); }
  setTimeout(fn: () => void, ms: number): unknown {
    const x: Timer = { at: this.t + Math.max(0, ms), seq: this.seq++, fn };
    this.timers.add(x);
    return x;
  }
  clearTimeout(h: unknown): void { this.timers.delete(h as Timer); }

  /** Timers set and not yet run or cleared. */
  get pending(): number { return this.timers.size; }

  /** Moves the time by `ms`, running every timer due by then (also those the running ones set) in due order. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      let next: Timer | null = null;
      for (const x of this.timers) if (x.at <= end && (!next || x.at < next.at || (x.at === next.at && x.seq < next.seq))) next = x;
      if (!next) break;
      this.timers.delete(next);
      this.t = next.at;
      next.fn();
    }
    this.t = end;
  }

  /** advance(), then a few turns of the event loop, for timers whose work is asynchronous (a probe, a write). */
  async step(ms: number): Promise<void> {
    this.advance(ms);
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  }
}
