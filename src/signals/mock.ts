// The mock provider: makes the vehicle answer when no real provider runs. Modes (seed 000):
//   echo-all       every actuator target becomes its current value
//   echo-specific  the same for the listed actuators only
//   random         listed sensors (or the mock list's signals) move within their min/max every rateMs
//   static         the mock list's values are held as current values
//   off            nothing
// Works through the Broker interface, so the same code drives the embedded store (a provider claim), a v2 databroker
// (OpenProviderStream: actuators claimed, the signals it publishes announced with provide_signal_request before any
// publish_values_request, as 0.6+ requires) and a v1 databroker (Subscribe to targets + Set values). The mock list
// ([{signal, value}], values as strings like the Python runtime keeps them) is persisted in dataDir.

import { writeFileAtomic, readJsonOrQuarantine } from '../fsutil';
import type { Logger } from '../log';
import type { Broker } from './broker';
import { isNotFound } from './failure';
import type { SignalMeta } from './vss';

export const MOCK_MODES = ['echo-all', 'echo-specific', 'random', 'static', 'off'] as const;
export type MockMode = (typeof MOCK_MODES)[number];
export const MOCK_LIMITS = { maxListEntries: 5000, maxSignals: 5000, minRateMs: 10, maxRateMs: 3_600_000, defaultRateMs: 1000 } as const;

export interface MockEntry { signal: string; value: string }

interface Persisted { mode: MockMode; signals: string[]; rateMs: number; list: MockEntry[] }

export class MockProvider {
  private state: Persisted = { mode: 'off', signals: [], rateMs: MOCK_LIMITS.defaultRateMs, list: [] };
  private disposers: Array<() => void> = [];
  private lastError: string | null = null;
  private claimed: string[] = [];
  private generation = 0;

  constructor(private readonly backend: () => Broker, private readonly file: string, private readonly log: Logger) {}

  async restore(): Promise<void> {
    const { value, quarantined } = readJsonOrQuarantine(this.file);
    if (quarantined) this.log.warn({ file: quarantined }, 'mock state did not parse, moved aside');
    const v = value as Partial<Persisted> | undefined;
    if (v && typeof v === 'object') {
      if (MOCK_MODES.includes(v.mode as MockMode)) this.state.mode = v.mode as MockMode;
      if (Array.isArray(v.signals)) this.state.signals = v.signals.filter((s) => typeof s === 'string').slice(0, MOCK_LIMITS.maxSignals);
      if (typeof v.rateMs === 'number') this.state.rateMs = v.rateMs;
      if (Array.isArray(v.list)) this.state.list = v.list.filter((e) => e && typeof e.signal === 'string').map((e) => ({ signal: e.signal, value: String(e.value) })).slice(0, MOCK_LIMITS.maxListEntries);
    }
  }

  private persist(): void {
    try { writeFileAtomic(this.file, JSON.stringify(this.state)); } catch (e) { this.log.error({ err: e }, 'mock state not saved'); }
  }

  /** The backend became available (start, or an external databroker reached): apply the persisted mode. */
  brokerReady(): void { if (this.state.mode !== 'off') void this.apply(); }

  status(): { mode: MockMode; running: boolean; signals: string[]; rateMs: number; claimed: number; error: string | null; list: MockEntry[] } {
    return { mode: this.state.mode, running: this.state.mode !== 'off', signals: this.state.signals, rateMs: this.state.rateMs, claimed: this.claimed.length, error: this.lastError, list: this.state.list };
  }

  async start(mode: MockMode): Promise<void> { this.state.mode = mode; this.persist(); await this.apply(); }

  async configure(opts: { mode?: MockMode; signals?: string[]; rateMs?: number }): Promise<void> {
    if (opts.mode) this.state.mode = opts.mode;
    if (opts.signals) this.state.signals = opts.signals;
    if (opts.rateMs !== undefined) this.state.rateMs = opts.rateMs;
    this.persist();
    await this.apply();
  }

