// podman with runc for the container checks: a base image imported from the debootstrapped rootfs (no registry is
// reachable), image builds, and containers driven from outside with `podman exec` (each runs with --network none:
// only loopback, so nothing collides with the host's ports; the local API is reached by container/sdv-api.py inside).
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { Inside, sleep, type Frame, type Run } from './inside';

export function podman(args: string[], opts: { input?: string | Buffer; timeoutMs?: number } = {}): Run {
  const r = spawnSync('podman', args, { encoding: 'utf8', input: opts.input, timeout: opts.timeoutMs ?? 300_000, maxBuffer: 64 * 1024 * 1024 });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? (r.error ? String(r.error) : '') };
}

function must(r: Run, what: string): Run {
  if (r.status !== 0) throw new Error(`${what} failed (${r.status}): ${(r.stderr || r.stdout).slice(-3000)}`);
  return r;
}

/** `podman import` of the rootfs, once per rootfs (its folder name carries the hash of what went in). */
export function baseImage(rootfs: string): string {
  const tag = `localhost/sdv-ci-base:${path.basename(rootfs)}`;
  if (podman(['image', 'exists', tag]).status !== 0) {
    const tar = spawnSync('tar', ['-C', rootfs, '-c', '.'], { maxBuffer: 2 * 1024 * 1024 * 1024 });
    if (tar.status !== 0) throw new Error(`tar of ${rootfs} failed: ${tar.stderr}`);
    must(podman(['import', '-', tag], { input: tar.stdout }), 'podman import');
  }
  return tag;
}

export function build(tag: string, context: string, containerfile: string, args: Record<string, string> = {}): void {
  must(podman(['build', '--runtime', 'runc', '--network', 'none', '-q', '-t', tag, '-f', containerfile,
    ...Object.entries(args).flatMap(([k, v]) => ['--build-arg', `${k}=${v}`]), context], { timeoutMs: 600_000 }), `podman build ${tag}`);
}

/**
 * Resource limits given to every container: podman asks runc for rlimits above this process's hard limits by default
 * (nofile 1048576, nproc 4194304), which only a caller with CAP_SYS_RESOURCE may set; CI machines may not have it.
 */
export function limits(): string[] {
  const hard = Number(spawnSync('sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8' }).stdout.trim()) || 65536;
  const nofile = Math.min(hard, 65536);
  return ['--ulimit', `nofile=${nofile}:${nofile}`, '--ulimit', 'nproc=4096:4096'];
}

export class Container extends Inside {
  private constructor(readonly name: string, protected readonly apiScript: string) { super(); }

  /** `podman run -d` with runc, no network and the limits above; args go before the image. */
  static run(name: string, image: string, args: string[], apiScript: string, command: string[] = []): Container {
    podman(['rm', '-f', name]);
    must(podman(['run', '-d', '--name', name, '--runtime', 'runc', '--network', 'none', ...limits(), ...args, image, ...command]), `podman run ${name}`);
    return new Container(name, apiScript);
  }

  exec(argv: string[], opts: { input?: string; timeoutMs?: number } = {}): Run { return podman(['exec', ...(opts.input !== undefined ? ['-i'] : []), this.name, ...argv], opts); }

  /** GET /health from inside, polled until it answers 200 (or timeoutMs); the parsed body. */
  async health(timeoutMs = 30_000): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    const code = 'import json, urllib.request; print(json.dumps(json.load(urllib.request.urlopen("http://127.0.0.1:3003/health", timeout=2))))';
    for (;;) {
      const r = this.exec(['python3', '-c', code]);
      if (r.status === 0) return JSON.parse(r.stdout) as Frame;
      if (Date.now() > deadline) throw new Error(`/health did not answer in ${timeoutMs} ms: ${r.stderr.slice(-500)}\n${this.logs().slice(-2000)}`);
      await sleep(300);
    }
  }

  /** Processes in state Z (zombies), as "pid ppid comm". */
  zombies(): string[] {
    const r = this.exec(['ps', '-eo', 'stat=,pid=,ppid=,comm=']);
    return r.stdout.split('\n').map((l) => l.trim()).filter((l) => l.startsWith('Z')).map((l) => l.slice(l.indexOf(' ') + 1).trim());
  }

  processes(): string { return this.exec(['ps', '-eo', 'pid,ppid,stat,args']).stdout; }

  /** `podman stop` (default 10 s timeout before SIGKILL): its exit status, how long it took, the container's exit code. */
  stop(): { status: number | null; ms: number; exitCode: number } {
    const t0 = Date.now();
    const r = podman(['stop', this.name]);
    const ms = Date.now() - t0;
    return { status: r.status, ms, exitCode: Number(podman(['inspect', '--format', '{{.State.ExitCode}}', this.name]).stdout.trim()) };
  }

  start(): void { must(podman(['start', this.name]), `podman start ${this.name}`); }

  /** A file from the container's file system (also when it is stopped). */
  read(file: string): string {
    const r = podman(['cp', `${this.name}:${file}`, '-']);
    if (r.status !== 0) throw new Error(`podman cp ${file}: ${r.stderr}`);
    // `podman cp … -` writes a tar stream: the one file's content sits after the 512-byte header.
    const size = parseInt(r.stdout.slice(124, 135), 8);
    return r.stdout.slice(512, 512 + size);
  }

  logs(): string { const r = podman(['logs', this.name]); return r.stdout + r.stderr; }

  remove(): void { podman(['rm', '-f', '-t', '0', this.name]); }
}
