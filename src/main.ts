// sdv-agent CLI: parse arguments, load and validate the config, start the agent, stop cleanly on SIGTERM/SIGINT.
// Exit codes: 0 success, 2 bad usage or bad config, 1 runtime failure.
import { ConfigError, envName, loadConfig, maskedConfig } from './config';
import { ListenError } from './core/errors';
import { closeLogger, createLogger, type Logger } from './log';
import { startAgent, type RunningAgent } from './agent';
import { VERSION } from './version';
import { createSystemdNotifier } from './systemd';
import { settleHeapLater } from './core/heap';
import { stringify as toYaml } from 'yaml';

const USAGE = `Usage: sdv-agent [--config FILE] [--check-config] [--print-config] [--version] [--help]

  --config FILE     YAML config file (default: $SDV_AGENT_CONFIG, else built-in defaults)
  --check-config    validate the config and exit (0 valid, 2 invalid)
  --print-config    print the effective config, secrets masked, and exit
  --version         print the version and exit
  --help            print this help and exit

Every key can also be set by environment, e.g. api.port → SDV_AGENT_API_PORT.
RUNTIME_NAME and SYNCER_SERVER_URL set runtime.name and kitManager.url (sdv-runtime container).
`;

/** The heap-settling collections after start (core/heap.ts): from ready to the first, and from it to the second. */
const HEAP_SETTLE = { afterMs: 5_000, gapMs: 3_000 };

interface Args { config: string | null; check: boolean; print: boolean; version: boolean; help: boolean }

function parseArgs(argv: string[]): Args {
  const a: Args = { config: null, check: false, print: false, version: false, help: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.startsWith('--config=') ? arg.slice('--config='.length) : null;
    if (eq !== null) { if (!eq) throw new UsageError('--config needs a file'); a.config = eq; }
    else if (arg === '--config') {
      const v = argv[++i];
      if (!v) throw new UsageError('--config needs a file');
      a.config = v;
    } else if (arg === '--check-config') a.check = true;
    else if (arg === '--print-config') a.print = true;
    else if (arg === '--version' || arg === '-v') a.version = true;
    else if (arg === '--help' || arg === '-h') a.help = true;
    else throw new UsageError(`unknown argument: ${arg}`);
  }
  return a;
}

class UsageError extends Error {}

/** How the process ends: its exit code, and the logger whose last lines must reach stdout first. */
interface Outcome { code: number; log?: Logger }

async function main(): Promise<Outcome> {
  // What ps, top and systemd show: otherwise "node" for the bundle and "MainThread" for the single binary.
  process.title = 'sdv-agent';
  let args: Args;
  try { args = parseArgs(process.argv.slice(2)); } catch (e) {
    process.stderr.write(`sdv-agent: ${(e as Error).message}\n\n${USAGE}`);
    return { code: 2 };
  }
  if (args.help) { process.stdout.write(USAGE); return { code: 0 }; }
  if (args.version) { process.stdout.write(`${VERSION}\n`); return { code: 0 }; }

  let config;
  try {
    config = loadConfig(args.config ?? process.env.SDV_AGENT_CONFIG ?? null).config;
  } catch (e) {
    if (e instanceof ConfigError) { process.stderr.write(`sdv-agent: invalid config: ${e.message}\n`); return { code: 2 }; }
    throw e;
  }
  if (args.print) { process.stdout.write(toYaml(maskedConfig(config))); return { code: 0 }; }
  if (args.check) { process.stdout.write('config OK\n'); return { code: 0 }; }

  const log = createLogger(config.log.level);
  let agent: RunningAgent;
  try {
    agent = await startAgent(config, log);
  } catch (e) {
    if (e instanceof ListenError) {
      // One line that says what to change; a stack trace would only hide it.
      log.fatal({ key: e.key, address: e.address, code: e.errno }, `start failed: ${e.message}; ${e.errno === 'EADDRINUSE' ? 'stop what listens there, or ' : ''}set ${e.key} (${envName(e.key)})`);
    } else {
      log.fatal({ err: e }, 'start failed');
    }
    return { code: 1, log };
  }
  // startAgent resolves once the local API and health listen and the parts (app registry) are restored.
  const systemd = createSystemdNotifier(log);
  systemd.ready(`serving: local API port ${agent.apiPort}, health port ${agent.healthPort}`);
  // Start-up's garbage out of the committed heap, seconds after READY=1 when the start's background work (the
  // interpreter probe, the first Kit-Manager connect) has usually ended: /health and READY=1 never wait for it.
  const unsettle = settleHeapLater(HEAP_SETTLE.afterMs, HEAP_SETTLE.gapMs, (r) => log.debug({ ...r, gcMs: Math.round(r.gcMs) }, 'heap settled after start'));
  const code = await new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, 'stopping');
      unsettle();
      systemd.stopping();
      const hard = setTimeout(() => { log.error('stop took too long; exiting'); resolve(1); }, 15_000);
      hard.unref();
      agent.stop().then(() => { clearTimeout(hard); log.info('stopped'); resolve(0); }, (e) => { log.error({ err: e }, 'stop failed'); resolve(1); });
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('uncaughtException', (e) => { logCrash(log, e); });
    process.on('unhandledRejection', (e) => { logCrash(log, e); });
  });
  return { code, log };
}

/** A bug in one handler must not take every app down with it: log loudly and keep serving. */
function logCrash(log: Logger, e: unknown): void {
  log.error({ err: e }, 'unexpected error (the agent keeps running)');
}

main().then(
  async ({ code, log }) => {
    process.exitCode = code;
    // Bounded: a stdout whose reader is gone must not keep the process from exiting (systemctl stop would wait).
    if (log) await closeLogger(log);
    process.exit(code);
  },
  (e) => { process.stderr.write(`sdv-agent: ${(e as Error)?.stack ?? e}\n`); process.exit(1); },
);
