// The sdv.databroker.v1 bridge (external mode): databroker 0.7 no longer serves sdv.databroker.v1, the only API the
// Velocitas SDK speaks, so the agent serves its Broker service locally to the apps it runs and carries each call onto
// the upstream through the agent's own client (kuksa.val.v2, or v1):
//   GetDatapoints  → GetValues (unknown names answer failure_value UNKNOWN_DATAPOINT, as 0.4)
//   SetDatapoints  → a write: an actuator gets a target (Actuate), a sensor or attribute a current value (PublishValue)
//   Subscribe      → a subscription of the signals the query reads; its WHERE and its fields are evaluated here, on
//                    the values the upstream streams (the query language of sdv-query.ts)
//   GetMetadata    → the upstream's metadata (ListMetadata), cached while connected
// The Collector service (feeders) is not bridged: it answers UNIMPLEMENTED. Calls need `kuksa.token` when it is set,
// as the embedded server does; streams are bounded per connection and per server as there (base.ts).
// `kuksa.sdvBridge`: auto = the apps are given the bridge's address once the upstream answers sdv.databroker.v1 with
// UNIMPLEMENTED, on = always, off = never served.
import * as grpc from '@grpc/grpc-js';
import type { Config } from '../../config';
import type { Logger } from '../../log';
import type { Broker } from '../broker';
import type { SignalStore } from '../embedded';
import { fail, GrpcContext, S, shutdownServer, type Obj } from './base';
import { checkEntries, SERVER_OPTIONS } from './limits';
import { channelOptions, credentials, type ClientOptions } from '../kuksa-client';
import { kuksaServices } from '../protos';
import { runQuery } from './sdv-query';
import { subscribedQuery } from './sdv-v1';
import { fromSdvDatapoint, sdvMetadata, toSdvDatapoint, typedSdvDatapoint, type SdvRefusal } from './sdv-values';
import type { SignalValue } from '../values';
import type { SignalMeta } from '../vss';

/** A failure on the way to the databroker (not reached yet, connection lost) as the app sees it: UNAVAILABLE. */
async function upstream<T>(fn: () => Promise<T>): Promise<T> {
  try { return await fn(); } catch (e) {
    const code = (e as grpc.ServiceError)?.code;
    if (typeof code === 'number' && code !== S.UNAVAILABLE) throw e;
    throw fail(S.UNAVAILABLE, `the databroker behind the sdv.databroker.v1 bridge: ${(e as grpc.ServiceError)?.details ?? (e as Error)?.message ?? String(e)}`);
  }
}

export interface BridgeOptions { address: string; token: string; stallMs: number; log: Logger }

export class SdvBridge {
  private server: grpc.Server | null = null;
  private metas: Map<string, SignalMeta> | null = null;
  private loading: Promise<Map<string, SignalMeta>> | null = null;
  private readonly ctx: GrpcContext;
  port = 0;

  constructor(private readonly broker: () => Broker, private readonly opts: BridgeOptions) {
    // The context's token check, unary wrapper and stream bounds; it reads no store here.
    this.ctx = new GrpcContext(null as unknown as SignalStore, opts.token, opts.stallMs);
  }

  /** The upstream's metadata, loaded once per connection. */
  private async meta(): Promise<Map<string, SignalMeta>> {
    if (this.metas) return this.metas;
    this.loading ??= this.broker().listMetadata('**').then((list) => {
      this.metas = new Map(list.map((m) => [m.path, m]));
      return this.metas;
    }).finally(() => { this.loading = null; });
    return this.loading;
  }

  /** The upstream reconnected (its model may have changed): metadata is read again. */
  forget(): void { this.metas = null; }

