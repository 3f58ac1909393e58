// Fan-out of signal changes to subscribers, one frame per subscriber per batch window. Upstream updates are coalesced
// per signal (the latest value wins); each subscriber remembers only WHICH of its signals changed, so its memory is
// bounded by its own signal list however slow it is: a congested client skips windows and later gets newer values,
// never a queue. Knows nothing about brokers or doors: the hub feeds it and gives it Clients.
import { systemClock, type Clock } from '../core/clock';
import type { Client } from '../core/frame';
import { SignalError } from '../core/errors';
import type { SignalUpdate } from './broker';
import type { SignalValue } from './values';

/**
 * maxSubscribers for the whole agent; one client (a local connection, one Kit-Manager frontend) may hold at most
 * maxPerClient of them with at most maxPathsPerClient signals in all, so one client cannot take every subscription.
 */
export const BATCH_LIMITS = { maxSubscribers: 1024, maxPathsPerSubscriber: 20_000, maxPerClient: 64, maxPathsPerClient: 20_000 } as const;

export interface Subscriber {
  readonly id: string;
  readonly client: Client;
  readonly paths: ReadonlySet<string>;
  /** Every frame carries all of the subscriber's signals (what the Kit-Manager frontend expects). */
  readonly fullSet: boolean;
  /** Epoch ms after which the subscription lapses unless renewed; null = until unsubscribed or the client goes. */
  expiresAt: number | null;
  readonly ttlMs: number | null;
  /** Epoch ms of the subscribe. */
  readonly since: number;
  /** Signals changed since the last frame this subscriber got. */
  readonly dirty: Set<string>;
  readonly disposeClose: () => void;
}

export class Batcher {
  private subs = new Map<string, Subscriber>();
  /** Per client: its subscriptions and their signals in all. */
  private perClient = new Map<Client, { subs: number; paths: number }>();
  private byPath = new Map<string, Set<Subscriber>>();
  /** The latest value of every signal someone subscribes to (undefined = not heard yet). */
  private latest = new Map<string, SignalValue | null>();
  private timer: unknown = null;
  private unionDirty = false;

  /** The clock decides the window and the leases: a test moves it by hand (test/unit/signals-units.ts). */
  constructor(private windowMs: number, private readonly onUnionChange: () => void, private readonly clock: Clock = systemClock) {}

  get size(): number { return this.subs.size; }
  get(id: string): Subscriber | undefined { return this.subs.get(id); }
  list(): Subscriber[] { return [...this.subs.values()]; }
  union(): string[] { return [...this.byPath.keys()]; }
  value(path: string): SignalValue | null | undefined { return this.latest.get(path); }

  add(sub: Omit<Subscriber, 'dirty' | 'disposeClose' | 'since'>): Subscriber {
    if (this.subs.size >= BATCH_LIMITS.maxSubscribers) throw new SignalError('limit', `more than ${BATCH_LIMITS.maxSubscribers} subscriptions`);
    if (sub.paths.size > BATCH_LIMITS.maxPathsPerSubscriber) throw new SignalError('limit', `more than ${BATCH_LIMITS.maxPathsPerSubscriber} signals in one subscription`);
    const mine = this.perClient.get(sub.client) ?? { subs: 0, paths: 0 };
    if (mine.subs >= BATCH_LIMITS.maxPerClient) throw new SignalError('limit', `more than ${BATCH_LIMITS.maxPerClient} subscriptions on one connection: unsubscribe one first`);
    if (mine.paths + sub.paths.size > BATCH_LIMITS.maxPathsPerClient) throw new SignalError('limit', `more than ${BATCH_LIMITS.maxPathsPerClient} signals subscribed on one connection: unsubscribe some first`);
    const full: Subscriber = { ...sub, since: this.clock.now(), dirty: new Set(sub.paths), disposeClose: sub.client.onClose(() => this.remove(sub.id)) };
    this.subs.set(full.id, full);
    this.perClient.set(sub.client, { subs: mine.subs + 1, paths: mine.paths + sub.paths.size });
    let grew = false;
    for (const p of full.paths) {
      let set = this.byPath.get(p);
      if (!set) { this.byPath.set(p, (set = new Set())); grew = true; }
      set.add(full);
    }
    if (grew) this.unionChanged();
    this.arm();
    return full;
  }

