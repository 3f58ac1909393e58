// Reconnect delays for the outbound links: exponential with full jitter, capped, reset after a stable connection,
// and the Redialer both links (Socket.IO and ws) use to dial again. The random source and clock are injectable so
// tests can pin them.

export interface LinkClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  /** In [0, 1). */
  random(): number;
}

export const systemClock: LinkClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => { const t = setTimeout(fn, ms); t.unref?.(); return t; },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
  random: () => Math.random(),
};

/** A connection that lasted this long counts as stable: the next loss starts again from minMs. */
export const STABLE_AFTER_MS = 60_000;

export class Backoff {
  private attempt = 0;

  constructor(private readonly minMs: number, private readonly maxMs: number, private readonly random: () => number = Math.random) {}

  /** The next delay: uniform in [minMs, min(maxMs, minMs·2^attempt)]. */
  next(): number {
    // 2^31 already exceeds any maxMs the config allows; stop doubling so the number stays finite.
    const cap = Math.min(this.maxMs, this.minMs * 2 ** Math.min(this.attempt, 31));
    this.attempt++;
    return Math.round(this.minMs + this.random() * (cap - this.minMs));
  }

  reset(): void { this.attempt = 0; }

  get attempts(): number { return this.attempt; }
}

/** Dials, and after every loss dials again after the next backoff delay; never after stop(). */
export class Redialer {
  private readonly backoff: Backoff;
  private timer: unknown = null;
  private upAt = 0;
  private isStopped = true;

  constructor(private readonly clock: LinkClock, reconnect: { minMs: number; maxMs: number }, private readonly dial: () => void) {
    this.backoff = new Backoff(reconnect.minMs, reconnect.maxMs, () => clock.random());
  }

  get stopped(): boolean { return this.isStopped; }
  get attempts(): number { return this.backoff.attempts; }

  start(): void {
    if (!this.isStopped) return;
    this.isStopped = false;
    this.dial();
  }

  stop(): void {
    this.isStopped = true;
    if (this.timer) this.clock.clearTimeout(this.timer);
    this.timer = null;
  }

  /** The link is up (registered, open): from now on it may count as stable. */
  up(): void { this.upAt = this.clock.now(); }

  /** The link or an attempt is gone: the delay of the next dial, or null when none is scheduled (stopped, pending). */
  down(wasUp: boolean): number | null {
    if (wasUp && this.clock.now() - this.upAt >= STABLE_AFTER_MS) this.backoff.reset();
    if (this.isStopped || this.timer) return null;
    const delay = this.backoff.next();
    this.timer = this.clock.setTimeout(() => {
      this.timer = null;
      if (!this.isStopped) this.dial();
    }, delay);
    return delay;
  }
}
