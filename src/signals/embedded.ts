// The embedded signal store (kuksa.mode: embedded, the default): values and actuator targets of every leaf of the
// vehicle model, with change subscriptions and actuator providers. The agent's hub and the kuksa.val gRPC server
// both sit on it, so an app speaking kuksa.val and the playground see the same values.
import type { Broker, ServerInfo, SignalPublisher, SignalUpdate, WriteOutcome } from './broker';
import { unknownPath } from './broker';
import { coerce, ValueError, type SignalValue } from './values';
import type { SignalMeta, VssModel } from './vss';
import { VERSION } from '../version';

interface Entry { meta: SignalMeta; value: SignalValue | null; target: SignalValue | null; ts: number }

export type Field = 'value' | 'target';

/** One change listener. Changes made in one tick reach it as one update (flushed in a microtask). */
class StoreSubscription {
  pending: SignalUpdate = new Map();
  scheduled = false;
  closed = false;
  constructor(readonly paths: Set<string>, readonly field: Field, readonly onUpdate: (u: SignalUpdate) => void) {}
  push(path: string, v: SignalValue | null): void {
    if (this.closed) return;
    this.pending.set(path, v);
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      if (this.closed || this.pending.size === 0) return;
      const u = this.pending;
      this.pending = new Map();
      this.onUpdate(u);
    });
  }
}

export interface ModelSwapReport { kept: number; removedPaths: string[] }

export interface StoreOptions {
  /**
   * kuksa.echoActuators: an actuator no provider has claimed takes its target as its current value too, as the
   * sdv-runtime's boot-time mock provider makes it, so an app's `.set(True)` then `.get()` reads True.
   */
  echoActuators?: boolean;
}

export class SignalStore {
  /**
   * The model and an entry per leaf, made at the first call that needs them: a box no client asks for signals never
   * parses its built-in model (910 leaves: ~30 ms of a restart; bench/README.md, "A restart reads no model").
   */
  private loaded: { model: VssModel; entries: Map<string, Entry> } | null = null;
  private modelOf: (() => VssModel) | null;
  private subs = new Map<string, Set<StoreSubscription>>();
  /** Actuators claimed by a gRPC provider (one each; a second claim is refused, as databroker 0.7 refuses it). */
  private providers = new Map<string, (path: string, v: SignalValue) => void>();
  /** The agent's own mock provider's claims: in force where no gRPC provider has claimed the actuator. */
  private fallback = new Map<string, (path: string, v: SignalValue) => void>();
  private swapListeners = new Set<(r: ModelSwapReport) => void>();

  private readonly echo: boolean;
  private registered = 0;
  /** Who registered how many of them (addLeaves' owner: a gRPC connection). */
  private registeredBy = new Map<string, number>();

  /** `model`, or what makes it on first use (a throw there reaches that caller). */
  constructor(model: VssModel | (() => VssModel), opts: StoreOptions = {}) {
    this.echo = opts.echoActuators ?? false;
    this.modelOf = typeof model === 'function' ? model : () => model;
  }

  get vss(): VssModel { return this.model; }

  private get model(): VssModel { return (this.loaded ?? this.load()).model; }

  private get entries(): Map<string, Entry> { return (this.loaded ?? this.load()).entries; }

  private load(): { model: VssModel; entries: Map<string, Entry> } {
    const model = this.modelOf!();
    this.modelOf = null;
    return (this.loaded = { model, entries: entriesOf(model, new Map()) });
  }

  meta(path: string): SignalMeta | undefined { return this.entries.get(path)?.meta; }

  expand(pattern: string): string[] | null { return this.model.expand(pattern); }

  get(path: string): Entry | undefined { return this.entries.get(path); }

  /** Sets a current value (any entry type). Throws ValueError / returns an outcome. */
  setValue(path: string, raw: unknown): WriteOutcome {
    const e = this.entries.get(path);
    if (!e) return { ok: false, code: 'NOT_FOUND', error: unknownPath(path) };
    let v: SignalValue;
    try { v = coerce(e.meta, raw); } catch (err) { return { ok: false, code: 'BAD_VALUE', error: `${path}: ${(err as Error).message}` }; }
    this.commit(e, 'value', v);
    return { ok: true };
  }