  async start(): Promise<number> {
    const server = new grpc.Server(SERVER_OPTIONS);
    server.addService(kuksaServices().sdvBroker.service, this.handlers());
    this.port = await new Promise<number>((resolve, reject) => {
      server.bindAsync(this.opts.address, grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port)));
    });
    this.server = server;
    this.opts.log.info({ address: this.opts.address, port: this.port }, 'sdv.databroker.v1 bridge listening');
    return this.port;
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (!s) return;
    this.ctx.endAll();
    await shutdownServer(s);
  }

  private handlers(): grpc.UntypedServiceImplementation {
    const ctx = this.ctx;
    return {
      GetDatapoints: ctx.unary(async (req: Obj) => {
        const names = (req.datapoints ?? []) as string[];
        if (names.length === 0) throw fail(S.INVALID_ARGUMENT, 'datapoints: name at least one signal');
        checkEntries(names.length, 'datapoints');
        const metas = await upstream(() => this.meta());
        const known = [...new Set(names.filter((n) => metas.has(n)))];
        const values = known.length ? await upstream(() => this.broker().getValues(known)) : {};
        const now = Date.now();
        const datapoints: Obj = {};
        for (const n of names) datapoints[n] = metas.has(n) ? toSdvDatapoint(metas.get(n)!, values[n] ?? null, now) : { failure_value: 'UNKNOWN_DATAPOINT' };
        return { datapoints };
      }),
      SetDatapoints: ctx.unary(async (req: Obj) => {
        const given = Object.entries((req.datapoints ?? {}) as Obj);
        checkEntries(given.length, 'datapoints');
        const metas = await upstream(() => this.meta());
        const errors: Record<string, SdvRefusal> = {};
        const values: Record<string, SignalValue> = {};
        for (const [path, dp] of given) {
          const m = metas.get(path);
          if (!m) { errors[path] = 'UNKNOWN_DATAPOINT'; continue; }
          const v = fromSdvDatapoint(m, dp as Obj);
          if (v.ok) values[path] = v.value; else errors[path] = v.error;
        }
        if (Object.keys(values).length) {
          for (const [path, o] of Object.entries(await upstream(() => this.broker().write(values)))) {
            if (!o.ok) errors[path] = o.code === 'NOT_FOUND' ? 'UNKNOWN_DATAPOINT' : o.code === 'BAD_VALUE' ? 'OUT_OF_BOUNDS' : 'INTERNAL_ERROR';
          }
        }
        return { errors };
      }),
      GetMetadata: ctx.unary(async (req: Obj) => {
        const names = (req.names ?? []) as string[];
        checkEntries(names.length, 'names');
        const metas = await upstream(() => this.meta());
        const list = names.length ? names.map((n) => metas.get(n)).filter((m): m is SignalMeta => !!m) : [...metas.values()];
        checkEntries(list.length, 'metadata entries');
        return { list: list.map(sdvMetadata) };
      }),
      // The query runs here on the values the upstream streams: the first reply on the current values, then one per
      // change while WHERE holds. While the app does not read, only the newest result is held.
      Subscribe: ctx.stream(async (call: grpc.ServerWritableStream<Obj, Obj>, scope) => {
        const metas = await upstream(() => this.meta());
        const query = subscribedQuery(call.request.query, (p) => metas.get(p)?.dataType, scope);
        const out = scope.outbox<Obj>(call, { build: (held) => ({ fields: held.get('')! }), sizeOf: (_k, f) => 64 + Object.keys(f).length * 48 });
        const values = new Map<string, SignalValue | null>();
        const dispose = await upstream(() => this.broker().subscribe(query.inputs, (u) => {
          for (const [p, v] of u) values.set(p, v);
          if (query.inputs.some((p) => !values.has(p))) return; // the first reply waits for every current value
          const r = runQuery(query, (p) => values.get(p) ?? null);
          if (!r) return;
          const fields: Obj = {};
          for (const f of r) fields[f.name] = typedSdvDatapoint(f.type, f.value);
          out.offer(new Map([['', fields]]));
        }));
        return dispose;
      }),
    };
  }
}

/**
 * Whether the upstream serves sdv.databroker.v1: false when it answers UNIMPLEMENTED, true when it answers, null
 * when it cannot be told (not reachable).
 */
export function upstreamHasSdv(channel: { address: string; credentials: grpc.ChannelCredentials; options: grpc.ChannelOptions; token: string }): Promise<boolean | null> {
  const client = new (kuksaServices().sdvBroker)(channel.address, channel.credentials, channel.options);
  const md = new grpc.Metadata();
  if (channel.token) md.set('authorization', `Bearer ${channel.token}`);
  return new Promise((resolve) => {
    (client as unknown as { GetMetadata: (r: Obj, m: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null) => void) => void })
      .GetMetadata({ names: ['Vehicle.Speed'] }, md, { deadline: Date.now() + 5000 }, (e) => {
        client.close();
        resolve(!e ? true : e.code === grpc.status.UNIMPLEMENTED ? false : e.code === grpc.status.UNAVAILABLE || e.code === grpc.status.DEADLINE_EXCEEDED ? null : true);
      });
  });
}

/**
 * The bridge as the hub runs it in external mode: listening from the start; its port is what apps are given once it
 * is in force (`on`, or `auto` once the upstream has answered that it has no sdv.databroker.v1).
 */
export class BridgeRunner {
  private readonly bridge: SdvBridge;
  private active = false;
  private stopped = false;
  private timer: NodeJS.Timeout | null = null;

  constructor(broker: () => Broker, opts: BridgeOptions & { mode: 'auto' | 'on'; probe: () => Promise<boolean | null> }) {
    this.bridge = new SdvBridge(broker, opts);
    void this.bridge.start().then(() => {
      if (opts.mode === 'on') this.active = true;
      else void this.decide(opts.probe, opts.log, 0);
    }, (e: Error) => opts.log.error({ err: e.message, address: opts.address }, 'sdv.databroker.v1 bridge not started (kuksa.sdvBridgeAddress)'));
  }

  private async decide(probe: () => Promise<boolean | null>, log: Logger, attempt: number): Promise<void> {
    if (this.stopped) return;
    const has = await probe().catch(() => null);
    if (this.stopped) return;
    if (has === null) {
      this.timer = setTimeout(() => void this.decide(probe, log, attempt + 1), Math.min(10_000, 250 * 2 ** attempt));
      this.timer.unref();
      return;
    }
    this.active = !has;
    log.info({ port: this.bridge.port, upstreamHasSdv: has }, has ? 'the databroker serves sdv.databroker.v1: apps use it directly' : 'the databroker has no sdv.databroker.v1: apps are given the bridge');
  }

  /** The port apps are given, 0 while the bridge is not in force. */
  get port(): number { return this.active ? this.bridge.port : 0; }

  /** The upstream reconnected: metadata is read again. */
  reconnected(): void { this.bridge.forget(); }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.bridge.stop();
  }
}

/** The bridge kuksa.sdvBridge asks for in external mode (null: off). */
export function bridgeFor(k: Config['kuksa'], client: ClientOptions, broker: () => Broker): BridgeRunner | null {
  if (k.sdvBridge === 'off') return null;
  const probe = () => upstreamHasSdv({ address: k.address, credentials: credentials(client), options: channelOptions(client), token: k.token });
  return new BridgeRunner(broker, { mode: k.sdvBridge === 'on' ? 'on' : 'auto', address: k.sdvBridgeAddress, token: k.token, stallMs: k.streamStallMs, log: client.log, probe });
}