  async stop(): Promise<void> { this.halt(); }

  /** Stops the provider and remembers `off`. */
  async off(): Promise<void> { this.state.mode = 'off'; this.persist(); this.halt(); }

  list(): MockEntry[] { return this.state.list; }

  /**
   * Replaces the mock list with the entries whose signal is a leaf of the model (the others are refused and named)
   * and makes their values the live ones (published as current values, as the Python runtime's mock provider set its
   * initial values). Serialised with join(). Rejects (unavailable) when the backend cannot be asked.
   */
  setList(list: MockEntry[]): Promise<{ list: MockEntry[]; unknown: string[]; errors: Record<string, string> }> {
    return this.serial(async () => {
      const known: MockEntry[] = [];
      const unknown: string[] = [];
      for (const e of list) { if (await this.isLeaf(e.signal)) known.push(e); else unknown.push(e.signal); }
      this.state.list = known;
      this.persist();
      const errors = await this.publishEntries(known);
      if (this.state.mode === 'static') await this.apply();
      return { list: this.state.list, unknown, errors };
    });
  }

  /**
   * A run's usedAPIs join the mock list (as with the Python runtime): each leaf not listed yet is added with its
   * current value, or "0" made live when it has none. Unknown paths and entries beyond the list's bound are skipped.
   */
  join(paths: string[]): Promise<string[]> {
    return this.serial(async () => {
      const listed = new Set(this.state.list.map((e) => e.signal));
      const added: MockEntry[] = [];
      const fresh: MockEntry[] = [];
      for (const p of new Set(paths)) {
        if (listed.has(p) || !(await this.isLeaf(p))) continue;
        if (this.state.list.length + added.length >= MOCK_LIMITS.maxListEntries) {
          this.log.warn({ limit: MOCK_LIMITS.maxListEntries }, 'mock list full; usedAPIs not added');
          break;
        }
        const current = (await this.backend().getValues([p]))[p];
        const entry = { signal: p, value: current === null || current === undefined ? '0' : typeof current === 'string' ? current : JSON.stringify(current) };
        added.push(entry);
        if (current === null || current === undefined) fresh.push(entry);
      }
      if (added.length === 0) return [];
      this.state.list = [...this.state.list, ...added];
      this.persist();
      await this.publishEntries(fresh);
      return added.map((e) => e.signal);
    });
  }

