// The providers of signal values on the embedded kuksa.val.v2 server (databroker 0.6+'s provide_signal_request):
// which provider stream provides which signal, at which sample interval; the sample intervals its subscribers ask
// for (Subscribe's filter.min_sample_interval), sent to the provider as an UpdateFilterRequest whenever the lowest of
// them changes for one of its signals; and a GetValue of a provided signal, asked of its provider.
//
// The filter of a provided signal is the lowest min_sample_interval of the subscriptions open on it, where one
// without a filter counts as the provider's own sample interval (it wants every sample); with no subscription left
// the filter has no interval (0.7: "None, meaning all subscriptions were removed"). A provider is told a signal's
// filter when it first has one and every time it changes, in one request per provider per tick.
import type { SignalValue } from '../values';

export interface SignalProvider {
  /** Sends the provider new filters: path → lowest sample interval in ms, null = no subscriber wants one. */
  updateFilters(filters: ReadonlyMap<string, number | null>): void;
  /** Asks the provider for current values; resolves null when it does not answer in time (or cannot be asked). */
  askValues(paths: string[]): Promise<ReadonlyMap<string, SignalValue | null> | null>;
}

interface Provided { provider: SignalProvider; intervalMs: number }

export class SignalProviders {
  private readonly owners = new Map<string, Provided>();
  /** path → open subscription → its min_sample_interval (null: none). */
  private readonly subscriptions = new Map<string, Map<number, number | null>>();
  /** What each provider was last told, per signal. */
  private readonly told = new Map<SignalProvider, Map<string, number | null>>();
  private readonly dirty = new Set<string>();
  private scheduled = false;
  private seq = 0;

  /**
   * Claims signals for a provider (path → its sample interval). Returns the paths another provider already
   * provides; then nothing is claimed. A provider may claim more signals later (0.7: extend_signals).
   */
  claim(provider: SignalProvider, intervals: ReadonlyMap<string, number>): string[] {
    const taken = [...intervals.keys()].filter((p) => { const o = this.owners.get(p); return o !== undefined && o.provider !== provider; });
    if (taken.length) return taken;
    if (!this.told.has(provider)) this.told.set(provider, new Map());
    for (const [p, intervalMs] of intervals) { this.owners.set(p, { provider, intervalMs }); this.mark(p); }
    return [];
  }

  /** The provider's stream ended: its signals are free again. */
  release(provider: SignalProvider): void {
    for (const [p, o] of this.owners) if (o.provider === provider) this.owners.delete(p);
    this.told.delete(provider);
  }

  ownerOf(path: string): SignalProvider | undefined { return this.owners.get(path)?.provider; }

  /** Signals this provider provides. */
  providedBy(provider: SignalProvider): string[] {
    const out: string[] = [];
    for (const [p, o] of this.owners) if (o.provider === provider) out.push(p);
    return out;
  }

  /** A subscription opened on these signals with this min_sample_interval (null: none); returns its end. */
  subscribe(paths: readonly string[], intervalMs: number | null): () => void {
    const id = ++this.seq;
    for (const p of paths) {
      let m = this.subscriptions.get(p);
      if (!m) this.subscriptions.set(p, (m = new Map()));
      m.set(id, intervalMs);
      if (this.owners.has(p)) this.mark(p);
    }
    return () => {
      for (const p of paths) {
        const m = this.subscriptions.get(p);
        if (!m) continue;
        m.delete(id);
        if (m.size === 0) this.subscriptions.delete(p);
        if (this.owners.has(p)) this.mark(p);
      }
    };
  }

  /**
   * The values of these paths as their providers answer them (a GetValue of provided signals): only the paths
   * whose provider answered in time are in the map.
   */
  async values(paths: readonly string[]): Promise<Map<string, SignalValue | null>> {
    const byProvider = new Map<SignalProvider, string[]>();
    for (const p of paths) {
      const o = this.owners.get(p);
      if (!o) continue;
      let list = byProvider.get(o.provider);
      if (!list) byProvider.set(o.provider, (list = []));
      list.push(p);
    }
    const out = new Map<string, SignalValue | null>();
    await Promise.all([...byProvider].map(async ([provider, list]) => {
      const got = await provider.askValues(list);
      if (got) for (const p of list) if (got.has(p)) out.set(p, got.get(p)!);
    }));
    return out;
  }

  /** The filter a provided signal gets now. */
  private filterOf(path: string, own: Provided): number | null {
    const subs = this.subscriptions.get(path);
    if (!subs?.size) return null;
    let lowest = Infinity;
    for (const i of subs.values()) lowest = Math.min(lowest, i ?? own.intervalMs);
    return lowest;
  }

  private mark(path: string): void {
    this.dirty.add(path);
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => this.flush());
  }

  private flush(): void {
    this.scheduled = false;
    const changes = new Map<SignalProvider, Map<string, number | null>>();
    for (const p of this.dirty) {
      const own = this.owners.get(p);
      if (!own) continue;
      const told = this.told.get(own.provider)!;
      const now = this.filterOf(p, own);
      const before = told.get(p);
      if (now === before || (now === null && before === undefined)) continue;
      told.set(p, now);
      let m = changes.get(own.provider);
      if (!m) changes.set(own.provider, (m = new Map()));
      m.set(p, now);
    }
    this.dirty.clear();
    for (const [provider, filters] of changes) provider.updateFilters(filters);
  }
}
