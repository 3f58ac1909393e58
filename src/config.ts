// The whole configuration surface in one schema: defaults, types, bounds and the environment names.
// Validated once, before anything starts; every error names the key path and what was expected.
import fs = require('node:fs');
import path = require('node:path');
import { parse as parseYaml } from 'yaml';
import { checkBoxLimit, LIMIT_NAMES, LIMIT_RANGES } from './apps/limits/spec';

type Leaf =
  | { kind: 'string'; def: string; secret?: boolean; max?: number; pattern?: RegExp; hint?: string }
  | { kind: 'int'; def: number; min: number; max: number }
  | { kind: 'bool'; def: boolean }
  | { kind: 'enum'; def: string; values: readonly string[] }
  | { kind: 'list'; def: readonly string[]; values: readonly string[] };
interface Branch { [key: string]: Leaf | Branch }

type StrLeaf = Extract<Leaf, { kind: 'string' }>;
const str = (def: string, extra: Partial<StrLeaf> = {}): StrLeaf => ({ kind: 'string', def, ...extra });
const int = (def: number, min: number, max: number): Extract<Leaf, { kind: 'int' }> => ({ kind: 'int', def, min, max });
const bool = (def: boolean): Extract<Leaf, { kind: 'bool' }> => ({ kind: 'bool', def });
const oneOf = (def: string, values: readonly string[]): Extract<Leaf, { kind: 'enum' }> => ({ kind: 'enum', def, values });
/** A set of names from `values` (YAML: a list; environment: comma-separated), at least one. */
const someOf = (def: readonly string[], values: readonly string[]): Extract<Leaf, { kind: 'list' }> => ({ kind: 'list', def, values });

const PORT_MAX = 65535;
const HOUR_MS = 3_600_000;

