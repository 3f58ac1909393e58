// Config: precedence, every kind of error, masking, and the example file kept in step with the schema.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse } from 'yaml';
import { ConfigError, envName, leafPaths, loadConfig, maskedConfig, maskUrl } from '../src/config';
import { AGENT_JS, ROOT, tmpDir } from './helpers/agent';

function writeYaml(text: string): string {
  const f = path.join(tmpDir(t), 'c.yaml');
  fs.writeFileSync(f, text);
  return f;
}

t.test('defaults', async (t) => {
  const { config } = loadConfig(null, {});
  t.equal(config.runtime.name, 'MyRuntime');
  t.equal(config.runtime.kitId, 'RunTime-MyRuntime', 'the kit id the Python runtime makes: RunTime-<name>');
  t.equal(config.runtime.filesDir, path.join(config.runtime.dataDir, 'files'), 'read-file/write-file folder under dataDir');
  t.equal(config.api.host, '127.0.0.1');
  t.equal(config.api.port, 3002);
  t.equal(config.api.path, '/runtime');
  t.equal(config.health.port, 3003);
  t.equal(config.kuksa.mode, 'embedded');
  t.equal(config.kuksa.address, '127.0.0.1:55555');
  t.equal(config.signals.batchWindowMs, 50);
  t.equal(config.signals.subscriberTtlS, 60);
  t.equal(config.apps.stopGraceMs, 5000);
  t.equal(config.apps.consoleBufferLines, 1000);
  t.equal(config.kitManager.reconnect.minMs, 500);
  t.equal(config.kitManager.reconnect.maxMs, 4000, 'a low cap: back within seconds of the Kit-Manager\'s return');
  t.equal(config.log.level, 'info');
  t.ok(path.isAbsolute(config.runtime.dataDir));
  t.ok(Object.isFrozen(config.api), 'config is frozen');
});

t.test('precedence: file, then environment, then defaults', async (t) => {
  const f = writeYaml('runtime:\n  name: FromFile\napi:\n  port: 4000\n  host: 0.0.0.0\n');
  const fileOnly = loadConfig(f, {}).config;
  t.equal(fileOnly.runtime.name, 'FromFile');
  t.equal(fileOnly.runtime.kitId, 'RunTime-FromFile');
  t.equal(fileOnly.api.port, 4000);
  const withEnv = loadConfig(f, { SDV_AGENT_API_PORT: '4100', SDV_AGENT_RUNTIME_NAME: 'FromEnv' }).config;
  t.equal(withEnv.api.port, 4100, 'env beats file');
  t.equal(withEnv.runtime.name, 'FromEnv');
  t.equal(withEnv.api.host, '0.0.0.0', 'file beats default');
  t.equal(withEnv.api.path, '/runtime', 'default when neither');
  t.equal(path.dirname(withEnv.runtime.dataDir), path.dirname(f), 'relative dataDir is relative to the config file');
  const files = loadConfig(writeYaml('runtime:\n  filesDir: shared\n'), {}).config.runtime.filesDir;
  t.ok(path.isAbsolute(files) && path.basename(files) === 'shared', 'a relative filesDir is relative to the config file too');
});

t.test('legacy container variables', async (t) => {
  const c = loadConfig(null, { RUNTIME_NAME: 'Box7', SYNCER_SERVER_URL: 'http://localhost:3090' }).config;
  t.equal(c.runtime.name, 'Box7');
  t.equal(c.runtime.kitId, 'RunTime-Box7');
  t.equal(loadConfig(null, { RUNTIME_NAME: 'public-x' }).config.runtime.kitId, 'RunTime-public-x', 'RUNTIME_NAME=public-x: the public list\'s runtime-public- prefix');
  t.equal(c.kitManager.url, 'http://localhost:3090');
  const both = loadConfig(null, { RUNTIME_NAME: 'Box7', SDV_AGENT_RUNTIME_NAME: 'Explicit' }).config;
  t.equal(both.runtime.name, 'Explicit', 'the agent\'s own variable wins');
  // RUNTIME_PREFIX as sdv-runtime's newest syncer reads it: kit id = prefix + RUNTIME_NAME; set to "", no prefix.
  t.equal(loadConfig(null, { RUNTIME_PREFIX: 'Kit-', RUNTIME_NAME: 'x' }).config.runtime.kitId, 'Kit-x');
  t.equal(loadConfig(null, { RUNTIME_PREFIX: '', RUNTIME_NAME: 'x' }).config.runtime.kitId, 'x');
  t.equal(loadConfig(writeYaml('runtime:\n  kitId: Chosen-1\n'), { RUNTIME_PREFIX: 'Kit-', RUNTIME_NAME: 'x' }).config.runtime.kitId, 'Chosen-1', 'runtime.kitId still wins');
  t.throws(() => loadConfig(null, { RUNTIME_PREFIX: 'Kit /' }), /runtime\.kitIdPrefix .*: expected letters/);
});