  /**
   * Sets an actuator target. A claimed actuator's target goes to its provider. An unclaimed one echoes (the target
   * becomes the current value too) when echoActuators is on; with it off, requireProvider (kuksa.val v2 `Actuate`
   * semantics) refuses the write, otherwise only the target is kept (v1 `Set`, sdv `SetDatapoints`).
   */
  setTarget(path: string, raw: unknown, requireProvider: boolean): WriteOutcome {
    const e = this.entries.get(path);
    if (!e) return { ok: false, code: 'NOT_FOUND', error: unknownPath(path) };
    if (e.meta.entryType !== 'actuator') return { ok: false, code: 'BAD_VALUE', error: `${path}: is a ${e.meta.entryType}, only actuators take a target` };
    let v: SignalValue;
    try { v = coerce(e.meta, raw); } catch (err) { return { ok: false, code: 'BAD_VALUE', error: `${path}: ${(err as Error).message}` }; }
    const provider = this.providers.get(path) ?? this.fallback.get(path);
    if (!provider && !this.echo && requireProvider) {
      return { ok: false, code: 'UNAVAILABLE', error: `${path}: no provider serves this actuator (kuksa.echoActuators is off: start the mock service in an echo mode, or a provider app)` };
    }
    this.commit(e, 'target', v);
    if (provider) provider(path, v);
    else if (this.echo) this.commit(e, 'value', v);
    return { ok: true };
  }

  hasProvider(path: string): boolean { return this.providers.has(path) || this.fallback.has(path); }

  /** True when a target set now takes effect: a provider claimed the actuator, or the store echoes it. */
  canActuate(path: string): boolean { return this.echo || this.hasProvider(path); }

  /** Signals whose current value is cleared (a provider reported an error): they read as having no value. */
  clearValues(paths: Iterable<string>): void {
    for (const p of paths) { const e = this.entries.get(p); if (e && e.value !== null) this.commit(e, 'value', null); }
  }

  private commit(e: Entry, field: Field, v: SignalValue | null): void {
    if (field === 'value') e.value = v; else e.target = v;
    e.ts = Date.now();
    const subs = this.subs.get(e.meta.path);
    if (subs) for (const s of subs) if (s.field === field) s.push(e.meta.path, v);
  }

  /** Listens to changes of exact paths (already checked to exist). No initial snapshot: callers read it. */
  listen(paths: string[], field: Field, onUpdate: (u: SignalUpdate) => void): () => void {
    const sub = new StoreSubscription(new Set(paths), field, onUpdate);
    for (const p of sub.paths) {
      let set = this.subs.get(p);
      if (!set) this.subs.set(p, (set = new Set()));
      set.add(sub);
    }
    return () => {
      sub.closed = true;
      for (const p of sub.paths) {
        const set = this.subs.get(p);
        if (set) { set.delete(sub); if (set.size === 0) this.subs.delete(p); }
      }
    };
  }

  /**
   * Claims actuators. `exclusive` (a gRPC provider): refused when another exclusive claim holds one of them — the
   * paths already taken are returned and nothing is claimed. Otherwise (the agent's mock provider) the claim is a
   * fallback, in force where no exclusive claim is, and a newer fallback replaces an older one.
   */
  provide(paths: string[], onTarget: (path: string, v: SignalValue) => void, exclusive = false): { taken: string[]; dispose: () => void } {
    const map = exclusive ? this.providers : this.fallback;
    const taken = exclusive ? paths.filter((p) => map.has(p) && map.get(p) !== onTarget) : [];
    if (taken.length) return { taken, dispose: () => {} };
    for (const p of paths) map.set(p, onTarget);
    return { taken, dispose: () => { for (const p of paths) if (map.get(p) === onTarget) map.delete(p); } };
  }

  /**
   * Replaces the model atomically: values of paths that survive with the same type are kept; listeners of paths
   * that no longer exist stop hearing about them, and swap listeners are told which.
   */
  swapModel(model: VssModel): ModelSwapReport {
    const old = this.entries;
    this.loaded = { model, entries: entriesOf(model, old) };
    this.registered = 0;
    this.registeredBy = new Map();
    const removedPaths = [...old.keys()].filter((p) => !this.entries.has(p));
    for (const p of removedPaths) { this.subs.delete(p); this.providers.delete(p); this.fallback.delete(p); }
    const report = { kept: this.entries.size, removedPaths };
    for (const fn of this.swapListeners) fn(report);
    return report;
  }