  private queue: Promise<unknown> = Promise.resolve();
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => {});
    return next;
  }

  /** True when `path` is one leaf of the model; false when the model has no such signal; rejects when unreachable. */
  private async isLeaf(path: string): Promise<boolean> {
    try { return (await this.backend().listMetadata(path)).some((m) => m.path === path); } catch (e) {
      if (isNotFound(e)) return false;
      throw e;
    }
  }

  /** Publishes list values as current values; the per-signal errors (a value the type cannot hold…). */
  private async publishEntries(entries: MockEntry[]): Promise<Record<string, string>> {
    if (entries.length === 0) return {};
    const r = await this.backend().publish(Object.fromEntries(entries.map((e) => [e.signal, e.value])));
    const errors: Record<string, string> = {};
    for (const [p, o] of Object.entries(r)) if (!o.ok) errors[p] = o.error;
    return errors;
  }

  /** A value the databroker refused after it was published (a v2 provider stream's publish_values_response). */
  private readonly refused = (_path: string, text: string): void => { this.lastError = text; };

  private halt(): void {
    this.generation++;
    for (const d of this.disposers.splice(0)) { try { d(); } catch { /* already gone */ } }
    this.claimed = [];
  }

  private async metas(patterns: string[]): Promise<SignalMeta[]> {
    const b = this.backend();
    const out = new Map<string, SignalMeta>();
    for (const p of patterns) { try { for (const m of await b.listMetadata(p)) out.set(m.path, m); } catch { /* unknown: skipped */ } }
    return [...out.values()];
  }

  /** (Re)applies the current mode. Errors become status.error, never throws at the caller's transport. */
  private async apply(): Promise<void> {
    this.halt();
    const gen = this.generation;
    this.lastError = null;
    const mode = this.state.mode;
    if (mode === 'off') return;
    let b;
    try { b = this.backend(); } catch (e) { this.lastError = (e as Error).message; return; }
    try {
      if (mode === 'echo-all' || mode === 'echo-specific') {
        const metas = await this.metas(mode === 'echo-all' ? ['Vehicle.**'] : this.state.signals);
        const actuators = metas.filter((m) => m.entryType === 'actuator').map((m) => m.path);
        if (gen !== this.generation) return;
        if (!actuators.length) { this.lastError = 'no actuators to echo'; return; }
        // The values it echoes are announced first (provide_signal before publish), then the actuators claimed.
        const pub = await b.provideSignals(actuators, { onRefused: this.refused });
        if (gen !== this.generation) { pub.dispose(); return; }
        this.disposers.push(() => pub.dispose());
        const dispose = await b.provideActuation(actuators, (path, value) => {
          void pub.publish({ [path]: value }).then((r) => {
            const o = r[path];
            if (o && !o.ok) this.lastError = o.error;
          });
        });
        if (gen !== this.generation) { dispose(); return; }
        this.disposers.push(dispose);
        this.claimed = actuators;
      } else if (mode === 'static') {
        const values = Object.fromEntries(this.state.list.map((e) => [e.signal, e.value]));
        const pub = await b.provideSignals(Object.keys(values), { onRefused: this.refused });
        if (gen !== this.generation) { pub.dispose(); return; }
        this.disposers.push(() => pub.dispose());
        const r = await pub.publish(values);
        const errs = Object.values(r).filter((o) => !o.ok).map((o) => (o as { error: string }).error);
        if (errs.length) this.lastError = errs.join('; ');
        this.claimed = Object.keys(values);
      } else if (mode === 'random') {
        const patterns = this.state.signals.length ? this.state.signals : this.state.list.map((e) => e.signal);
        const metas = (await this.metas(patterns)).filter((m) => m.entryType !== 'attribute');
        if (gen !== this.generation) return;
        if (!metas.length) { this.lastError = 'random mode needs signals (mock_service_configure {signals}) or a mock list'; return; }
        const rateMs = Math.max(MOCK_LIMITS.minRateMs, this.state.rateMs);
        const pub = await b.provideSignals(metas.map((m) => m.path), { intervalMs: rateMs, onRefused: this.refused });
        if (gen !== this.generation) { pub.dispose(); return; }
        this.disposers.push(() => pub.dispose());
        const tick = () => {
          const values: Record<string, unknown> = {};
          for (const m of metas) values[m.path] = randomValue(m);
          void pub.publish(values).catch((e) => { this.lastError = (e as Error).message; });
        };
        tick();
        const t = setInterval(tick, rateMs);
        this.disposers.push(() => clearInterval(t));
        this.claimed = metas.map((m) => m.path);
      }
    } catch (e) {
      this.lastError = (e as Error).message;
      this.log.warn({ err: this.lastError, mode }, 'mock provider could not start');
    }
  }
}

function randomValue(m: SignalMeta): unknown {
  const base = m.dataType.replace('[]', '');
  if (m.allowed?.length) return m.allowed[Math.floor(Math.random() * m.allowed.length)];
  if (base === 'boolean') return Math.random() < 0.5;
  if (base === 'string') return Math.random().toString(36).slice(2, 8);
  const lo = m.min ?? (base.startsWith('uint') ? 0 : 0);
  const hi = m.max ?? (base.includes('8') ? 100 : 200);
  const x = lo + Math.random() * (hi - lo);
  const v = base === 'float' || base === 'double' ? Math.round(x * 100) / 100 : Math.round(x);
  return m.dataType.endsWith('[]') ? [v] : v;
}

