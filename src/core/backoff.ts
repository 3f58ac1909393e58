// The one backoff of the agent: every retry (the Kit-Manager links, the databroker clients, the API detection, an
// app's restart policy) waits a random delay (full jitter) in [minMs, window], the window doubling per failed attempt
// from 2·minMs up to maxMs, so nothing that failed together retries in step. No imports.

/** The delay before retry number `attempt` (0 for the first): uniform in [minMs, min(maxMs, minMs·2^(attempt+1))]. */
export function backoffDelay(attempt: number, minMs: number, maxMs: number, random: () => number = Math.random): number {
  // 2^31 already exceeds any maxMs the config allows; stop doubling so the number stays finite.
  const window = Math.max(minMs, Math.min(maxMs, minMs * 2 ** Math.min(attempt + 1, 31)));
  return Math.round(minMs + random() * (window - minMs));
}

export class Backoff {
  private attempt = 0;

  constructor(private readonly minMs: number, private readonly maxMs: number, private readonly random: () => number = Math.random) {}

  /** The next delay: uniform in [minMs, min(maxMs, minMs·2^(attempt+1))]. */
  next(): number { return backoffDelay(this.attempt++, this.minMs, this.maxMs, this.random); }

  reset(): void { this.attempt = 0; }

  get attempts(): number { return this.attempt; }
}
