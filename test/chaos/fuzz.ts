// Structure-aware fuzzing: start from a valid message of every type the agent is meant to understand (seed 000 for
// the local API, the Kit-Manager `cmd` list for messageToKit) and mutate it — wrong types, missing and extra fields,
// huge strings and arrays, deep nesting, unicode and NUL, numbers out of range, __proto__/constructor keys, and
// strings that would do harm if they ever reached a shell or a path outside dataDir.
import { makeRng } from './lib';

type Rng = ReturnType<typeof makeRng>;
type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

const CODE = 'import asyncio\nprint("hello from fuzz")\n';

/** One valid message of every local API type (seed 000 plus the agent's own). */
export const LOCAL_SEEDS: Array<Record<string, Json>> = [
  { type: 'ping' },
  { type: 'get_runtime_info' },
  { type: 'auth', token: 'x' },
  { type: 'console_subscribe', appId: 'VEA-my-app' },
  { type: 'console_unsubscribe', appId: 'VEA-my-app' },
  { type: 'app_output', appId: 'VEA-my-app', lines: 100 },
  { type: 'list_deployed_apps' },
  { type: 'deploy_request', prototype: { id: 'my-app', name: 'My App', type: 'python', code: CODE, config: {} }, vehicle_id: 'default-vehicle' },
  { type: 'run_app', appId: 'VEA-my-app' },
  { type: 'stop_app', appId: 'VEA-my-app' },
  { type: 'pause_app', appId: 'VEA-my-app' },
  { type: 'resume_app', appId: 'VEA-my-app' },
  { type: 'uninstall_app', appId: 'VEA-my-app' },
  { type: 'mock_service_start', mode: 'echo-all' },
  { type: 'mock_service_stop' },
  { type: 'mock_service_configure', mode: 'echo-specific', signals: ['Vehicle.Body.Lights.Beam.High.IsOn'] },
  { type: 'mock_service_status' },
  { type: 'subscribe_apis', apis: ['Vehicle.Speed', 'Vehicle.Body.Lights.*'] },
  { type: 'unsubscribe_apis', apis: ['Vehicle.Speed'] },
  { type: 'write_signals_value', data: { 'Vehicle.Speed': 100 } },
  { type: 'get_signals_value', apis: ['Vehicle.Speed'] },
];

/** One valid payload of every Kit-Manager `cmd` (kit-manager-protocol.md), as carried by messageToKit. */
export const KIT_SEEDS: Array<Record<string, Json>> = [
  { cmd: 'run_python_app', usedAPIs: ['Vehicle.Speed'], data: { code: CODE, name: 'fuzz' } },
  { cmd: 'run_bin_app', usedAPIs: [], data: 'fuzz-bin' },
  { cmd: 'stop_python_app', data: {} },
  { cmd: 'deploy_request', code: CODE, prototype: { id: 'p1', name: 'P1' }, username: 'u', disable_code_convert: true },
  { cmd: 'subscribe_apis', apis: ['Vehicle.Speed'] },
  { cmd: 'unsubscribe_apis', apis: ['Vehicle.Speed'] },
  { cmd: 'write_signals_value', data: { 'Vehicle.Speed': 1 } },
  { cmd: 'list_mock_signal' },
  { cmd: 'set_mock_signals', data: [{ signal: 'Vehicle.Speed', value: '1' }] },
  { cmd: 'generate_vehicle_model', data: { Vehicle: { type: 'branch' } } },
  { cmd: 'revert_vehicle_model' },
  { cmd: 'list_python_packages' },
  { cmd: 'get-runtime-info' },
  { cmd: 'read-file', data: '/app/remote_access/signal-config.json' },
  { cmd: 'write-file', data: { path: '/app/remote_access/signal-config.json', content: '{}' } },
];

/** Strings that must stay data: traversal, shell metacharacters, NUL, lone surrogates, RTL, control chars. */
export function hostileStrings(sentinel: string): string[] {
  return [
    '', ' ', '\u0000', 'a\u0000b', '\ud800', '\udfff\ud800', '\u202e\u0645\u0631\u062d\u0628\u0627', '🚗💥'.repeat(50), '\r\n\t\f\v',
    '../../../../../../etc/passwd', `../../${sentinel}-rel`, `/tmp/${sentinel}-abs`, '..', '.', '/', 'C:\\Windows\\system32', '%2e%2e%2f',
    `$(touch /tmp/${sentinel}-sh1)`, `; touch /tmp/${sentinel}-sh2 #`, `\`touch /tmp/${sentinel}-sh3\``, `| touch /tmp/${sentinel}-sh4`,
    `x && touch /tmp/${sentinel}-sh5`, '--help', '-rf', '${jndi:ldap://127.0.0.1/x}', '{{7*7}}', '%s%s%s%n', 'null', 'undefined', 'NaN',
    '__proto__', 'constructor', 'prototype', 'hasOwnProperty', 'toString',
  ];
}

