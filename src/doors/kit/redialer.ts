// The Redialer both links (Socket.IO and ws) use to dial again. The
// policy: back within seconds of the Kit-Manager's return, whatever the length of the outage, while a fleet that lost
// the same Kit-Manager spreads its returns.
//   - every delay is random (full jitter) in [minMs, window], the window doubling per failed attempt from 2·minMs up to
//     maxMs (default 500 ms … 4 s): so no two boxes dial in step, not even on the first attempt;
//   - every registration starts the window again, so a Kit-Manager that restarts twice in a row finds the boxes as
//     quick the second time as the first;
//   - the cap stays low while the Kit-Manager is unreachable: after any outage the next dial is at most maxMs away.
// The delays are core/backoff.ts's; the random source and clock (core/clock.ts) are injectable so tests can pin them and
// compress time.
import { Backoff } from '../../core/backoff';
import type { Clock } from '../../core/clock';

/** Dials, and after every loss dials again after the next backoff delay; never after stop(). */
export class Redialer {
  private readonly backoff: Backoff;
  private timer: unknown = null;
  private isStopped = true;

  constructor(private readonly clock: Clock, reconnect: { minMs: number; maxMs: number }, private readonly dial: () => void) {
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

  /** The link is up (registered, open): the next loss starts from the shortest window again. */
  up(): void { this.backoff.reset(); }

  /** The link or an attempt is gone: the delay of the next dial, or null when none is scheduled (stopped, pending). */
  down(): number | null {
    if (this.isStopped || this.timer) return null;
    const delay = this.backoff.next();
    this.timer = this.clock.setTimeout(() => {
      this.timer = null;
      if (!this.isStopped) this.dial();
    }, delay);
    return delay;
  }
}
