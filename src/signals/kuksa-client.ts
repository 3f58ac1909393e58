// What the v1 and v2 clients share: one gRPC channel with the token and TLS from config, the connected flag, the
// metadata cache that routes writes, reconnect with capped jittered backoff, and re-opening every subscription and
// provider claim after a reconnect. The subclasses only speak their API generation.
import fs = require('node:fs');
import * as grpc from '@grpc/grpc-js';
import type { Config } from '../config';
import type { Logger } from '../log';
import type { Broker, ProvideOptions, ServerInfo, SignalPublisher, SignalUpdate, WriteOutcome } from './broker';
import { unknownPath } from './broker';
import { coerce, ValueError, type SignalValue } from './values';
import type { SignalMeta } from './vss';
import { kuksaServices } from './protos';
import { Backoff } from '../core/backoff';
import { isNotFound } from './failure';

export type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Reconnect delays (core/backoff.ts): the first retry after 125–250 ms, then windows doubling up to 10 s. */
const RECONNECT = { minMs: 125, maxMs: 10_000 } as const;
/** Metadata cache bound: well above the 910 leaves of VSS 4.0; past it the cache is cleared and refilled on demand. */
export const META_CACHE_MAX = 50_000;
const CALL_TIMEOUT_MS = 10_000;

export interface ClientOptions { address: string; token: string; tls: Config['kuksa']['tls']; log: Logger }

/** A long-lived stream the client re-opens after every reconnect. */
interface Durable { open(): () => void; cancel: (() => void) | null; closed: boolean }

export function credentials(opts: ClientOptions): grpc.ChannelCredentials {
  if (!opts.tls.enabled) return grpc.credentials.createInsecure();
  const read = (f: string) => (f ? fs.readFileSync(f) : null);
  return grpc.credentials.createSsl(read(opts.tls.caFile), read(opts.tls.keyFile), read(opts.tls.certFile));
}

export function channelOptions(opts: ClientOptions): grpc.ChannelOptions {
  return opts.tls.enabled && opts.tls.serverName ? { 'grpc.ssl_target_name_override': opts.tls.serverName, 'grpc.default_authority': opts.tls.serverName } : {};
}

export abstract class KuksaClient implements Broker {
  abstract readonly kind: string;
  protected readonly meta = new Map<string, SignalMeta>();
  private durables = new Set<Durable>();
  private listeners = new Set<(c: boolean) => void>();
  private _connected = false;
  private readonly backoff = new Backoff(RECONNECT.minMs, RECONNECT.maxMs);
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  /** The channel of this API generation; GetServerInfo is the same call in both. */
  protected readonly client: grpc.Client;

  constructor(protected readonly opts: ClientOptions, private readonly api: 'v1' | 'v2') {
    this.client = new (kuksaServices()[api])(opts.address, credentials(opts), channelOptions(opts));
  }

  get connected(): boolean { return this._connected; }

