// The environment every child process starts from: a short allow-list of the agent's own environment, never all of
// it. The agent's environment carries its secrets (SDV_AGENT_API_TOKEN, SDV_AGENT_KIT_MANAGER_TOKEN,
// SDV_AGENT_KUKSA_TOKEN, whatever else a unit's Environment= holds); user code — apps, ad-hoc runs, pip and the
// setup.py files it runs, compilers and the programs they make, the model generator — gets only names that say where
// things are. Whatever a pattern matches, no SDV_AGENT_* name is ever passed on.

/** Every child: where programs are, the language and time zone, the temp folder. */
const BASE: readonly (string | RegExp)[] = ['PATH', 'LANG', 'LANGUAGE', /^LC_[A-Z_]+$/, 'TZ', 'TMPDIR'];

/** Programs that download (pip): the proxy and CA settings an operator gives the box, and pip's own settings. */
export const NETWORK_ENV: readonly (string | RegExp)[] = [
  /^(http|https|ftp|no|all)_proxy$/i, 'SSL_CERT_FILE', 'SSL_CERT_DIR', 'REQUESTS_CA_BUNDLE', 'CURL_CA_BUNDLE', /^PIP_/,
];

/** Compilers: where the Rust toolchain lives, and the usual search paths of a C++ build. */
export const BUILD_ENV: readonly (string | RegExp)[] = [
  'CARGO_HOME', 'RUSTUP_HOME', 'RUSTUP_TOOLCHAIN', 'LIBRARY_PATH', 'CPATH', 'C_INCLUDE_PATH', 'CPLUS_INCLUDE_PATH', 'PKG_CONFIG_PATH',
];

const NONE: readonly (string | RegExp)[] = [];
/** Reading process.env is slow (every name a lookup in the C++ side): the agent's own is filtered once per list. */
const cache = new WeakMap<readonly (string | RegExp)[], Record<string, string>>();

/** The allowed part of `from` (the agent's environment): BASE plus `extra`. A new object each call. */
export function inheritedEnv(extra: readonly (string | RegExp)[] = NONE, from: NodeJS.ProcessEnv = process.env): Record<string, string> {
  if (from !== process.env) return pick(extra, from);
  let env = cache.get(extra);
  if (!env) cache.set(extra, (env = pick(extra, from)));
  return { ...env };
}

function pick(extra: readonly (string | RegExp)[], from: NodeJS.ProcessEnv): Record<string, string> {
  const allowed = [...BASE, ...extra];
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(from)) {
    if (v === undefined || k.startsWith('SDV_AGENT_')) continue;
    if (allowed.some((a) => (typeof a === 'string' ? a === k : a.test(k)))) out[k] = v;
  }
  return out;
}
