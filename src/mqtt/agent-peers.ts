// Whether a TCP client of the broker is one of the agent's own processes — an app, an ad-hoc run, anything the agent
// started, and anything those started while still below it — told from the kernel's tables, never from what the client
// says (a client id, an environment variable, a name: any process can forge those):
//   1. the client's end of the connection is the row of /proc/net/tcp (or tcp6) whose local address is the socket's
//      remote one and whose remote address is the broker's: its inode;
//   2. the agent's descendants are read down from the agent (/proc/<pid>/task/<tid>/children; without that file, the
//      parent of every process in /proc/<pid>/stat), and their open files (/proc/<pid>/fd) looked through for that
//      inode.
// A process the agent did not start cannot make itself the agent's descendant. What escapes: a child that detaches
// (double fork: it is reparented away), a container (docker apps: not below the agent, or in another network
// namespace), and a process in another network namespace; those count as anyone else. What it trusts: whoever can
// make the agent start a program (the local API without api.token, a Kit-Manager) can make one its own.
// The tables are read only when a client needs the answer (the shared slots are taken), in one pass for every client
// asking at that moment, at most one pass per MIN_GAP_MS; an answer that cannot be had (no /proc) is 'other'.
import fs = require('node:fs/promises');
import type * as net from 'node:net';
import type { PeerKind } from './slots';

const MIN_GAP_MS = 50;

interface Ask { readonly local: string; readonly remote: string; readonly resolve: (kind: PeerKind) => void }

export class AgentPeers {
  private asks: Ask[] = [];
  private running = false;
  private lastPass = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly root = process.pid, private readonly proc = '/proc') {}

  /** 'app' when the client end of `socket` is held open by a descendant of the agent. */
  kindOf(socket: net.Socket): Promise<PeerKind> {
    const local = endpoint(socket.remoteAddress, socket.remotePort);
    const remote = endpoint(socket.localAddress, socket.localPort);
    if (!local || !remote) return Promise.resolve('other');
    return new Promise((resolve) => { this.asks.push({ local, remote, resolve }); this.schedule(); });
  }

  private schedule(): void {
    if (this.running || this.timer) return;
    const wait = Math.max(0, this.lastPass + MIN_GAP_MS - Date.now());
    this.timer = setTimeout(() => { this.timer = null; void this.pass(); }, wait);
    this.timer.unref();
  }

  /** One look at the tables for every client asking now; those asking meanwhile wait for the next. */
  private async pass(): Promise<void> {
    this.running = true;
    this.lastPass = Date.now();
    const asks = this.asks;
    this.asks = [];
    let inodes = new Map<string, string>();
    let held = new Set<string>();
    try {
      inodes = await this.clientInodes(new Set(asks.map((a) => `${a.local} ${a.remote}`)));
      if (inodes.size > 0) held = await this.heldByDescendants(new Set(inodes.values()));
    } catch { /* no /proc: every client is 'other' */ }
    for (const a of asks) {
      const inode = inodes.get(`${a.local} ${a.remote}`);
      a.resolve(inode !== undefined && held.has(inode) ? 'app' : 'other');
    }
    this.running = false;
    if (this.asks.length > 0) this.schedule();
  }

  /** "local remote" → inode of the connections asked about, from /proc/net/tcp and tcp6. */
  private async clientInodes(wanted: Set<string>): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (const table of ['tcp', 'tcp6']) {
      const text = await fs.readFile(`${this.proc}/net/${table}`, 'latin1').catch(() => '');
      for (const line of text.split('\n')) {
        const f = line.trim().split(/\s+/);
        if (f.length < 10 || f[3] !== '01') continue; // ESTABLISHED only
        const key = `${procEndpoint(f[1]!)} ${procEndpoint(f[2]!)}`;
        if (wanted.has(key)) out.set(key, f[9]!);
      }
    }
    return out;
  }

  /** The socket inodes among `inodes` that a descendant of the agent holds open. */
  private async heldByDescendants(inodes: Set<string>): Promise<Set<string>> {
    const found = new Set<string>();
    for (const pid of await this.descendants()) {
      const fds = await fs.readdir(`${this.proc}/${pid}/fd`).catch(() => [] as string[]);
      const links = await Promise.all(fds.map((fd) => fs.readlink(`${this.proc}/${pid}/fd/${fd}`).catch(() => '')));
      for (const l of links) {
        const m = /^socket:\[(\d+)\]$/.exec(l);
        if (m && inodes.has(m[1]!)) found.add(m[1]!);
      }
      if (found.size === inodes.size) break;
    }
    return found;
  }

  /** Every process below the agent (not the agent itself). */
  private async descendants(): Promise<number[]> {
    const out: number[] = [];
    const queue = [this.root];
    let children: ((pid: number) => Promise<number[]>) | null = (pid) => this.childrenOf(pid);
    try { await fs.access(`${this.proc}/${this.root}/task/${this.root}/children`); } catch { children = null; }
    if (!children) {
      const byParent = await this.parentsFromStat();
      children = async (pid) => byParent.get(pid) ?? [];
    }
    while (queue.length > 0) {
      for (const c of await children(queue.shift()!)) { out.push(c); queue.push(c); }
    }
    return out;
  }

  private async childrenOf(pid: number): Promise<number[]> {
    const tasks = await fs.readdir(`${this.proc}/${pid}/task`).catch(() => [] as string[]);
    const lists = await Promise.all(tasks.map((tid) => fs.readFile(`${this.proc}/${pid}/task/${tid}/children`, 'latin1').catch(() => '')));
    return lists.flatMap((l) => l.split(' ').filter((s) => s !== '').map(Number));
  }

  /** parent → children for every process, from /proc/<pid>/stat (kernels without the children file). */
  private async parentsFromStat(): Promise<Map<number, number[]>> {
    const out = new Map<number, number[]>();
    const pids = (await fs.readdir(this.proc)).filter((n) => /^\d+$/.test(n));
    const stats = await Promise.all(pids.map((p) => fs.readFile(`${this.proc}/${p}/stat`, 'latin1').catch(() => '')));
    stats.forEach((stat, i) => {
      if (!stat) return;
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = out.get(ppid) ?? [];
      list.push(Number(pids[i]));
      out.set(ppid, list);
    });
    return out;
  }
}

