// Python packages in packages.dir (default dataDir/python-packages; on every python app's PYTHONPATH): list them, install more with pip.
// pip is run by core/child-runner (an argument vector, never a shell) and is given only requirements rebuilt by requirement.ts.
// One install at a time; a second is refused with a clear message. Time limit packages.installTimeoutS; the output
// kept for the final reply is bounded (its tail, MAX_KEPT_OUTPUT), lines are streamed as they come. With apps.runAs,
// pip (and any setup.py it runs) runs as that user, and the folder is that user's.
import fs = require('node:fs');
import path = require('node:path');
import { inheritedEnv, NETWORK_ENV } from '../user-code/child-env';
import type { Config } from '../config';
import type { Logger } from '../log';
import type { Requirement } from './requirement';
import { letPass, type RunAs } from '../user-code/run-as';
import { runChild } from '../core/child-runner';
import { handOverTree } from '../user-code/user-files';
import { pythonPackagesDir } from '../user-code/python-folders';

/** The last this-many bytes of pip's output are kept for the final reply; older text is dropped with a marker. */
export const MAX_KEPT_OUTPUT = 64 * 1024;
/** pip's last lines that go into the log line of a failed install (the reply carries the whole kept output). */
const LOGGED_LINES = 5;
/** list_python_packages reads at most this many packages, and this much of each METADATA (its head is a few lines). */
const MAX_LISTED = 10_000;
const METADATA_BYTES = 64 * 1024;

export class InstallError extends Error {
  override name = 'InstallError';
  constructor(readonly kind: 'busy' | 'failed' | 'unavailable' | 'timeout', message: string, readonly output = '') { super(message); }
}

export interface InstallResult { readonly output: string }

export class PackageInstaller {
  readonly dir: string;
  /** Stops the install that is running. */
  private running: AbortController | null = null;

  /** target: another folder than packages.dir, and pip's empty working folder for it (a project's own packages). */
  constructor(private readonly config: Config, private readonly log: Logger, private readonly runAs: RunAs | null = null, private readonly target?: { dir: string; cwd: string }) {
    this.dir = target?.dir ?? pythonPackagesDir(config);
  }

  get busy(): boolean { return this.running !== null; }

  /** `pip freeze` form, read from the *.dist-info METADATA files directly: no process, no shell. */
  list(): string {
    let entries: string[];
    try { entries = fs.readdirSync(this.dir); } catch { return ''; }
    const found: Array<{ name: string; version: string }> = [];
    for (const e of entries.filter((n) => n.endsWith('.dist-info')).slice(0, MAX_LISTED)) {
      const meta = metadataHead(path.join(this.dir, e));
      if (meta === null) continue;
      const head = meta.split(/\r?\n\r?\n/, 1)[0]!;
      const name = /^Name:\s*(.+)$/m.exec(head)?.[1]?.trim();
      const version = /^Version:\s*(.+)$/m.exec(head)?.[1]?.trim();
      if (name && version) found.push({ name, version });
    }
    found.sort((a, b) => a.name.toLowerCase().localeCompare(b.name.toLowerCase()));
    return found.map((p) => `${p.name}==${p.version}`).join('\n');
  }

  /** The argument vector given to apps.python (exported for the README and tests). */
  pipArgs(reqs: readonly Requirement[]): string[] {
    // --no-color: the output is shown in a web page's log, where terminal colour codes are noise.
    const args = ['-m', 'pip', 'install', '--target', this.dir, '--upgrade', '--disable-pip-version-check', '--no-input', '--no-color'];
    if (this.config.packages.findLinks) args.push('--no-index', '--find-links', path.resolve(this.config.packages.findLinks));
    // "--" ends pip's options: even a name that slipped past validation could not be read as an option.
    return [...args, '--', ...reqs.map((r) => r.text)];
  }