const ODD_NUMBERS_TEXT = ['1e400', '-1e400', '-0', '1e-400', '9007199254740993', '-9007199254740993', '0.1e1', '123456789012345678901234567890'];

export interface Fuzzed {
  /** The frame text as sent. */
  text: string;
  /** The id the agent should echo, when the mutation left a readable one; null when no id is to be expected. */
  id: string | null;
  /** What was done, for findings. */
  what: string;
}

function clone<T>(v: T): T { return JSON.parse(JSON.stringify(v)) as T; }

function deep(depth: number, leaf: Json, rng: Rng): Json {
  let v: Json = leaf;
  for (let i = 0; i < depth; i++) v = rng.chance(0.5) ? [v] : { a: v };
  return v;
}

function randomValue(rng: Rng, strings: string[], sizes: { hugeString: number; hugeArray: number; deep: number }): { v: Json; what: string } {
  switch (rng.int(14)) {
    case 0: return { v: null, what: 'null' };
    case 1: return { v: rng.chance(0.5), what: 'bool' };
    case 2: return { v: rng.pick([0, -1, 1.5, -0, 2 ** 31, 2 ** 53 + 2, -(2 ** 63), 1e308, -1e308, 5e-324]), what: 'number' };
    case 3: return { v: rng.pick(strings), what: 'hostile string' };
    case 4: return { v: 'x'.repeat(1 + rng.int(sizes.hugeString)), what: 'huge string' };
    case 5: return { v: Array.from({ length: 1 + rng.int(sizes.hugeArray) }, (_, i) => (i % 2 ? i : 'Vehicle.Speed')), what: 'huge array' };
    case 6: return { v: deep(1 + rng.int(sizes.deep), 'x', rng), what: 'deep nesting' };
    case 7: return { v: [], what: 'empty array' };
    case 8: return { v: {}, what: 'empty object' };
    case 9: return { v: JSON.parse('{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}}}') as Json, what: '__proto__ object' };
    case 10: return { v: [rng.pick(strings), rng.pick(strings)], what: 'array of hostile strings' };
    case 11: return { v: Object.fromEntries(Array.from({ length: 1 + rng.int(200) }, (_, i) => [`Vehicle.K${i}`, i])), what: 'wide object' };
    case 12: return { v: String.fromCharCode(...Array.from({ length: 64 }, () => rng.int(0x10000))), what: 'random UTF-16' };
    default: return { v: rng.pick(['true', '0', '[]', '{}', 'VEA-my-app', 'python', 'binary', 'docker', 'kuksa-server', 'mock-service']), what: 'plausible string' };
  }
}

function setPath(obj: Record<string, Json>, rng: Rng, value: Json): string {
  // pick an existing (possibly nested) key, or the top level
  const keys = Object.keys(obj);
  const k = rng.pick(keys);
  const inner = obj[k];
  if (inner && typeof inner === 'object' && !Array.isArray(inner) && rng.chance(0.5) && Object.keys(inner).length) {
    const k2 = rng.pick(Object.keys(inner));
    (inner as Record<string, Json>)[k2] = value;
    return `${k}.${k2}`;
  }
  obj[k] = value;
  return k;
}

export interface FuzzerOptions {
  nameKey: 'type' | 'cmd';
  seeds: Array<Record<string, Json>>;
  sentinel: string;
  /** Bounds of the big values; keep frames under the server's payload limit. */
  sizes?: { hugeString: number; hugeArray: number; deep: number };
}

