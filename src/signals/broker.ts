// The one interface every signal backend implements: the embedded store, the kuksa.val v2 client and the v1 client.
// The hub, the mock provider and the commands only ever see this.
import type { SignalValue } from './values';
import type { SignalMeta } from './vss';

/** The outcome of writing one path: ok, or a person-readable error for that path only. */
export type WriteOutcome = { ok: true } | { ok: false; code: 'NOT_FOUND' | 'BAD_VALUE' | 'REFUSED' | 'UNAVAILABLE'; error: string };

/** One batch of changes: path → value (null = the signal has no value yet). */
export type SignalUpdate = Map<string, SignalValue | null>;

export interface ServerInfo { name: string; version: string; api: string }

/** What provideSignals hands back: publish current values of the announced signals; dispose ends the claim. */
export interface SignalPublisher {
  /** Outcomes per path for what is known here (unknown path, a value the type cannot hold); refusals by a databroker come later, through onRefused. */
  publish(values: Record<string, unknown>): Promise<Record<string, WriteOutcome>>;
  dispose(): void;
}

export interface ProvideOptions {
  /** The interval the provider publishes at (0: on change), announced to a v2 databroker. */
  intervalMs?: number;
  /** A value the databroker refused after publish() returned. */
  onRefused?: (path: string, text: string) => void;
}

export interface Broker {
  /** embedded, kuksa-v1 or kuksa-v2 */
  readonly kind: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** True while the backend answers. */
  readonly connected: boolean;
  /** Called with the new state on every change. Returns a disposer. */
  onConnection(fn: (connected: boolean) => void): () => void;

  /** Every leaf a pattern names (exact path, `A.B.*`, `A.**`); an empty list when it names nothing. */
  listMetadata(pattern: string): Promise<SignalMeta[]>;
  /** Current values of exact leaf paths; an unknown path rejects with a message naming it. */
  getValues(paths: string[]): Promise<Record<string, SignalValue | null>>;
  /**
   * Writes as an app would: sensors and attributes get a current value, actuators a target. JSON values are converted
   * to each signal's type. Every path gets its own outcome; one bad path never stops the others.
   */
  write(values: Record<string, unknown>): Promise<Record<string, WriteOutcome>>;
  /** Writes current values whatever the entry type (what a provider does: mock echo, static, random). */
  publish(values: Record<string, unknown>): Promise<Record<string, WriteOutcome>>;
  /**
   * Subscribes exact leaf paths. onUpdate first gets the current value of every path, then changes. The subscription
   * survives reconnects (the client re-subscribes). Returns a disposer; rejects when a path is unknown.
   */
  subscribe(paths: string[], onUpdate: (update: SignalUpdate) => void): Promise<() => void>;
  /**
   * Claims actuators as their provider: onTarget is called for every target set on them. Returns a disposer.
   * Used by the mock provider.
   */
  provideActuation(paths: string[], onTarget: (path: string, value: SignalValue) => void): Promise<() => void>;
  /**
   * Announces signals whose current values the caller provides, then publishes them (a v2 databroker 0.6+ refuses a
   * provider's publish before its provide_signal_request). Used by the mock provider; one-shot writes use publish().
   */
  provideSignals(paths: string[], opts?: ProvideOptions): Promise<SignalPublisher>;
  serverInfo(): Promise<ServerInfo>;
}

/** The error text for a path the model does not have. */
export const unknownPath = (p: string): string => `${p}: no such signal in the vehicle model`;