  remove(id: string): boolean {
    const sub = this.subs.get(id);
    if (!sub) return false;
    this.subs.delete(id);
    sub.disposeClose();
    const mine = this.perClient.get(sub.client);
    if (mine) {
      mine.subs--;
      mine.paths -= sub.paths.size;
      if (mine.subs <= 0) this.perClient.delete(sub.client);
    }
    let shrank = false;
    for (const p of sub.paths) {
      const set = this.byPath.get(p);
      if (!set) continue;
      set.delete(sub);
      if (set.size === 0) { this.byPath.delete(p); shrank = true; }
    }
    if (shrank) this.unionChanged();
    return true;
  }

  removeClient(client: Client): number {
    let n = 0;
    for (const s of [...this.subs.values()]) if (s.client === client && this.remove(s.id)) n++;
    return n;
  }

  /** Drops signals that no longer exist (a new vehicle model); returns the subscriptions that lost some. */
  dropPaths(gone: Set<string>): Array<{ id: string; paths: string[] }> {
    const hit: Array<{ id: string; paths: string[] }> = [];
    for (const s of this.subs.values()) {
      const lost = [...s.paths].filter((p) => gone.has(p));
      if (!lost.length) continue;
      for (const p of lost) { (s.paths as Set<string>).delete(p); s.dirty.delete(p); }
      const mine = this.perClient.get(s.client);
      if (mine) mine.paths -= lost.length;
      hit.push({ id: s.id, paths: lost });
    }
    for (const p of gone) { if (this.byPath.delete(p)) this.unionDirty = true; this.latest.delete(p); }
    if (hit.length) this.unionChanged();
    return hit;
  }

  private unionChanged(): void {
    this.unionDirty = true;
    queueMicrotask(() => {
      if (!this.unionDirty) return;
      this.unionDirty = false;
      // Forget values nobody wants any more (after the tick, so a replace-in-place subscription keeps them).
      for (const p of this.latest.keys()) if (!this.byPath.has(p)) this.latest.delete(p);
      this.onUnionChange();
    });
  }

  /** An upstream update: remember the latest values and mark changed signals for their subscribers. */
  ingest(update: SignalUpdate): void {
    let any = false;
    for (const [p, v] of update) {
      const subs = this.byPath.get(p);
      if (!subs) continue;
      const prev = this.latest.get(p);
      if (prev !== undefined && sameValue(prev, v)) continue;
      this.latest.set(p, v);
      for (const s of subs) s.dirty.add(p);
      any = true;
    }
    if (any) this.arm();
  }

  private arm(): void {
    if (this.timer) return;
    this.timer = this.clock.setTimeout(() => { this.timer = null; this.flush(); }, this.windowMs);
  }

  /** One window: at most one frame per subscriber, only with signals whose values are known. */
  flush(): void {
    const now = this.clock.now();
    let pending = false;
    for (const s of [...this.subs.values()]) {
      if (s.expiresAt !== null && s.expiresAt <= now) { this.remove(s.id); continue; }
      if (s.dirty.size === 0) continue;
      if (s.client.closed) { this.remove(s.id); continue; }
      if (s.client.congested()) { pending = true; continue; }
      const result: Record<string, SignalValue | null> = {};
      let n = 0;
      for (const p of s.fullSet ? s.paths : s.dirty) {
        const v = this.latest.get(p);
        if (v === undefined) continue;
        result[p] = v;
        n++;
      }
      // Signals not heard yet stay dirty so they go out once their first value arrives; that arrival arms the window
      // (ingest), so they need no window of their own: a subscription to a signal nobody sets costs no timer.
      for (const p of [...s.dirty]) if (this.latest.has(p)) s.dirty.delete(p);
      if (n === 0) continue;
      s.client.send({ type: 'apis-value', id: s.id, result, timestamp: new Date(now).toISOString() });
    }
    if (pending) this.arm();
  }

  /** Time-based upkeep (lease expiry) when no updates arrive. */
  sweep(): void {
    const now = this.clock.now();
    for (const s of [...this.subs.values()]) if (s.expiresAt !== null && s.expiresAt <= now) this.remove(s.id);
  }

  stop(): void {
    if (this.timer) this.clock.clearTimeout(this.timer);
    this.timer = null;
    for (const id of [...this.subs.keys()]) this.remove(id);
  }
}

function sameValue(a: SignalValue | null, b: SignalValue | null): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => x === b[i]);
  return false;
}