t.test('kuksa.serveApis: a YAML list, or comma-separated in the environment', async (t) => {
  t.same(loadConfig(null, {}).config.kuksa.serveApis, ['kuksa.val.v2', 'kuksa.val.v1', 'sdv.databroker.v1'], 'default: all three');
  t.same(loadConfig(writeYaml('kuksa:\n  serveApis: [kuksa.val.v2]\n'), {}).config.kuksa.serveApis, ['kuksa.val.v2']);
  t.same(loadConfig(null, { SDV_AGENT_KUKSA_SERVE_APIS: ' kuksa.val.v2, sdv.databroker.v1 ' }).config.kuksa.serveApis, ['kuksa.val.v2', 'sdv.databroker.v1']);
});

t.test('env names', async (t) => {
  t.equal(envName('kitManager.reconnect.minMs'), 'SDV_AGENT_KIT_MANAGER_RECONNECT_MIN_MS');
  t.equal(envName('api.maxPayloadBytes'), 'SDV_AGENT_API_MAX_PAYLOAD_BYTES');
});

t.test('every kind of config error names the key path', async (t) => {
  const cases: Array<[string, Record<string, string>, RegExp]> = [
    ['api:\n  prot: 1\n', {}, /^api\.prot: unknown key \(did you mean api\.port\?\)/],
    ['apii:\n  port: 1\n', {}, /^apii: unknown key/],
    ['api:\n  port: "abc"\n', {}, /^api\.port: expected an integer from 0 to 65535/],
    ['api:\n  port: 70000\n', {}, /^api\.port: expected an integer from 0 to 65535, got 70000/],
    ['api:\n  port: 1.5\n', {}, /^api\.port: expected an integer/],
    ['kuksa:\n  mode: cloud\n', {}, /^kuksa\.mode: expected one of embedded, external/],
    ['kuksa:\n  serve: "yes"\n', {}, /^kuksa\.serve: expected true or false/],
    ['api: 5\n', {}, /^api: expected a mapping/],
    ['- 1\n- 2\n', {}, /^\(top level\): expected a mapping/],
    ['kitManager:\n  reconnect:\n    minMs: 5000\n    maxMs: 1000\n', {}, /^kitManager\.reconnect\.minMs: expected at most/],
    ['kitManager:\n  url: ftp://x\n', {}, /^kitManager\.url: expected an http/],
    ['runtime:\n  name: "a b"\n', {}, /^runtime\.name: expected letters/],
    ['', { SDV_AGENT_API_PORT: 'x' }, /^api\.port \(from SDV_AGENT_API_PORT\): expected an integer/],
    ['', { SDV_AGENT_LOG_LEVEL: 'loud' }, /^log\.level \(from SDV_AGENT_LOG_LEVEL\): expected one of/],
    ['api:\n  port: 1\n  port: 2\n', {}, /invalid YAML/],
    ['kuksa:\n  serveApis: []\n', {}, /^kuksa\.serveApis: expected a list of one or more of kuksa\.val\.v2, kuksa\.val\.v1, sdv\.databroker\.v1, got \[\]/],
    ['kuksa:\n  serveApis: [kuksa.val.v3]\n', {}, /^kuksa\.serveApis: expected a list/],
    ['', { SDV_AGENT_KUKSA_SERVE_APIS: 'kuksa.val.v2,grpc' }, /^kuksa\.serveApis \(from SDV_AGENT_KUKSA_SERVE_APIS\): expected a list/],
  ];
  for (const [yaml, env, re] of cases) {
    const f = writeYaml(yaml);
    let message = '(no error)';
    try { loadConfig(f, env); } catch (e) { t.ok(e instanceof ConfigError, 'a ConfigError'); message = (e as Error).message; }
    t.match(message, re, re.source);
  }
  t.throws(() => loadConfig('/nonexistent/x.yaml', {}), /config file \/nonexistent\/x\.yaml: not found/);
  t.throws(() => loadConfig(null, { SDV_AGENT_API_TOKEN: 'x\0y' }), /api\.token .*expected a string, got a masked value/, 'a secret is never echoed');
});

t.test('secrets are masked', async (t) => {
  const c = loadConfig(null, { SDV_AGENT_API_TOKEN: 's3cret', SDV_AGENT_KUKSA_TOKEN: 'jwt', SDV_AGENT_KIT_MANAGER_TOKEN: 'km' }).config;
  const m = JSON.stringify(maskedConfig(c));
  t.notMatch(m, /s3cret|"jwt"|"km"/);
  t.match(m, /"token":"\*\*\*"/);
});

