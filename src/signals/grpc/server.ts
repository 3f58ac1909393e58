// The embedded store served over gRPC on kuksa.address as a KUKSA databroker would serve it: kuksa.val v2 and v1
// (kuksa-client apps, a second agent in external mode) and sdv.databroker.v1 (Velocitas apps). One store behind
// all three, so a value written through any API is read and streamed through every other. The APIs live in
// val-v1.ts, val-v2.ts and sdv-v1.ts; what they share in base.ts; their bounds in limits.ts.
import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../../log';
import type { SignalStore } from '../embedded';
import { GrpcContext } from './base';
import { SERVER_OPTIONS } from './limits';
import { sdvBroker, sdvCollector } from './sdv-v1';
import { valV1 } from './val-v1';
import { valV2 } from './val-v2';
import { kuksaServices } from '../protos';

export const SERVED_APIS = ['kuksa.val.v2', 'kuksa.val.v1', 'sdv.databroker.v1'] as const;
export type ServedApi = (typeof SERVED_APIS)[number];

export class KuksaGrpcServer {
  private server: grpc.Server | null = null;
  private readonly ctx: GrpcContext;
  port = 0;

  constructor(store: SignalStore, private readonly opts: { address: string; token: string; stallMs: number; log: Logger; apis?: readonly string[] }) {
    this.ctx = new GrpcContext(store, opts.token, opts.stallMs);
  }

  async start(): Promise<number> {
    const s = kuksaServices();
    const server = new grpc.Server(SERVER_OPTIONS);
    // kuksa.serveApis: an API left out answers UNIMPLEMENTED (grpc-js does that for a service not added).
    const apis = SERVED_APIS.filter((a) => (this.opts.apis ?? SERVED_APIS).includes(a));
    if (apis.includes('kuksa.val.v2')) server.addService(s.v2.service, valV2(this.ctx));
    if (apis.includes('kuksa.val.v1')) server.addService(s.v1.service, valV1(this.ctx));
    if (apis.includes('sdv.databroker.v1')) {
      server.addService(s.sdvBroker.service, sdvBroker(this.ctx));
      server.addService(s.sdvCollector.service, sdvCollector(this.ctx));
    }
    this.port = await new Promise<number>((resolve, reject) => {
      server.bindAsync(this.opts.address, grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port)));
    });
    this.server = server;
    this.opts.log.info({ address: this.opts.address, port: this.port, apis }, 'databroker gRPC server listening');
    return this.port;
  }

  async stop(): Promise<void> {
    this.ctx.endAll();
    const server = this.server;
    this.server = null;
    if (!server) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => { server.forceShutdown(); resolve(); }, 2000);
      server.tryShutdown(() => { clearTimeout(t); resolve(); });
    });
  }
}
