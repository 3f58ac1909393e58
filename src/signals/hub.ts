// The signals part (Parts.signals): owns the vehicle model, the backend (embedded store + kuksa.val gRPC server, or a
// v1/v2 client of an external databroker), the batcher and the mock provider.
//
// PART API (for commands; all transport-free):
//   hub.subscribe(client, apis, {fullSet?, ttlS?}) → {id, paths, unknown}   one upstream subscription for all subscribers;
//                                 frames {type:"apis-value", id, result:{path: value}, timestamp} go to client.send,
//                                 at most one per signals.batchWindowMs; fullSet: every frame carries all its signals;
//                                 ttlS: the subscription lapses ttlS seconds after the last subscribe/renew.
//   hub.unsubscribe(id) / hub.unsubscribeClient(client)
//   hub.subscribers()             → [{id, clientId, door, apis}]  (Kit-Manager lsOfApiSubscriber)
//   hub.getValues(apis)           → {result: {path: value|null}, errors: {pattern: text}}
//   hub.write(data)               → {path: WriteOutcome}  (per path; sensors current value, actuators target)
//   hub.mock                      → MockProvider (start/stop/configure/status, the mock list)
//   hub.setModel(source, text) / hub.revertModel(base)  (embedded: atomic swap; see src/commands/model.ts)
//   hub.servedSource()            → the model apps should see, with its text's hash (for the Python vehicle package)
import fs = require('node:fs');
import path = require('node:path');
import { cryptoModule } from '../core/crypto-module';
import type { Config } from '../config';
import type { Client } from '../core/frame';
import { readJsonOrQuarantine, writeFileAtomic } from '../fsutil';
import type { Logger } from '../log';
import type { StatusBoard } from '../core/status';
import { SignalError } from '../core/errors';
import { backoffDelay } from '../core/backoff';
import { grpcText, isNotFound } from './failure';
import { Batcher } from './batcher';
import type { Broker, WriteOutcome } from './broker';
import { EmbeddedBroker, SignalStore } from './embedded';
import { KuksaGrpcServer } from './grpc/server';
import type { ClientOptions } from './kuksa-client';
import type { KuksaV1Client } from './kuksa-v1';
import type { KuksaV2Client } from './kuksa-v2';
import { MockProvider } from './mock';
import type { BridgeRunner } from './grpc/sdv-bridge';
import type { SignalValue } from './values';
import { DEFAULT_MODEL, VssModel } from './vss';
import { loadModelSource, textHash, type ModelSource } from './model-source';
import { resourceDigest, resourcePath } from '../resources';
import { GrpcCode } from './grpc-codes';

/** Upstream re-subscription waits this long after the union of wanted signals last changed. */
export const RESUBSCRIBE_DEBOUNCE_MS = 30;
export const MAX_APIS_PER_REQUEST = 20_000;
/**
 * One request's patterns (after de-duplication) may name at most this many signals in all, counted per pattern; and,
 * on the embedded store, make the model look at most MAX_SCANNED_PER_REQUEST leaves. Past either bound the request is
 * refused (LIMIT) before the work; below them the work yields to the event loop every EXPAND_SLICE_MS.
 */
export const MAX_EXPANDED_PER_REQUEST = 200_000;
export const MAX_SCANNED_PER_REQUEST = 5_000_000;
const EXPAND_SLICE_MS = 10;

export interface SignalsDeps { config: Config; log: Logger; status: StatusBoard; notices?: string[] }

export class SignalHub {
  readonly batcher: Batcher;
  readonly mock: MockProvider;
  store: SignalStore | null = null;
  private broker: Broker | null = null;
  private server: KuksaGrpcServer | null = null;
  private upstream: (() => void) | null = null;
  private upstreamKey = '';
  private resubTimer: NodeJS.Timeout | null = null;
  private sweepTimer: NodeJS.Timeout | null = null;
  private stopped = false;
  private seq = 0;
  /** The model the embedded store serves, as it was loaded or set (without signals registered at run time). */
  private served: ModelSource | null = null;
  private readonly log: Logger;
  grpcPort = 0;
  /** External mode: the sdv.databroker.v1 bridge for the agent's Velocitas apps (sdv-bridge.ts). */
  private bridge: BridgeRunner | null = null;
  /** The bridge's port while apps are to use it, else 0. */
  get bridgePort(): number { return this.bridge?.port ?? 0; }

