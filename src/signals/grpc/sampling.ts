// A subscription's min_sample_interval (kuksa.val.v2 `Filter`): at most one message per interval. The first change
// after a quiet interval goes out at once; changes within the interval are merged (the newest value per signal wins)
// and go out as one message when the interval ends, so a subscriber never misses a signal's last value (databroker
// 0.7 drops changes that come within the interval instead, and a signal that then stops changing keeps its stale
// value at the subscriber). At most ceil(elapsed / interval) + 1 messages in any span of time.
import { systemClock, type Clock } from '../../core/clock';

export class Sampler<V> {
  private last = -Infinity;
  private pending: Map<string, V> | null = null;
  private timer: unknown = null;
  private closed = false;

  constructor(private readonly intervalMs: number, private readonly emit: (batch: ReadonlyMap<string, V>) => void, private readonly clock: Clock = systemClock) {}

  /** A message went out by another way (a stream's first message): the interval starts now. */
  mark(): void { this.last = this.clock.now(); }

  offer(batch: ReadonlyMap<string, V>): void {
    if (this.closed || batch.size === 0) return;
    if (this.pending) { for (const [k, v] of batch) this.pending.set(k, v); return; }
    const now = this.clock.now();
    const due = this.last + this.intervalMs;
    if (now >= due) { this.last = now; this.emit(batch); return; }
    this.pending = new Map(batch);
    this.timer = this.clock.setTimeout(() => this.flush(), due - now);
  }

  private flush(): void {
    this.timer = null;
    const p = this.pending;
    this.pending = null;
    if (this.closed || !p) return;
    this.last = this.clock.now();
    this.emit(p);
  }

  close(): void {
    this.closed = true;
    this.pending = null;
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
  }
}