  /**
   * Adds signals a feeder registers (sdv.databroker.v1 RegisterDatapoints) to the running model, all or none; they
   * last until the next model swap. `owner` is who asked (counted for registeredCount). Throws VssError naming the
   * offending path.
   */
  addLeaves(extra: ReadonlyArray<Omit<SignalMeta, 'id'>>, owner = ''): SignalMeta[] {
    const model = this.model.withLeaves(extra);
    this.loaded!.model = model;
    const added = extra.map((m) => model.get(m.path)!);
    for (const meta of added) this.entries.set(meta.path, { meta, value: null, target: null, ts: Date.now() });
    this.registered += added.length;
    this.registeredBy.set(owner, (this.registeredBy.get(owner) ?? 0) + added.length);
    return added;
  }

  /** How many signals addLeaves added since the last model swap: in all, or for one owner. */
  registeredCount(owner?: string): number { return owner === undefined ? this.registered : this.registeredBy.get(owner) ?? 0; }

  onSwap(fn: (r: ModelSwapReport) => void): () => void {
    this.swapListeners.add(fn);
    return () => this.swapListeners.delete(fn);
  }
}

/** An entry per leaf of `model`; a value of `old` is kept where its path survives with the same data type. */
function entriesOf(model: VssModel, old: Map<string, Entry>): Map<string, Entry> {
  const entries = new Map<string, Entry>();
  for (const meta of model.all()) {
    const prev = old.get(meta.path);
    const same = prev && prev.meta.dataType === meta.dataType;
    entries.set(meta.path, { meta, value: same ? prev.value : null, target: same ? prev.target : null, ts: Date.now() });
  }
  return entries;
}

/** The Broker view of the store, used by the hub in embedded mode. */
export class EmbeddedBroker implements Broker {
  readonly kind = 'embedded';
  readonly connected = true;
  constructor(readonly store: SignalStore) {}
  async start(): Promise<void> {}
  async stop(): Promise<void> {}
  onConnection(): () => void { return () => {}; }

  async listMetadata(pattern: string): Promise<SignalMeta[]> {
    return (this.store.expand(pattern) ?? []).map((p) => this.store.meta(p)!);
  }

  async getValues(paths: string[]): Promise<Record<string, SignalValue | null>> {
    const out: Record<string, SignalValue | null> = {};
    for (const p of paths) {
      const e = this.store.get(p);
      if (!e) throw new ValueError(unknownPath(p));
      out[p] = e.value;
    }
    return out;
  }

  async write(values: Record<string, unknown>): Promise<Record<string, WriteOutcome>> {
    const out: Record<string, WriteOutcome> = {};
    for (const [p, v] of Object.entries(values)) {
      const meta = this.store.meta(p);
      out[p] = meta?.entryType === 'actuator' ? this.store.setTarget(p, v, true) : this.store.setValue(p, v);
    }
    return out;
  }

  async publish(values: Record<string, unknown>): Promise<Record<string, WriteOutcome>> {
    const out: Record<string, WriteOutcome> = {};
    for (const [p, v] of Object.entries(values)) out[p] = this.store.setValue(p, v);
    return out;
  }

  async subscribe(paths: string[], onUpdate: (u: SignalUpdate) => void): Promise<() => void> {
    const missing = paths.find((p) => !this.store.get(p));
    if (missing) throw new ValueError(unknownPath(missing));
    const dispose = this.store.listen(paths, 'value', onUpdate);
    const snapshot: SignalUpdate = new Map(paths.map((p) => [p, this.store.get(p)!.value]));
    queueMicrotask(() => onUpdate(snapshot));
    return dispose;
  }

  async provideActuation(paths: string[], onTarget: (path: string, v: SignalValue) => void): Promise<() => void> {
    return this.store.provide(paths, onTarget).dispose;
  }

  /** The agent's own mock on its own store: no claim to make, values are set. */
  async provideSignals(): Promise<SignalPublisher> {
    return { publish: (values) => this.publish(values), dispose: () => {} };
  }

  async serverInfo(): Promise<ServerInfo> { return { name: 'sdv-agent embedded databroker', version: VERSION, api: 'embedded' }; }
}