  constructor(private readonly deps: SignalsDeps) {
    this.log = deps.log.child({ part: 'signals' });
    this.batcher = new Batcher(deps.config.signals.batchWindowMs, () => this.scheduleResubscribe());
    this.mock = new MockProvider(() => this.backend(), path.join(deps.config.runtime.dataDir, 'mock-signals.json'), this.log);
  }

  get modelFile(): string { return path.join(this.deps.config.runtime.dataDir, 'vehicle-model.json'); }
  get embedded(): boolean { return this.deps.config.kuksa.mode === 'embedded'; }

  /** The configured model: kuksa.vss when set, else the built-in VSS 4.0. Throws VssError. */
  baseSource(): ModelSource {
    const vss = this.deps.config.kuksa.vss;
    return vss ? loadModelSource(vss, 'kuksa.vss') : loadModelSource(resourcePath(DEFAULT_MODEL), 'built-in', resourceDigest(DEFAULT_MODEL));
  }

  baseModel(): VssModel { return this.baseSource().model; }

  /**
   * The model whose Python package apps should see: the embedded store's; in external mode the last
   * generate_vehicle_model or kuksa.vss. null when the agent does not know the databroker's tree (or cannot read it).
   */
  servedSource(): ModelSource | null {
    if (this.store) return this.served;
    try {
      if (fs.existsSync(this.modelFile)) return loadModelSource(this.modelFile, 'generate_vehicle_model');
      if (this.deps.config.kuksa.vss) return loadModelSource(this.deps.config.kuksa.vss, 'kuksa.vss');
    } catch (e) { this.log.warn({ err: (e as Error).message }, 'the vehicle model file cannot be read'); }
    return null;
  }

  async start(): Promise<void> {
    const k = this.deps.config.kuksa;
    // The persisted mock mode must be known before a backend attaches: attaching applies it.
    await this.mock.restore();
    if (this.embedded) {
      let generated: ModelSource | null = null;
      const saved = readJsonOrQuarantine(this.modelFile);
      if (saved.value !== undefined) {
        try { generated = { model: VssModel.parse(saved.value), hash: textHash(saved.text!), source: 'generate_vehicle_model' }; } catch (e) { this.log.warn({ err: (e as Error).message }, 'generated vehicle model ignored'); }
      }
      const source = generated ?? this.baseSource();
      this.served = source;
      // The built-in model is parsed by the first call that needs it (model-source.ts); its log line says when.
      this.store = new SignalStore(() => {
        const t0 = performance.now();
        const model = source.model;
        this.log.info({ leaves: model.size, source: source.source, ms: Math.round(performance.now() - t0) }, 'vehicle model ready');
        return model;
      }, { echoActuators: k.echoActuators });
      this.attach(new EmbeddedBroker(this.store));
      this.deps.status.kuksa.connected = true;
      if (k.serve) {
        this.server = new KuksaGrpcServer(this.store, { address: k.address, token: k.token, stallMs: k.streamStallMs, log: this.log, apis: k.serveApis });
        try { this.grpcPort = await this.server.start(); } catch (e) {
          // The box stays useful without the gRPC door: the local API and the Kit-Manager still get signals.
          this.server = null;
          const text = `databroker gRPC server not started on ${k.address}: ${(e as Error).message}`;
          this.deps.status.kuksa.serveError = text;
          this.log.error(text);
          this.deps.notices?.push(text);
        }
      }
      this.log.info({ model: source.source }, 'embedded signal store up');
    } else {
      this.deps.status.kuksa.connected = false;
      // The clients and the bridge bring grpc-js with them: loaded here, so an embedded box never loads them.
      const { bridgeFor } = await import('./grpc/sdv-bridge');
      this.bridge = bridgeFor(k, this.clientOptions(), () => this.backend());
      void this.connectExternal();
    }
    this.sweepTimer = setInterval(() => this.batcher.sweep(), 1000);
    this.sweepTimer.unref();
  }