  onConnection(fn: (c: boolean) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  protected callMeta(): grpc.Metadata {
    const md = new grpc.Metadata();
    if (this.opts.token) md.set('authorization', `Bearer ${this.opts.token}`);
    return md;
  }
  protected deadline(): grpc.CallOptions { return { deadline: Date.now() + CALL_TIMEOUT_MS }; }

  /**
   * Promise form of a unary call of a grpc-js client. UNAVAILABLE means the connection is gone, except from Actuate,
   * where it is the server's answer "no provider for this actuator".
   */
  protected unary<T>(client: grpc.Client, method: string, req: Obj): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      (client as unknown as Record<string, (...a: unknown[]) => void>)[method]!(req, this.callMeta(), this.deadline(), (err: grpc.ServiceError | null, res: T) => {
        if (err) { if (err.code === grpc.status.UNAVAILABLE && method !== 'Actuate') this.lost(err); reject(err); } else resolve(res);
      });
    });
  }

  protected abstract rawList(pattern: string): Promise<SignalMeta[]>;
  protected abstract rawGet(paths: string[]): Promise<Record<string, SignalValue | null>>;
  /** Writes a batch of typed values; returns errors per path (paths not in the map succeeded). */
  protected abstract rawWrite(items: Array<{ meta: SignalMeta; value: SignalValue; target: boolean }>): Promise<Record<string, WriteOutcome>>;
  protected abstract openSubscribe(paths: string[], onUpdate: (u: SignalUpdate) => void, onEnd: (e: Error) => void): () => void;
  protected abstract openProvider(paths: string[], onTarget: (p: string, v: SignalValue) => void, onEnd: (e: Error) => void): () => void;

  async start(): Promise<void> {
    this.stopped = false;
    await this.connect();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    for (const d of this.durables) { d.closed = true; d.cancel?.(); }
    this.durables.clear();
    this.client.close();
    this.setConnected(false);
  }

  async serverInfo(): Promise<ServerInfo> {
    const r = await this.unary<Obj>(this.client, 'GetServerInfo', {});
    return { name: r.name ?? '', version: r.version ?? '', api: this.api };
  }

  private setConnected(c: boolean): void {
    if (c === this._connected) return;
    this._connected = c;
    for (const fn of this.listeners) fn(c);
  }

  /** Probes the server; on success re-opens every durable stream, else retries later. Never throws. */
  private async connect(): Promise<void> {
    if (this.stopped) return;
    try {
      await this.serverInfo();
      this.backoff.reset();
      // A databroker that came back may have been restarted with another model (--vss): forget the old metadata.
      this.meta.clear();
      this.setConnected(true);
      for (const d of this.durables) { d.cancel?.(); d.cancel = d.open(); }
      this.opts.log.info({ address: this.opts.address, api: this.kind }, 'kuksa databroker connected');
    } catch (e) {
      this.setConnected(false);
      this.opts.log.warn({ address: this.opts.address, err: (e as Error).message }, 'kuksa databroker not reachable');
      this.schedule();
    }
  }

  private schedule(): void {
    if (this.stopped || this.timer) return;
    this.timer = setTimeout(() => { this.timer = null; void this.connect(); }, this.backoff.next());
  }

  /** A call or stream saw the server go away. */
  protected lost(e: Error): void {
    if (this.stopped) return;
    if (this._connected) this.opts.log.warn({ err: e.message }, 'kuksa databroker connection lost');
    this.setConnected(false);
    for (const d of this.durables) { d.cancel?.(); d.cancel = null; }
    this.schedule();
  }

  protected durable(open: (onEnd: (e: Error) => void) => () => void): () => void {
    const d: Durable = { closed: false, cancel: null, open: () => open((e) => { if (!d.closed) this.lost(e); }) };
    this.durables.add(d);
    if (this._connected) d.cancel = d.open();
    return () => { d.closed = true; d.cancel?.(); this.durables.delete(d); };
  }

  async listMetadata(pattern: string): Promise<SignalMeta[]> {
    const cached = this.meta.get(pattern);
    if (cached) return [cached]; // an exact leaf already known: no round trip
    const list = await this.rawList(pattern);
    if (this.meta.size + list.length > META_CACHE_MAX) this.meta.clear();
    for (const m of list) this.meta.set(m.path, m);
    return list;
  }

  protected async metaOf(paths: string[]): Promise<Map<string, SignalMeta | null>> {
    const out = new Map<string, SignalMeta | null>();
    for (const p of paths) {
      if (!this.meta.has(p)) {
        try { await this.listMetadata(p); } catch (e) { if (!isNotFound(e)) throw e; }
      }
      out.set(p, this.meta.get(p) ?? null);
    }
    return out;
  }

  async getValues(paths: string[]): Promise<Record<string, SignalValue | null>> { return this.rawGet(paths); }

  protected async writeAll(values: Record<string, unknown>, asProvider: boolean): Promise<Record<string, WriteOutcome>> {
    const out: Record<string, WriteOutcome> = {};
    const metas = await this.metaOf(Object.keys(values));
    const items: Array<{ meta: SignalMeta; value: SignalValue; target: boolean }> = [];
    for (const [p, raw] of Object.entries(values)) {
      const meta = metas.get(p);
      if (!meta) { out[p] = { ok: false, code: 'NOT_FOUND', error: unknownPath(p) }; continue; }
      try { items.push({ meta, value: coerce(meta, raw), target: !asProvider && meta.entryType === 'actuator' }); } catch (e) {
        out[p] = { ok: false, code: 'BAD_VALUE', error: `${p}: ${(e as ValueError).message}` };
      }
    }
    const errs = items.length ? await this.rawWrite(items) : {};
    for (const it of items) out[it.meta.path] = errs[it.meta.path] ?? { ok: true };
    return out;
  }

  write(values: Record<string, unknown>): Promise<Record<string, WriteOutcome>> { return this.writeAll(values, false); }
  publish(values: Record<string, unknown>): Promise<Record<string, WriteOutcome>> { return this.writeAll(values, true); }

  async subscribe(paths: string[], onUpdate: (u: SignalUpdate) => void): Promise<() => void> {
    const metas = await this.metaOf(paths);
    const missing = paths.find((p) => !metas.get(p));
    if (missing) throw new ValueError(unknownPath(missing));
    return this.durable((onEnd) => this.openSubscribe(paths, onUpdate, onEnd));
  }

  async provideActuation(paths: string[], onTarget: (p: string, v: SignalValue) => void): Promise<() => void> {
    await this.metaOf(paths);
    return this.durable((onEnd) => this.openProvider(paths, onTarget, onEnd));
  }

  /** v1 has no provider protocol: values are written as they come (Set FIELD_VALUE). The v2 client announces them. */
  async provideSignals(_paths: string[], _opts: ProvideOptions = {}): Promise<SignalPublisher> {
    return { publish: (values) => this.writeAll(values, true), dispose: () => {} };
  }
}
