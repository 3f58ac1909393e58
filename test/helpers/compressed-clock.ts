// A Clock whose time can run faster than the wall clock, for outages of minutes in seconds: while the speed is
// 100, a 10-minute outage takes 6 s, and every timer the link set fires at its (virtual) due time. Changing the speed
// reschedules the pending timers for what is left of them, so a reconnect delay that spans the return of the
// Kit-Manager is neither cut short nor stretched. Sockets stay real: only the link's own timers are compressed.
import type { Clock } from '../../src/core/clock';

interface Timer { due: number; ms: number; fn: () => void; real: NodeJS.Timeout | null }

export class CompressedClock implements Clock {
  private speed = 1;
  private baseVirtual = Date.now();
  private baseReal = Date.now();
  private readonly timers = new Set<Timer>();
  /** Every setTimeout: its virtual time and delay (the reconnect delays are among them). */
  readonly scheduled: Array<{ at: number; ms: number }> = [];

  constructor(private readonly rand: () => number = Math.random) {}

  now(): number { return this.baseVirtual + (Date.now() - this.baseReal) * this.speed; }

  random(): number { return this.rand(); }

  setSpeed(speed: number): void {
    const n = this.now();
    this.baseVirtual = n;
    this.baseReal = Date.now();
    this.speed = speed;
    for (const t of this.timers) this.arm(t);
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const t: Timer = { due: this.now() + ms, ms, fn, real: null };
    this.scheduled.push({ at: this.now(), ms });
    this.timers.add(t);
    this.arm(t);
    return t;
  }

  clearTimeout(handle: unknown): void {
    const t = handle as Timer;
    if (t?.real) clearTimeout(t.real);
    this.timers.delete(t);
  }

  /** Real milliseconds that `virtualMs` take at the current speed. */
  real(virtualMs: number): number { return virtualMs / this.speed; }

  private arm(t: Timer): void {
    if (t.real) clearTimeout(t.real);
    t.real = setTimeout(() => { this.timers.delete(t); t.fn(); }, Math.max(0, (t.due - this.now()) / this.speed));
    t.real.unref();
  }
}