  private clientOptions(): ClientOptions {
    const k = this.deps.config.kuksa;
    return { address: k.address, token: k.token, tls: k.tls, log: this.log };
  }

  /** kuksa.api v1/v2: that client; auto: v2 GetServerInfo decides, UNIMPLEMENTED means v1. Retries until it knows. */
  private async connectExternal(): Promise<void> {
    const api = this.deps.config.kuksa.api;
    const [{ KuksaV1Client }, { KuksaV2Client }] = await Promise.all([import('./kuksa-v1'), import('./kuksa-v2')]);
    if (api !== 'auto') return this.useClient(api === 'v2' ? new KuksaV2Client(this.clientOptions()) : new KuksaV1Client(this.clientOptions()));
    let attempt = 0;
    while (!this.stopped) {
      const probe = new KuksaV2Client(this.clientOptions());
      try {
        await probe.serverInfo();
        return this.useClient(probe);
      } catch (e) {
        if ((e as { code?: unknown }).code === GrpcCode.UNIMPLEMENTED) {
          probe.stop().catch(() => {});
          return this.useClient(new KuksaV1Client(this.clientOptions()));
        }
        await probe.stop().catch(() => {});
        this.log.warn({ err: grpcText(e) }, 'kuksa databroker API detection failed, retrying');
      }
      await new Promise((r) => setTimeout(r, backoffDelay(attempt++, 125, 10_000)));
    }
  }

  private async useClient(client: KuksaV1Client | KuksaV2Client): Promise<void> {
    if (this.stopped) { await client.stop(); return; }
    this.deps.status.kuksa.api = client.kind === 'kuksa-v2' ? 'v2' : 'v1';
    client.onConnection((c) => { this.deps.status.kuksa.connected = c; if (c) this.bridge?.reconnected(); });
    this.attach(client);
    await client.start();
    this.deps.status.kuksa.connected = client.connected;
  }

  private attach(b: Broker): void {
    this.broker = b;
    this.scheduleResubscribe();
    this.mock.brokerReady();
  }

  /** The backend, or a clear error while an external databroker has not been reached yet. */
  backend(): Broker {
    if (!this.broker) throw new SignalError('unavailable', `kuksa databroker at ${this.deps.config.kuksa.address} not reachable yet`);
    return this.broker;
  }

  private scheduleResubscribe(): void {
    if (this.resubTimer || this.stopped) return;
    this.resubTimer = setTimeout(() => { this.resubTimer = null; void this.resubscribe(); }, RESUBSCRIBE_DEBOUNCE_MS);
  }

  /** One upstream subscription for the union of every subscriber's signals; the old one goes once the new one is up. */
  private async resubscribe(): Promise<void> {
    if (!this.broker || this.stopped) return;
    const union = this.batcher.union().sort();
    const key = union.join('\n');
    if (key === this.upstreamKey) return;
    const old = this.upstream;
    this.upstreamKey = key;
    if (union.length === 0) { this.upstream = null; old?.(); return; }
    try {
      const dispose = await this.broker.subscribe(union, (u) => this.batcher.ingest(u));
      if (this.upstreamKey !== key) { dispose(); return; }
      this.upstream = dispose;
      old?.();
    } catch (e) {
      this.log.warn({ err: grpcText(e) }, 'upstream subscription failed, retrying');
      this.upstreamKey = '';
      setTimeout(() => this.scheduleResubscribe(), 1000).unref();
    }
  }

  /** Expands patterns with the backend's metadata; unknown patterns are reported, not fatal. */
  async expand(apis: string[]): Promise<{ paths: string[]; unknown: string[] }> {
    const b = this.backend();
    const unique = [...new Set(apis)];
    const vss = this.store?.vss;
    if (vss) {
      let scan = 0;
      for (const api of unique) scan += vss.scanSize(api);
      if (scan > MAX_SCANNED_PER_REQUEST) throw new SignalError('limit', `these ${unique.length} patterns would look at ${scan} signals of the model (more than ${MAX_SCANNED_PER_REQUEST}): ask for fewer or narrower patterns`);
    }
    const paths = new Set<string>();
    const unknown: string[] = [];
    let named = 0;
    let slice = performance.now();
    for (const api of unique) {
      if (performance.now() - slice > EXPAND_SLICE_MS) { await new Promise((r) => setImmediate(r)); slice = performance.now(); }
      let found: string[] = [];
      try { found = (await b.listMetadata(api)).map((m) => m.path); } catch (e) {
        if (!isNotFound(e)) throw e;
      }
      if (found.length === 0) unknown.push(api);
      named += found.length;
      if (named > MAX_EXPANDED_PER_REQUEST) throw new SignalError('limit', `these patterns name more than ${MAX_EXPANDED_PER_REQUEST} signals: ask for fewer or narrower patterns`);
      for (const p of found) paths.add(p);
    }
    return { paths: [...paths], unknown };
  }

