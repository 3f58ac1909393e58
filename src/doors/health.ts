// GET /health on health.host:health.port: 200 while the agent runs; status degraded when a configured peer is down,
// a configured server could not bind, the app registry cannot be written, or the Python vehicle package does not
// match the served model. The TCP side is bounded (timeouts,
// idle sockets, connections: http-limits.ts), so a peer holding sockets open cannot take health down with it.
import http = require('node:http');
import { uptimeS, type Parts } from '../parts';
import { ListenError } from '../core/errors';
import { limitConnections, SERVER_TIMEOUTS } from './http-limits';
import { METRICS_CONTENT_TYPE, type Metrics } from './metrics';

/** A health check needs one socket for a moment: a few dozen cover every checker a box has. */
const MAX_IDLE = 32;
const MAX_CONNECTIONS = 64;

export type AppCounts = Record<string, number>;

function healthBody(parts: Parts, appCounts: () => AppCounts): Record<string, unknown> {
  const { status, runtime } = parts;
  const kmDown = status.kitManager.configured && !status.kitManager.connected;
  const kuksaDown = !status.kuksa.connected;
  const storageError = parts.apps.storageError ?? null;
  const mqtt = parts.mqtt.status();
  // An MQTT broker the apps are told about and that is not there (external: once a dial has failed), or the embedded
  // one refusing clients for want of room (within the last minute): an app may be among them.
  const mqttDown = !!mqtt && mqtt.mode !== 'off' && (mqtt.up === false || mqtt.broker?.refusing === true);
  // A server the config asks for that could not bind (kuksa.serve on a port in use) is a box that does not serve.
  const kuksaServeError = status.kuksa.serveError ?? null;
  // The Python vehicle package apps import does not match the model the agent serves (it could not be written).
  const pythonModelError = parts.python.modelError();
  return {
    status: kmDown || kuksaDown || storageError || mqttDown || kuksaServeError || pythonModelError ? 'degraded' : 'healthy',
    runtimeId: runtime.runtimeId,
    kitManagerConnected: status.kitManager.connected,
    timestamp: new Date().toISOString(),
    version: runtime.version,
    uptimeS: uptimeS(parts),
    kitId: runtime.kitId,
    kitManagerConfigured: status.kitManager.configured,
    kitManagerDroppedReplies: status.kitManager.droppedReplies,
    // Why the link last went down (a peer that stopped reading, no ping, a closed socket), and when.
    kitManagerLastLoss: status.kitManager.lastLoss ?? null,
    kuksaConnected: status.kuksa.connected,
    kuksaMode: status.kuksa.mode,
    mqttMode: parts.config.mqtt.mode,
    mqttUp: mqtt?.up ?? false,
    // Clients the embedded broker refused or let go for want of room since the start, and the last one.
    mqttRefused: mqtt?.broker?.refused ?? 0,
    mqttLastRefusal: mqtt?.broker?.lastRefusal ?? null,
    apps: appCounts(),
    storageError,
    kuksaServeError,
    pythonModelError,
  };
}

export class HealthServer {
  private server: http.Server | null = null;

  constructor(private readonly parts: Parts, private readonly appCounts: () => AppCounts, private readonly metrics: Metrics | null = null) {}

  async start(): Promise<number> {
    const { host, port } = this.parts.config.health;
    const server = http.createServer(SERVER_TIMEOUTS, (req, res) => {
      const url = (req.url ?? '/').split('?')[0];
      if (url !== '/health' && !(url === '/metrics' && this.metrics)) { res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not found: try GET /health or GET /metrics"}'); return; }
      if (req.method !== 'GET' && req.method !== 'HEAD') { res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'application/json' }).end('{"error":"method not allowed"}'); return; }
      // Prometheus text, same rules as /health (doors/metrics.ts says what it exposes).
      if (url === '/metrics') { res.writeHead(200, { 'content-type': METRICS_CONTENT_TYPE, 'cache-control': 'no-store' }).end(req.method === 'HEAD' ? undefined : this.metrics!.render()); return; }
      const body = JSON.stringify(healthBody(this.parts, this.appCounts));
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(req.method === 'HEAD' ? undefined : body);
    });
    server.on('clientError', (_e, socket) => socket.destroy());
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      const failed = (e: Error) => reject(ListenError.from('health.port', `${host}:${port}`, e));
      server.once('error', failed);
      server.listen(port, host, () => { server.off('error', failed); resolve(); });
    });
    limitConnections(server, { name: 'health', maxIdle: MAX_IDLE, maxConnections: MAX_CONNECTIONS }, this.parts.log);
    const actual = (server.address() as { port: number }).port;
    this.parts.log.info({ host, port: actual }, 'health listening');
    return actual;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return;
    await new Promise<void>((resolve) => { server.close(() => resolve()); server.closeAllConnections?.(); });
  }
}
