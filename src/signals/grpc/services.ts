// The loaded half of the embedded gRPC server (server.ts is the listening half): grpc-js, the protos and the handlers
// of kuksa.val v2 and v1 and sdv.databroker.v1 on one store. server.ts loads this module when the first client
// connects; grpc-js takes each accepted socket as a connection of its own server (a connection injector), so the
// bounds of SERVER_OPTIONS, the peers and the streams are those of a server that had bound the port itself.
import type * as net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import type { SignalStore } from '../embedded';
import { GrpcContext, shutdownServer } from './base';
import { SERVER_OPTIONS } from './limits';
import { sdvBroker, sdvCollector } from './sdv-v1';
import { valV1 } from './val-v1';
import { valV2 } from './val-v2';
import { kuksaServices } from '../protos';

export interface ServedApis { token: string; stallMs: number; apis: readonly string[] }

export interface LoadedServer {
  /** Hands an accepted socket to grpc-js: its HTTP/2 session, calls and streams are the server's from then on. */
  inject(socket: net.Socket): void;
  /** Ends every stream (the context's) and the sessions; forced after 2 s. */
  stop(): Promise<void>;
}

export function loadServer(store: SignalStore, opts: ServedApis): LoadedServer {
  const s = kuksaServices();
  const ctx = new GrpcContext(store, opts.token, opts.stallMs);
  const server = new grpc.Server(SERVER_OPTIONS);
  // kuksa.serveApis: an API left out answers UNIMPLEMENTED (grpc-js does that for a service not added).
  if (opts.apis.includes('kuksa.val.v2')) server.addService(s.v2.service, valV2(ctx));
  if (opts.apis.includes('kuksa.val.v1')) server.addService(s.v1.service, valV1(ctx));
  if (opts.apis.includes('sdv.databroker.v1')) {
    server.addService(s.sdvBroker.service, sdvBroker(ctx));
    server.addService(s.sdvCollector.service, sdvCollector(ctx));
  }
  const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  return {
    inject: (socket) => injector.injectConnection(socket),
    stop: async () => {
      ctx.endAll();
      await shutdownServer(server);
    },
  };
}
