// Reconnect delays for the outbound links: exponential with full jitter, capped, reset after a stable connection.
// The random source and clock are injectable so tests can pin them.

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