t.test('credentials in URLs are masked; impossible ports refused', async (t) => {
  t.equal(maskUrl('https://user:pa55@kit.example:3090/x?y=1'), 'https://***@kit.example:3090/x?y=1');
  t.equal(maskUrl('wss://token@kit.example'), 'wss://***@kit.example');
  t.equal(maskUrl('http://kit.example/a@b'), 'http://kit.example/a@b', 'an @ in the path is not a user');
  t.equal(maskUrl(42), 42);
  const c = loadConfig(null, { SDV_AGENT_KIT_MANAGER_URL: 'http://u:secretpw@127.0.0.1:3090' }).config;
  t.notMatch(JSON.stringify(maskedConfig(c)), /secretpw|"u:/);
  t.throws(() => loadConfig(null, { SDV_AGENT_KUKSA_ADDRESS: '127.0.0.1:65555' }), /kuksa\.address: expected a port from 0 to 65535, got 65555/);
  const bad = (() => { try { loadConfig(null, { SDV_AGENT_KIT_MANAGER_URL: 'http://u:secretpw@127.0.0.1:65536' }); return ''; } catch (e) { return (e as Error).message; } })();
  t.match(bad, /kitManager\.url: not a valid URL/, 'a URL whose port cannot be is refused');
  t.notMatch(bad, /secretpw/, 'and the error does not show its password');
  t.equal(loadConfig(null, { SDV_AGENT_KUKSA_ADDRESS: '127.0.0.1:65535' }).config.kuksa.address, '127.0.0.1:65535');
});

t.test('config.example.yaml documents every key with its default', async (t) => {
  const text = fs.readFileSync(path.join(ROOT, 'config.example.yaml'), 'utf8');
  const example = parse(text);
  for (const leaf of leafPaths()) {
    const v = leaf.path.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], example);
    t.same(v, leaf.def, `${leaf.path} is in the example with its default`);
  }
  t.doesNotThrow(() => loadConfig(path.join(ROOT, 'config.example.yaml'), {}), 'the example is a valid config');
});

function cli(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [AGENT_JS, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8', timeout: 20_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

t.test('CLI', async (t) => {
  const typo = writeYaml('api:\n  port: 3002\nkuksa:\n  adress: 127.0.0.1:55555\n');
  const r = cli(['--check-config', '--config', typo]);
  t.equal(r.code, 2, 'misspelled key exits 2');
  t.match(r.err, /kuksa\.adress: unknown key \(did you mean kuksa\.address\?\)/);
  t.equal(r.err.trim().split('\n').length, 1, 'one line');

  const good = writeYaml('runtime:\n  name: Ok\n');
  t.equal(cli(['--check-config', '--config', good]).code, 0);
  t.equal(cli(['--check-config'], { SDV_AGENT_CONFIG: typo }).code, 2, 'SDV_AGENT_CONFIG is read');

  const p = cli(['--print-config', `--config=${good}`], { SDV_AGENT_API_TOKEN: 'topsecret' });
  t.equal(p.code, 0);
  t.notMatch(p.out, /topsecret/);
  const printed = parse(p.out);
  t.equal(printed.api.token, '***');
  t.equal(printed.runtime.kitId, 'RunTime-Ok');

  const v = cli(['--version']);
  t.equal(v.code, 0);
  t.match(v.out.trim(), /^\d+\.\d+\.\d+/);
  t.match(cli(['--help']).out, /Usage: sdv-agent/);
  const bad = cli(['--frobnicate']);
  t.equal(bad.code, 2);
  t.match(bad.err, /unknown argument: --frobnicate/);
  t.equal(cli(['--config']).code, 2);
  t.equal(cli(['--check-config', '--config', '/nope.yaml']).code, 2);
});

t.test('a port already in use is a runtime failure: exit 1', async (t) => {
  const net = await import('node:net');
  const srv = net.createServer().listen(0, '127.0.0.1');
  await new Promise((r) => srv.once('listening', r));
  const port = (srv.address() as { port: number }).port;
  const dir = tmpDir(t);
  const r = cli([], { SDV_AGENT_API_PORT: String(port), SDV_AGENT_HEALTH_PORT: '0', SDV_AGENT_RUNTIME_DATA_DIR: dir, SDV_AGENT_KUKSA_SERVE: 'false', SDV_AGENT_MQTT_ADDRESS: '127.0.0.1:0' });
  srv.close();
  t.equal(r.code, 1);
  t.match(r.out, /EADDRINUSE/);
});

t.test('apps.binDir and packages.dir default to folders in dataDir; set, they resolve against the config file', async (t) => {
  const f = writeYaml('runtime:\n  dataDir: ./d\n');
  const { config } = loadConfig(f, {});
  t.equal(config.apps.binDir, path.join(path.dirname(f), 'd', 'bin'));
  t.equal(config.packages.dir, path.join(path.dirname(f), 'd', 'python-packages'));
  const g = writeYaml('apps:\n  binDir: ./bins\npackages:\n  dir: /home/dev/python-packages\n');
  const set = loadConfig(g, {}).config;
  t.equal(set.apps.binDir, path.join(path.dirname(g), 'bins'));
  t.equal(set.packages.dir, '/home/dev/python-packages');
  t.equal(loadConfig(null, { SDV_AGENT_PACKAGES_DIR: '/x/site' }).config.packages.dir, '/x/site', 'from the environment too');
});
