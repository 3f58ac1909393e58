// Injected at bundle time by scripts/build.mjs; falls back to package.json when run from source (tests, tsx).
declare const __SDV_AGENT_VERSION__: string | undefined;

export const VERSION: string = typeof __SDV_AGENT_VERSION__ === 'string'
  ? __SDV_AGENT_VERSION__
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  : (require('../package.json') as { version: string }).version;