/** The schema. Keep config.example.yaml (checked by test/config.test.ts) and the README's config table in step with it. */
export const SCHEMA = {
  runtime: {
    name: str('MyRuntime', { max: 64, pattern: /^[A-Za-z0-9._-]+$/, hint: 'letters, digits, ".", "_" or "-"' }),
    /** The kit id is this prefix and the name (RUNTIME_PREFIX of sdv-runtime's newest syncer), unless kitId is set. */
    kitIdPrefix: str('RunTime-', { max: 64, pattern: /^[A-Za-z0-9._-]*$/, hint: 'letters, digits, ".", "_" or "-", or empty' }),
    kitId: str('', { max: 128, pattern: /^[A-Za-z0-9._-]*$/, hint: 'letters, digits, ".", "_" or "-"' }),
    dataDir: str('./data'),
    /** read-file / write-file: the playground's files live here; empty = <dataDir>/files. */
    filesDir: str(''),
  },
  kitManager: {
    url: str('', { pattern: /^(|(https?|wss?):\/\/\S+)$/, hint: 'an http(s):// or ws(s):// URL, or empty for standalone' }),
    protocol: oneOf('socketio', ['socketio', 'ws']),
    token: str('', { secret: true }),
    caFile: str(''),
    desc: str('sdv-agent runtime', { max: 256 }),
    reconnect: { minMs: int(500, 10, HOUR_MS), maxMs: int(4000, 10, HOUR_MS) },
    /** From dialling to registered (Socket.IO) or open (ws): a server that accepts and says nothing is left after this. */
    connectTimeoutMs: int(20_000, 500, 10 * 60_000),
  },
  api: {
    host: str('127.0.0.1'),
    port: int(3002, 0, PORT_MAX),
    path: str('/runtime', { pattern: /^\/[\x21-\x7e]*$/, hint: 'a path starting with "/"' }),
    token: str('', { secret: true }),
    maxPayloadBytes: int(16 * 1024 * 1024, 1024, 512 * 1024 * 1024),
    maxClients: int(64, 1, 10_000),
    sendBufferBytes: int(8 * 1024 * 1024, 64 * 1024, 1024 * 1024 * 1024),
  },
  health: { host: str('127.0.0.1'), port: int(3003, 0, PORT_MAX) },
  kuksa: {
    mode: oneOf('embedded', ['embedded', 'external']),
    address: str('127.0.0.1:55555', { pattern: /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, hint: 'host:port' }),
    api: oneOf('auto', ['auto', 'v1', 'v2']),
    token: str('', { secret: true }),
    tls: { enabled: bool(false), caFile: str(''), certFile: str(''), keyFile: str(''), serverName: str('') },
    vss: str(''),
    serve: bool(true),
    /** Which APIs the embedded server serves (databroker 0.7 serves kuksa.val.v2 only, 0.4 all three). */
    serveApis: someOf(['kuksa.val.v2', 'kuksa.val.v1', 'sdv.databroker.v1'], ['kuksa.val.v2', 'kuksa.val.v1', 'sdv.databroker.v1']),
    /**
     * External mode: serve sdv.databroker.v1 to the agent's apps, bridged onto the databroker (sdv-bridge.ts; auto: the
     * apps get it when the databroker has no sdv.databroker.v1; on: always; off: not served), on sdvBridgeAddress.
     */
    sdvBridge: oneOf('auto', ['auto', 'on', 'off']),
    sdvBridgeAddress: str('127.0.0.1:0', { pattern: /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, hint: 'host:port' }),
    echoActuators: bool(true),
    modelGenerator: str(''),
    /** Embedded server: a subscription stream whose client takes nothing of it for this long while updates wait is ended. */
    streamStallMs: int(30_000, 100, 3_600_000),
  },
  mqtt: {
    /** embedded: the agent's own broker on address; external: apps are told address, nothing is started; off: neither. */
    mode: oneOf('embedded', ['embedded', 'external', 'off']),
    address: str('127.0.0.1:1883', { pattern: /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, hint: 'host:port' }),
    maxClients: int(100, 1, 10_000),
    /** Of maxClients, the share (percent) kept for processes the agent started (apps), once the others are taken. */
    appSlotsPercent: int(25, 0, 90),
    maxPacketBytes: int(1024 * 1024, 1024, 256 * 1024 * 1024),
    maxQueuedBytes: int(1024 * 1024, 16 * 1024, 1024 * 1024 * 1024),
    /** A client not read (past maxQueuedBytes unsent) that takes nothing of what it is owed for this long is dropped. */
    stallMs: int(30_000, 100, 3_600_000),
    maxRetained: int(1000, 0, 1_000_000),
    maxRetainedBytes: int(8 * 1024 * 1024, 0, 1024 * 1024 * 1024),
    maxSubscriptions: int(100, 1, 100_000),
    maxTopicLength: int(1024, 16, 65_535),
    /** Bytes of all topic filters held (online and kept sessions); past it a filter is refused (0x80). */
    maxFilterBytes: int(24 * 1024 * 1024, 1024, 1024 * 1024 * 1024),
  },
  signals: { batchWindowMs: int(50, 1, 60_000), subscriberTtlS: int(60, 1, 86_400) },
  apps: {
    python: str('python3'),
    maxApps: int(50, 1, 1000),
    stopGraceMs: int(5000, 0, 600_000),
    consoleBufferLines: int(1000, 10, 1_000_000),
    consoleBufferBytes: int(1024 * 1024, 4096, 256 * 1024 * 1024),
    logMaxBytes: int(1024 * 1024, 4096, 1024 * 1024 * 1024),
    maxCodeBytes: int(5 * 1024 * 1024, 1024, 512 * 1024 * 1024),
    runAs: str('', { pattern: /^([a-z_][a-z0-9_-]*\$?|\d+)?$/, hint: 'a user name or uid' }),
    adhocMaxS: int(180, 0, 7 * 86_400),
    /** How an app's whole process tree is found at stop: a cgroup where the agent may make one, else /proc. */
    processTree: oneOf('auto', ['auto', 'cgroup', 'proc']),
    docker: str('docker'),
    /** Where run_bin_app finds the binaries the operator placed on the box; empty = dataDir/bin. */
    binDir: str(''),
    /**
     * What every app and ad-hoc run may use, its whole process tree together (0 = no limit): the default and the
     * ceiling of an app's config.limits. See config.example.yaml for why these values.
     */
    limits: {
      memoryMB: int(512, 0, LIMIT_RANGES.memoryMB.max),
      cpuPercent: int(100, 0, LIMIT_RANGES.cpuPercent.max),
      pids: int(256, 0, LIMIT_RANGES.pids.max),
      /** auto: cgroups where the agent may make them, else rlimits; cgroup: refuse to start without; rlimit: only those. */
      enforcement: oneOf('auto', ['auto', 'cgroup', 'rlimit']),
    },
    /** Hosts besides the loopback that an app's health check may name (comma-separated names or addresses). */
    healthCheckHosts: str('', { max: 4096, pattern: /^[A-Za-z0-9.:\[\], -]*$/, hint: 'host names or addresses, comma-separated' }),
  },
  packages: {
    installTimeoutS: int(600, 5, 86_400),
    findLinks: str(''),
    /** pip's --target and the head of every app's PYTHONPATH; empty = dataDir/python-packages. */
    dir: str(''),
  },
  build: {
    rustc: str('rustc'),
    cargo: str('cargo'),
    cxx: str('g++'),
    cmake: str('cmake'),
    timeoutS: int(120, 5, 3600),
    maxOutputBytes: int(1024 * 1024, 1024, 64 * 1024 * 1024),
  },
  log: { level: oneOf('info', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']) },
} satisfies Branch;

type LeafValue<L> = L extends { kind: 'int' } ? number : L extends { kind: 'bool' } ? boolean : L extends { kind: 'list' } ? readonly string[] : string;
type Typed<B> = { readonly [K in keyof B]: B[K] extends { kind: string } ? LeafValue<B[K]> : Typed<B[K]> };
export type Config = Typed<typeof SCHEMA>;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

const isLeaf = (n: Leaf | Branch): n is Leaf => typeof (n as Leaf).kind === 'string';

/** camelCase key path → SDV_AGENT_SECTION_KEY_NAME */
export function envName(keyPath: string): string {
  return 'SDV_AGENT_' + keyPath.split('.').map((p) => p.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()).join('_');
}

/**
 * Names the sdv-runtime container already sets, honoured for drop-in use. RUNTIME_PREFIX is read as its newest syncer
 * reads it (`os.getenv('RUNTIME_PREFIX', default)`): set, even to "", it is the prefix.
 */
const DROP_IN_ENV: Record<string, string> = { RUNTIME_NAME: 'runtime.name', RUNTIME_PREFIX: 'runtime.kitIdPrefix', SYNCER_SERVER_URL: 'kitManager.url' };

function describe(leaf: Leaf): string {
  switch (leaf.kind) {
    case 'int': return `an integer from ${leaf.min} to ${leaf.max}`;
    case 'bool': return 'true or false';
    case 'enum': return `one of ${leaf.values.join(', ')}`;
    case 'list': return `a list of one or more of ${leaf.values.join(', ')}`;
    case 'string': return leaf.hint ?? 'a string';
  }
}

function coerce(leaf: Leaf, raw: unknown, keyPath: string, fromEnv: boolean): string | number | boolean | readonly string[] {
  const bad = (): never => {
    const shown = typeof raw === 'string' ? JSON.stringify(raw.length > 60 ? raw.slice(0, 60) + '…' : raw) : JSON.stringify(raw);
    throw new ConfigError(`${keyPath}: expected ${describe(leaf)}, got ${leaf.kind === 'string' && (leaf as { secret?: boolean }).secret ? 'a masked value' : shown}`);
  };
  switch (leaf.kind) {
    case 'int': {
      let n = raw;
      if (fromEnv && typeof raw === 'string' && /^-?\d+$/.test(raw.trim())) n = Number(raw.trim());
      if (typeof n !== 'number' || !Number.isInteger(n) || n < leaf.min || n > leaf.max) bad();
      return n as number;
    }
    case 'bool': {
      if (typeof raw === 'boolean') return raw;
      if (fromEnv && typeof raw === 'string' && /^(true|false|1|0)$/i.test(raw)) return /^(true|1)$/i.test(raw);
      return bad();
    }
    case 'enum':
      if (typeof raw !== 'string' || !leaf.values.includes(raw)) bad();
      return raw as string;
    case 'list': {
      const items = fromEnv && typeof raw === 'string' ? raw.split(',').map((x) => x.trim()).filter((x) => x) : raw;
      if (!Array.isArray(items) || items.length === 0 || !items.every((x) => typeof x === 'string' && leaf.values.includes(x))) return bad();
      return [...new Set(items as string[])];
    }
    case 'string': {
      if (typeof raw === 'number' && !fromEnv) raw = String(raw);
      if (typeof raw !== 'string' || raw.includes('\0')) return bad();
      if (leaf.max !== undefined && raw.length > leaf.max) bad();
      if (leaf.pattern && !leaf.pattern.test(raw)) bad();
      return raw;
    }
  }
}

function build(schema: Branch, file: unknown, env: NodeJS.ProcessEnv, prefix: string): Record<string, unknown> {
  if (file !== undefined && (file === null || typeof file !== 'object' || Array.isArray(file))) {
    throw new ConfigError(`${prefix ? prefix.slice(0, -1) : '(top level)'}: expected a mapping of keys`);
  }
  const given = (file ?? {}) as Record<string, unknown>;
  for (const key of Object.keys(given)) {
    if (!Object.prototype.hasOwnProperty.call(schema, key)) {
      const near = Object.keys(schema).find((k) => editDistance(k.toLowerCase(), key.toLowerCase()) <= 2);
      throw new ConfigError(`${prefix}${key}: unknown key${near ? ` (did you mean ${prefix}${near}?)` : ''}; known keys here: ${Object.keys(schema).join(', ')}`);
    }
  }
  const out: Record<string, unknown> = {};
  for (const [key, node] of Object.entries(schema)) {
    const keyPath = prefix + key;
    if (isLeaf(node)) {
      const envValue = env[envName(keyPath)];
      if (envValue !== undefined) out[key] = coerce(node, envValue, `${keyPath} (from ${envName(keyPath)})`, true);
      else if (given[key] !== undefined && given[key] !== null) out[key] = coerce(node, given[key], keyPath, false);
      else out[key] = node.def;
    } else {
      out[key] = build(node, given[key] ?? undefined, env, keyPath + '.');
    }
  }
  return out;
}

/** Levenshtein distance, for "did you mean" on short key names. */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}

export interface LoadedConfig { config: Config; file: string | null }

/** File, then environment, then defaults. Throws ConfigError with one line naming the key. */
export function loadConfig(file: string | null, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  let parsed: unknown;
  if (file) {
    let text: string;
    try { text = fs.readFileSync(file, 'utf8'); } catch (e) {
      throw new ConfigError(`config file ${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found' : (e as Error).message}`);
    }
    try { parsed = parseYaml(text, { uniqueKeys: true }) ?? undefined; } catch (e) {
      throw new ConfigError(`config file ${file}: invalid YAML: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  const env2: NodeJS.ProcessEnv = { ...env };
  for (const [dropIn, keyPath] of Object.entries(DROP_IN_ENV)) {
    if (env[dropIn] !== undefined && env[envName(keyPath)] === undefined) env2[envName(keyPath)] = env[dropIn];
  }
  const raw = build(SCHEMA, parsed, env2, '') as unknown as Config & { runtime: { kitId: string } };
  const runtime = raw.runtime as { name: string; kitIdPrefix: string; kitId: string; dataDir: string; filesDir: string };
  // Exactly as the Python runtime makes it (RunTime-<name>, or the prefix its newest syncer reads): the Kit-Manager and
  // the frontend's saved selection compare it as it is. runtime.kitId, when set, is the kit id.
  if (runtime.kitId === '') runtime.kitId = `${runtime.kitIdPrefix}${runtime.name}`;
  if (runtime.kitId.length > 128) throw new ConfigError(`runtime.kitIdPrefix: the kit id ${JSON.stringify(runtime.kitId.slice(0, 40))}… (prefix and name) is longer than 128 characters`);
  const base = file ? path.dirname(path.resolve(file)) : process.cwd();
  runtime.dataDir = path.resolve(base, runtime.dataDir);
  runtime.filesDir = runtime.filesDir === '' ? path.join(runtime.dataDir, 'files') : path.resolve(base, runtime.filesDir);
  // Folders that default to a place in dataDir: resolved once here, so every user reads the same absolute path.
  const apps = raw.apps as { binDir: string };
  apps.binDir = apps.binDir ? path.resolve(base, apps.binDir) : path.join(runtime.dataDir, 'bin');
  const packages = raw.packages as { dir: string };
  packages.dir = packages.dir ? path.resolve(base, packages.dir) : path.join(runtime.dataDir, 'python-packages');
  // Cross-key checks: rejected before anything starts, like pino's conflicting options.
  const km = raw.kitManager;
  if (km.reconnect.minMs > km.reconnect.maxMs) throw new ConfigError(`kitManager.reconnect.minMs: expected at most kitManager.reconnect.maxMs (${km.reconnect.maxMs}), got ${km.reconnect.minMs}`);
  if (km.protocol === 'ws' && km.url && /^https?:/.test(km.url)) throw new ConfigError(`kitManager.url: protocol ws expects a ws:// or wss:// URL, got ${maskUrl(km.url)}`);
  if (km.url) {
    let ok = true;
    try { new URL(km.url); } catch { ok = false; }
    if (!ok) throw new ConfigError(`kitManager.url: not a valid URL (a port from 1 to ${PORT_MAX}?), got ${maskUrl(km.url)}`);
  }
  for (const [key, address] of [['kuksa.address', raw.kuksa.address], ['kuksa.sdvBridgeAddress', raw.kuksa.sdvBridgeAddress], ['mqtt.address', raw.mqtt.address]] as const) {
    const [, port] = splitHostPort(address);
    if (port > PORT_MAX) throw new ConfigError(`${key}: expected a port from 0 to ${PORT_MAX}, got ${port}`);
  }
  if (raw.api.port !== 0 && raw.api.port === raw.health.port && raw.api.host === raw.health.host) throw new ConfigError(`health.port: must differ from api.port (${raw.api.port})`);
  if (raw.kuksa.tls.enabled === false && (raw.kuksa.tls.certFile || raw.kuksa.tls.keyFile || raw.kuksa.tls.caFile)) {
    throw new ConfigError('kuksa.tls.enabled: expected true when kuksa.tls.caFile, certFile or keyFile is set');
  }
  if (!!raw.kuksa.tls.certFile !== !!raw.kuksa.tls.keyFile) throw new ConfigError('kuksa.tls.keyFile: certFile and keyFile go together');
  for (const name of LIMIT_NAMES) {
    const why = checkBoxLimit(name, raw.apps.limits[name]);
    if (why) throw new ConfigError(`apps.limits.${name}: ${why}`);
  }
  return { config: deepFreeze(raw) as Config, file };
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') { for (const v of Object.values(o)) deepFreeze(v); Object.freeze(o); }
  return o;
}

/** A URL with its user and password (`https://user:pass@host`) masked: `https://***@host`. Anything else unchanged. */
export function maskUrl<T>(value: T): T {
  return (typeof value === 'string' ? value.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/?#@\s]*@/i, '$1***@') : value) as T;
}

/** The effective config with every secret masked: for --print-config and logs. */
export function maskedConfig(config: Config): unknown {
  const walk = (schema: Branch, value: Record<string, unknown>): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    for (const [key, node] of Object.entries(schema)) {
      if (isLeaf(node)) out[key] = node.kind === 'string' && node.secret && value[key] ? '***' : maskUrl(value[key]);
      else out[key] = walk(node, value[key] as Record<string, unknown>);
    }
    return out;
  };
  return walk(SCHEMA, config as unknown as Record<string, unknown>);
}

/** Every leaf with its default and environment name, in schema order: config.example.yaml is checked against it. */
export function leafPaths(): Array<{ path: string; env: string; def: unknown; secret: boolean }> {
  const out: Array<{ path: string; env: string; def: unknown; secret: boolean }> = [];
  const walk = (schema: Branch, prefix: string) => {
    for (const [key, node] of Object.entries(schema)) {
      if (isLeaf(node)) out.push({ path: prefix + key, env: envName(prefix + key), def: node.def, secret: node.kind === 'string' && !!node.secret });
      else walk(node, prefix + key + '.');
    }
  };
  walk(SCHEMA, '');
  return out;
}

/** A `host:port` of the config (kuksa.address, mqtt.address): the host without IPv6 brackets, and the port. */
export function splitHostPort(address: string): [string, number] {
  const i = address.lastIndexOf(':');
  return [address.slice(0, i).replace(/^\[|\]$/g, ''), Number(address.slice(i + 1))];
}
