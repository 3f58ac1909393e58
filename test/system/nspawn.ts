// A Debian box booted with systemd-nspawn: a copy of the debootstrapped rootfs (scripts/debian-rootfs.sh) with a
// real systemd as PID 1, its own network namespace (only loopback, so nothing collides with the host's ports), and
// the repository bind-mounted read-only at /src. Commands run inside through nsenter into the box's PID 1.
//
// --register=no --keep-unit: the host's PID 1 is not systemd here, so there is no machined to register with and no
// manager to make a scope unit. A reboot inside makes systemd-nspawn exit with 133 (what systemd-nspawn@.service
// restarts on, RestartForceExitStatus=133); reboot() boots the same tree again, as that unit would.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Inside, sleep, type Run } from './inside';

export const ROOT = path.resolve(__dirname, '..', '..');

export class NspawnBox extends Inside {
  protected readonly apiScript = '/src/container/sdv-api.py';
  private proc: ChildProcess | null = null;
  private exit: Promise<number | null> = Promise.resolve(null);
  private leader = 0;
  boots = 0;

  private constructor(readonly dir: string, readonly name: string) { super(); }

  /** Copies rootfs into a fresh folder under .cache/ and boots it. */
  static async boot(rootfs: string, name: string): Promise<NspawnBox> {
    const dir = path.join(ROOT, '.cache', 'system-checks', `${name}-${process.pid}`);
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir, { recursive: true });
    const cp = spawnSync('cp', ['-a', '--reflink=auto', rootfs, path.join(dir, 'root')], { encoding: 'utf8' });
    if (cp.status !== 0) throw new Error(`copying the rootfs failed: ${cp.stderr}`);
    // The rootfs carries mosquitto for the container checks; the box checks the agent alone.
    fs.symlinkSync('/dev/null', path.join(dir, 'root', 'etc', 'systemd', 'system', 'mosquitto.service'));
    const box = new NspawnBox(dir, name);
    await box.start();
    return box;
  }

  get root(): string { return path.join(this.dir, 'root'); }
  get consoleLog(): string { return path.join(this.dir, `console-${this.boots}.log`); }

  private async start(): Promise<void> {
    this.boots++;
    const out = fs.openSync(this.consoleLog, 'w');
    const proc = spawn('systemd-nspawn', ['--boot', '--register=no', '--keep-unit', '--private-network', '--quiet',
      `--machine=${this.name}`, '-D', this.root, `--bind-ro=${ROOT}:/src`], { stdio: ['ignore', out, out] });
    fs.closeSync(out);
    this.proc = proc;
    this.exit = new Promise((r) => proc.on('exit', (code) => r(code)));
    const deadline = Date.now() + 90_000;
    while (Date.now() < deadline) {
      if (proc.exitCode !== null) throw new Error(`systemd-nspawn exited with ${proc.exitCode}: ${this.tail()}`);
      try {
        const kids = fs.readFileSync(`/proc/${proc.pid}/task/${proc.pid}/children`, 'utf8').trim().split(' ').filter(Boolean);
        if (kids.length) {
          this.leader = Number(kids[0]);
          const r = this.exec(['systemctl', 'is-system-running', '--wait'], { timeoutMs: Math.max(1000, deadline - Date.now()) });
          if (/^(running|degraded)/.test(r.stdout)) return;
        }
      } catch { /* not up yet */ }
      await sleep(200);
    }
    throw new Error(`the box did not finish booting in 90 s: ${this.tail()}`);
  }

  tail(): string {
    try { return fs.readFileSync(this.consoleLog, 'utf8').split('\n').slice(-15).join('\n'); } catch { return ''; }
  }

  /** Runs argv inside the box (all namespaces of its PID 1) with a clean environment. */
  exec(argv: string[], opts: { input?: string; timeoutMs?: number } = {}): Run {
    const r = spawnSync('nsenter', ['-t', String(this.leader), '-a', '--', 'env', '-i', 'PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'LANG=C.UTF-8', ...argv], {
      encoding: 'utf8', input: opts.input, timeout: opts.timeoutMs ?? 60_000, maxBuffer: 64 * 1024 * 1024,
    });
    return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? (r.error ? String(r.error) : '') };
  }

  sh(script: string, timeoutMs?: number): Run { return this.exec(['sh', '-c', script], { timeoutMs }); }

  /** `systemctl show -p …` as a map. */
  show(unit: string, ...props: string[]): Record<string, string> {
    const r = this.exec(['systemctl', 'show', unit, ...props.map((p) => `--property=${p}`)]);
    const out: Record<string, string> = {};
    for (const line of r.stdout.split('\n')) { const i = line.indexOf('='); if (i > 0) out[line.slice(0, i)] = line.slice(i + 1); }
    return out;
  }

  /** `systemctl reboot` inside, systemd-nspawn's exit 133, and the same tree booted again. */
  async reboot(): Promise<number | null> {
    this.exec(['systemctl', 'reboot']);
    const code = await Promise.race([this.exit, sleep(60_000).then(() => 'timeout' as const)]);
    if (code === 'timeout') throw new Error(`the box did not go down in 60 s: ${this.tail()}`);
    await this.start();
    return code;
  }

  /** Powers the box off at once (reboot(2) in the box, no unit stopped: the tree is thrown away) and removes its folder. */
  async destroy(): Promise<void> {
    if (this.proc && this.proc.exitCode === null) {
      this.exec(['systemctl', 'poweroff', '--force', '--force'], { timeoutMs: 10_000 });
      const t = setTimeout(() => this.proc?.kill('SIGKILL'), 30_000);
      await this.exit;
      clearTimeout(t);
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