  async subscribe(client: Client, apis: string[], opts: { fullSet?: boolean; ttlS?: number; id?: string } = {}): Promise<{ id: string; paths: string[]; unknown: string[] }> {
    const { paths, unknown } = await this.expand(apis);
    const id = opts.id ?? `sub-${++this.seq}-${cryptoModule().randomBytes(3).toString('hex')}`;
    if (opts.id) this.batcher.remove(opts.id);
    const ttlMs = opts.ttlS ? opts.ttlS * 1000 : null;
    this.batcher.add({ id, client, paths: new Set(paths), fullSet: !!opts.fullSet, ttlMs, expiresAt: ttlMs ? Date.now() + ttlMs : null });
    // Values already known upstream go out in the next window; the rest follow the upstream snapshot.
    const known = new Map<string, SignalValue | null>();
    if (this.store) for (const p of paths) known.set(p, this.store.get(p)?.value ?? null);
    if (known.size) this.batcher.ingest(known);
    return { id, paths, unknown };
  }

  unsubscribe(id: string): boolean { return this.batcher.remove(id); }
  unsubscribeClient(client: Client): number { return this.batcher.removeClient(client); }

  subscribers(): Array<{ id: string; clientId: string; door: string; apis: string[]; since: number }> {
    return this.batcher.list().map((s) => ({ id: s.id, clientId: s.client.id, door: s.client.door, apis: [...s.paths], since: s.since }));
  }

  async getValues(apis: string[]): Promise<{ result: Record<string, SignalValue | null>; errors: Record<string, string> }> {
    const { paths, unknown } = await this.expand(apis);
    const errors: Record<string, string> = {};
    for (const u of unknown) errors[u] = `${u}: no such signal in the vehicle model`;
    const result = paths.length ? await this.backend().getValues(paths) : {};
    return { result, errors };
  }

  async write(data: Record<string, unknown>): Promise<Record<string, WriteOutcome>> {
    return this.backend().write(data);
  }

  /**
   * Embedded mode: keeps `text` as the generated model (the file the next start loads) and swaps the store to it
   * atomically; subscriptions to vanished signals are reported.
   */
  setModel(source: ModelSource, text: string): { leaves: number; dropped: Array<{ id: string; paths: string[] }> } {
    if (!this.store) throw new Error('the vehicle model can only be swapped in kuksa.mode embedded');
    writeFileAtomic(this.modelFile, text);
    return this.swap(source);
  }

  /** Embedded mode: back to `base` (baseSource()), the generated model's file removed. */
  revertModel(base: ModelSource): { leaves: number; dropped: Array<{ id: string; paths: string[] }> } {
    if (!this.store) throw new Error('the vehicle model can only be swapped in kuksa.mode embedded');
    fs.rmSync(this.modelFile, { force: true });
    return this.swap(base);
  }

  private swap(source: ModelSource): { leaves: number; dropped: Array<{ id: string; paths: string[] }> } {
    const report = this.store!.swapModel(source.model);
    this.served = source;
    const dropped = this.batcher.dropPaths(new Set(report.removedPaths));
    this.upstreamKey = '\u0000'; // the store dropped listeners of removed paths: subscribe the union afresh
    this.scheduleResubscribe();
    return { leaves: source.model.size, dropped };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.resubTimer) clearTimeout(this.resubTimer);
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    await this.mock.stop().catch(() => {});
    this.batcher.stop();
    this.upstream?.();
    this.upstream = null;
    await this.server?.stop();
    await this.bridge?.stop();
    await this.broker?.stop();
  }
}
