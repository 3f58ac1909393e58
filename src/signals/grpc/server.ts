// The embedded store served over gRPC on kuksa.address as a KUKSA databroker would serve it: kuksa.val v2 and v1
// (kuksa-client apps, a second agent in external mode) and sdv.databroker.v1 (Velocitas apps). One store behind
// all three, so a value written through any API is read and streamed through every other. The APIs live in
// val-v1.ts, val-v2.ts and sdv-v1.ts; what they share in base.ts; their bounds in limits.ts.
//
// This half only listens. grpc-js, the protos and the handlers (services.ts) are loaded when the first client
// connects: a box where no gRPC client runs never pays for them (issue 30; bench/README.md, "Loaded on first use"), and
// the first client waits once for the load (`npm run bench -- first-use`). The port is bound at start either way, so a
// taken port is still said at start.
import net = require('node:net');
import type { Logger } from '../../log';
import type { SignalStore } from '../embedded';
import { splitHostPort } from '../../config';
import type { LoadedServer } from './services';

export const SERVED_APIS = ['kuksa.val.v2', 'kuksa.val.v1', 'sdv.databroker.v1'] as const;
export type ServedApi = (typeof SERVED_APIS)[number];

export class KuksaGrpcServer {
  private listener: net.Server | null = null;
  private loading: Promise<LoadedServer> | null = null;
  private loaded: LoadedServer | null = null;
  private readonly apis: ServedApi[];
  port = 0;

  constructor(private readonly store: SignalStore, private readonly opts: { address: string; token: string; stallMs: number; log: Logger; apis?: readonly string[] }) {
    this.apis = SERVED_APIS.filter((a) => (opts.apis ?? SERVED_APIS).includes(a));
  }

  async start(): Promise<number> {
    const [host, port] = splitHostPort(this.opts.address);
    const listener = net.createServer({ noDelay: true }, (socket) => this.accept(socket));
    await new Promise<void>((resolve, reject) => {
      listener.once('error', reject);
      listener.listen(port, host, () => { listener.off('error', reject); resolve(); });
    });
    listener.on('error', (e) => this.opts.log.error({ err: e.message }, 'databroker gRPC listener error'));
    this.listener = listener;
    this.port = (listener.address() as net.AddressInfo).port;
    this.opts.log.info({ address: this.opts.address, port: this.port, apis: this.apis }, 'databroker gRPC server listening');
    return this.port;
  }

  private accept(socket: net.Socket): void {
    if (this.loaded) return this.loaded.inject(socket);
    // Until grpc-js has the socket, a reset or a close must not throw; what the client sends meanwhile waits in the
    // socket (read up to its high-water mark, then not read: the kernel holds the rest).
    const dropped = (): void => { socket.destroy(); };
    socket.on('error', dropped);
    this.load().then((server) => {
      socket.off('error', dropped);
      if (socket.destroyed || !this.listener) socket.destroy();
      else server.inject(socket);
    }, () => socket.destroy());
  }

  private load(): Promise<LoadedServer> {
    if (this.loading) return this.loading;
    const t0 = performance.now();
    this.loading = import('./services').then(({ loadServer }) => {
      this.loaded = loadServer(this.store, { token: this.opts.token, stallMs: this.opts.stallMs, apis: this.apis });
      this.opts.log.info({ ms: Math.round(performance.now() - t0) }, 'databroker gRPC services loaded (first connection)');
      return this.loaded;
    });
    // A build without its protos: said once; every client is refused (its socket closed) instead of hanging.
    this.loading.catch((e) => this.opts.log.error({ err: (e as Error).message }, 'databroker gRPC services failed to load'));
    return this.loading;
  }

  async stop(): Promise<void> {
    const listener = this.listener;
    this.listener = null;
    listener?.close();
    const loaded = this.loaded ?? (this.loading ? await this.loading.catch(() => null) : null);
    this.loaded = null;
    await loaded?.stop();
  }
}