/** Returns a generator of mutated frames with unique ids (`fz-<n>`) where the mutation keeps the id readable. */
export function makeFuzzer(rng: Rng, opts: FuzzerOptions): () => Fuzzed {
  const strings = hostileStrings(opts.sentinel);
  // Very deep frames are sent as raw text by the tests; here depth stays where JSON.stringify on our side copes.
  const sizes = opts.sizes ?? { hugeString: 200_000, hugeArray: 20_000, deep: 1500 };
  const small = { hugeString: 64, hugeArray: 8, deep: 8 };
  const names = opts.seeds.map((s) => s[opts.nameKey] as string);
  let n = 0;
  return () => {
    const id = `fz-${++n}`;
    const base = clone(rng.pick(opts.seeds));
    const frame: Record<string, Json> = { ...base, id };
    // Big values are rare so that 100 000 frames stay fast; most mutations are small and structural.
    const big = rng.chance(0.02);
    const valueOf = () => randomValue(rng, strings, big ? sizes : small);
    const mutations = 1 + rng.int(3);
    const what: string[] = [];
    let expectId: string | null = id;
    let rawSuffix: string | null = null;
    for (let m = 0; m < mutations; m++) {
      switch (rng.int(12)) {
        case 0: { // drop a field (never the name: that is case 6's job)
          const ks = Object.keys(frame).filter((k) => k !== opts.nameKey && k !== 'id');
          if (ks.length) { const k = rng.pick(ks); delete frame[k]; what.push(`drop ${k}`); }
          break;
        }
        case 1: case 2: case 3: { // replace a field with a value of another kind
          const { v, what: w } = valueOf();
          const ks = Object.keys(frame).filter((k) => k !== opts.nameKey && k !== 'id');
          if (ks.length) {
            const k = setPath(Object.fromEntries(ks.map((x) => [x, frame[x]!])) as Record<string, Json>, rng, v);
            const top = k.split('.')[0]!;
            if (k.includes('.')) { const o = frame[top]; if (o && typeof o === 'object' && !Array.isArray(o)) (o as Record<string, Json>)[k.split('.')[1]!] = v; }
            else frame[k] = v;
            what.push(`${k}=${w}`);
          }
          break;
        }
        case 4: { // an extra field
          const key = rng.pick(['extra', '__proto__', 'constructor', 'prototype', '', '\u0000', 'x'.repeat(300), 'appId', 'request_from', 'token']);
          const { v, what: w } = valueOf();
          Object.defineProperty(frame, key, { value: v, enumerable: true, configurable: true, writable: true });
          what.push(`extra ${key.slice(0, 12)}=${w}`);
          break;
        }
        case 5: { // the id itself
          const { v, what: w } = valueOf();
          frame.id = v;
          expectId = null;
          what.push(`id=${w}`);
          break;
        }
        case 6: { // the name: another type's, a near miss, or not a string
          const r = rng.int(4);
          if (r === 0) frame[opts.nameKey] = rng.pick(names);
          else if (r === 1) frame[opts.nameKey] = String(frame[opts.nameKey]).toUpperCase();
          else if (r === 2) frame[opts.nameKey] = `${String(frame[opts.nameKey])}\u0000`;
          else frame[opts.nameKey] = valueOf().v;
          what.push(`name mutated (${r})`);
          break;
        }
        case 7: { // unicode and NUL inside every string of the frame
          const s = rng.pick(strings);
          for (const k of Object.keys(frame)) if (k !== opts.nameKey && k !== 'id' && typeof frame[k] === 'string') frame[k] = `${frame[k] as string}${s}`;
          what.push('strings suffixed');
          break;
        }
        case 8: { // a number out of range, written as raw text (1e400 → Infinity on the other side)
          rawSuffix = `,"n":${rng.pick(ODD_NUMBERS_TEXT)},"lines":${rng.pick(ODD_NUMBERS_TEXT)}`;
          what.push('odd number text');
          break;
        }
        case 9: { // the whole body nested inside itself
          frame.prototype = deep(1 + rng.int(big ? sizes.deep : 16), clone(base), rng);
          what.push('nested prototype');
          break;
        }
        case 10: { // duplicate keys: the last one wins in JSON.parse; the first might be validated by a careless reader
          rawSuffix = `,"${opts.nameKey}":${JSON.stringify(rng.pick(names))},"appId":${JSON.stringify(rng.pick(strings))}`;
          what.push('duplicate keys');
          break;
        }
        default: { // every string field set to a hostile string (traversal, shell, NUL…)
          for (const k of Object.keys(frame)) if (k !== opts.nameKey && k !== 'id' && typeof frame[k] === 'string') frame[k] = rng.pick(strings);
          const proto = frame.prototype;
          if (proto && typeof proto === 'object' && !Array.isArray(proto)) {
            for (const k of ['id', 'name', 'type']) if (rng.chance(0.5)) (proto as Record<string, Json>)[k] = rng.pick(strings);
          }
          what.push('hostile strings');
        }
      }
    }
    let text: string;
    try { text = JSON.stringify(frame); } catch { text = JSON.stringify({ [opts.nameKey]: base[opts.nameKey]!, id, deep: 'too deep for the generator' }); }
    if (rawSuffix !== null && text.endsWith('}')) text = text.slice(0, -1) + rawSuffix + '}';
    return { text, id: expectId, what: `${String(base[opts.nameKey])}: ${what.join(', ')}` };
  };
}