  /** Installs; onOutput gets pip's output as it comes. Rejects with InstallError. */
  install(reqs: readonly Requirement[], onOutput: (text: string) => void): Promise<InstallResult> {
    if (this.running) return Promise.reject(new InstallError('busy', 'an install is already running; try again when it has finished'));
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o755 });
    try { handOverTree(this.runAs, this.dir); } catch (e) {
      return Promise.reject(new InstallError('failed', `cannot hand ${this.dir} to apps.runAs ${this.runAs?.name}: ${(e as Error).message}`));
    }
    let cwd: string;
    try { cwd = this.emptyCwd(); } catch (e) {
      return Promise.reject(new InstallError('failed', `cannot prepare pip's working folder: ${(e as Error).message}`));
    }
    const python = this.config.apps.python;
    const args = this.pipArgs(reqs);
    this.log.info({ python, packages: reqs.map((r) => r.text) }, 'installing python packages');
    const stop = new AbortController();
    this.running = stop;
    const limitS = this.config.packages.installTimeoutS;
    const run = runChild({
      file: python, args, cwd, signal: stop.signal,
      // Its own process group (the runner's): a timeout kills pip and any build it started.
      timeoutMs: limitS * 1000, runAs: this.runAs,
      env: {
        ...inheritedEnv(NETWORK_ENV), PIP_NO_INPUT: '1', PIP_DISABLE_PIP_VERSION_CHECK: '1', PYTHONUNBUFFERED: '1',
        // pip's "running as root" warning is noise in a page: the agent installs into its own --target folder.
        PIP_ROOT_USER_ACTION: 'ignore',
        // The run user has no home of its own here: no cache, and HOME where it may write.
        ...(this.runAs ? { HOME: this.dir, PIP_NO_CACHE_DIR: '1' } : process.env.HOME ? { HOME: process.env.HOME } : {}),
      },
      // The reply keeps pip's last MAX_KEPT_OUTPUT bytes, both streams as they came.
      mergeStderr: true, keep: 'tail', maxKeptBytes: MAX_KEPT_OUTPUT,
      onOutput: (_stream, chunk) => {
        try { onOutput(chunk.toString('utf8')); } catch (e) { this.log.error({ err: e }, 'install output consumer failed'); }
      },
    });
    return run.then((r) => {
      this.running = null;
      const code = r.exitCode;
      const output = (r.droppedBytes > 0 ? '[… earlier output dropped]\n' : '') + r.stdout;
      const packages = reqs.map((req) => req.text);
      // A failure is logged as well as answered: the one who asked may be gone, the box's operator reads the log.
      const failed = (e: InstallError): never => {
        this.log.warn({ packages, exitCode: code, reason: e.message, lastLines: lastLines(output, LOGGED_LINES) }, 'python packages not installed');
        throw e;
      };
      if (r.startError) {
        return failed(new InstallError('unavailable', r.notInstalled
          ? `python interpreter "${python}" not found (set apps.python)` : `cannot start ${python}: ${r.startError.message}`));
      }
      if (r.timedOut) return failed(new InstallError('timeout', `the install took longer than ${limitS} s (packages.installTimeoutS) and was stopped`, output));
      if (code !== 0) return failed(new InstallError('failed', explainFailure(output, python, code), output));
      this.log.info({ packages }, 'python packages installed');
      return { output };
    });
  }

  /**
   * pip reads a requirement that names an existing file or folder of its working folder as that path: it runs in an
   * empty folder of the agent's, where no one else can put anything (the run user may only pass through it).
   */
  private emptyCwd(): string {
    const dir = this.target?.cwd ?? path.join(this.config.runtime.dataDir, 'pip-cwd');
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir, { mode: 0o700 });
    letPass(this.runAs, dir);
    return dir;
  }

  /** Agent shutdown: a running install is killed (its whole process group). */
  stop(): void { this.running?.abort(); }
}

/**
 * The start of a package's METADATA in the packages folder, which the run user can write: never through a link, never
 * anything but a regular file (a FIFO there would hold the agent in open(2)), at most METADATA_BYTES; null otherwise.
 */
function metadataHead(distInfo: string): string | null {
  try { if (!fs.lstatSync(distInfo).isDirectory()) return null; } catch { return null; }
  let fd: number;
  try { fd = fs.openSync(path.join(distInfo, 'METADATA'), fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK); } catch { return null; }
  try {
    if (!fs.fstatSync(fd).isFile()) return null;
    const buf = Buffer.alloc(METADATA_BYTES);
    return buf.subarray(0, fs.readSync(fd, buf, 0, buf.length, 0)).toString('utf8');
  } catch { return null; } finally { fs.closeSync(fd); }
}

function lastLines(output: string, n: number): string[] {
  return output.split(/\r?\n/).map((l) => l.trimEnd()).filter(Boolean).slice(-n).map((l) => l.slice(0, 300));
}

/** One plain sentence for the usual causes; pip's own text follows in the reply's data. */
function explainFailure(output: string, python: string, code: number | null): string {
  if (/No module named pip/.test(output)) return `pip is not installed for ${python}`;
  if (/NewConnectionError|Failed to establish a new connection|Temporary failure in name resolution|Name or service not known|Network is unreachable|ConnectTimeoutError|ProxyError|SSLError/.test(output)) {
    return 'the package index could not be reached (no network, proxy or DNS problem)';
  }
  if (/No matching distribution found|Could not find a version that satisfies/.test(output)) {
    const m = /No matching distribution found for (\S+)/.exec(output);
    return `no matching package found${m ? ` for ${m[1]}` : ''} (or the package index could not be reached)`;
  }
  return `pip failed with exit code ${code ?? 'signal'}`;
}