/** "address:port" with the address as 16 bytes of hex (IPv4 as IPv4-mapped IPv6), or null when it cannot be read. */
export function endpoint(address: string | undefined, port: number | undefined): string | null {
  if (!address || !port) return null;
  const bytes = ipBytes(address);
  return bytes ? `${bytes}:${port}` : null;
}

/** The same form from a /proc/net/tcp{,6} field: hex address (32-bit words in host order, little-endian here), hex port. */
export function procEndpoint(field: string): string {
  const [hex, port] = field.split(':') as [string, string];
  const words = hex.match(/.{8}/g) ?? [];
  const bytes = words.map((w) => w.match(/../g)!.reverse().join('')).join('').toLowerCase();
  return `${bytes.length === 8 ? `00000000000000000000ffff${bytes}` : bytes}:${parseInt(port, 16)}`;
}

/** An IPv4 or IPv6 address as 32 hex digits (IPv4 and IPv4-mapped alike), or null. */
function ipBytes(address: string): string | null {
  const v4 = /^(?:::ffff:)?(\d+)\.(\d+)\.(\d+)\.(\d+)$/i.exec(address);
  if (v4) return '00000000000000000000ffff' + v4.slice(1).map((o) => Number(o).toString(16).padStart(2, '0')).join('');
  const [head, tail, extra] = address.split('::');
  if (extra !== undefined) return null;
  const a = head ? head.split(':') : [];
  const b = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const fill = tail === undefined ? 0 : 8 - a.length - b.length;
  const groups = [...a, ...Array(Math.max(0, fill)).fill('0'), ...b];
  if (groups.length !== 8 || groups.some((g) => !/^[0-9a-f]{1,4}$/i.test(g))) return null;
  return groups.map((g) => g.padStart(4, '0')).join('').toLowerCase();
}
