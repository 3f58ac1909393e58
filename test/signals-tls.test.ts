// The external client over TLS: a real grpc-js server with a self-signed certificate (made by openssl) serving the
// kuksa.val v2 calls the agent needs; the agent trusts it through kuksa.tls.caFile and kuksa.tls.serverName.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import t from 'tap';
import { ApiClient, ROOT, startAgent, tmpDir } from './helpers/agent';

t.test('v2 client over TLS with a token', async (t) => {
  const dir = tmpDir(t, 'sdv-tls-');
  const key = path.join(dir, 'key.pem');
  const cert = path.join(dir, 'cert.pem');
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=databroker.test', '-addext', 'subjectAltName=DNS:databroker.test'], { stdio: 'ignore' });
  } catch {
    t.comment('openssl not available: skipped');
    t.pass('skipped');
    return;
  }
  const def = protoLoader.loadSync(['kuksa/val/v2/val.proto'], { keepCase: true, longs: String, enums: String, defaults: false, oneofs: true, includeDirs: [path.join(ROOT, 'proto')] });
  const pkg = grpc.loadPackageDefinition(def) as unknown as { kuksa: { val: { v2: { VAL: grpc.ServiceClientConstructor } } } };
  const seen: string[] = [];
  const auth = (md: grpc.Metadata) => { seen.push(String(md.get('authorization')[0])); };
  const server = new grpc.Server();
  server.addService(pkg.kuksa.val.v2.VAL.service, {
    GetServerInfo: (call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => { auth(call.metadata); cb(null, { name: 'tls-test', version: '1' }); },
    ListMetadata: (call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      auth(call.metadata);
      cb(null, { metadata: [{ path: 'Vehicle.Speed', id: 1, data_type: 'DATA_TYPE_FLOAT', entry_type: 'ENTRY_TYPE_SENSOR' }] });
    },
    GetValues: (call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => { auth(call.metadata); cb(null, { data_points: [{ value: { float: 42.5 } }] }); },
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createSsl(null, [{ private_key: fs.readFileSync(key), cert_chain: fs.readFileSync(cert) }]), (e, p) => (e ? reject(e) : resolve(p))));
  t.teardown(() => server.forceShutdown());

  const a = await startAgent(t, { config: { kuksa: { mode: 'external', api: 'auto', address: `127.0.0.1:${port}`, token: 'tok-1', tls: { enabled: true, caFile: cert, serverName: 'databroker.test' } } } });
  await a.waitLog((l) => l.msg === 'kuksa databroker connected');
  const c = await ApiClient.connect(a.apiUrl);
  t.teardown(() => c.close());
  const g = await c.request({ type: 'get_signals_value', apis: ['Vehicle.Speed'] });
  t.same(g.result, { 'Vehicle.Speed': 42.5 });
  t.ok(seen.length > 0 && seen.every((s) => s === 'Bearer tok-1'), 'every call carried the token');
  t.equal((await c.request({ type: 'get_runtime_info' })).kuksaConnected, true);
});
