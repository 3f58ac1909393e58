// Watched variables of a running python program (run_python_app with data.watch_vars).
// The program runs under resources/tracer/sdv_trace.py (standard library only), which talks to the agent over a
// private unix socket in a 0700 folder (never stdout, so the program's output stays untouched): it reports changed
// watched variables as {"vars": {...}} lines; the agent sends {"set": {...}} lines for set_vars_value.
// Bounds: MAX_WATCHED names, MAX_LINE bytes per line from the tracer (a longer line closes the channel), one
// tracer connection per channel; values the tracer sends are already size-capped by it.
import fs = require('node:fs');
import net = require('node:net');
import os = require('node:os');
import path = require('node:path');
import { resourcePath } from '../resources';
import { letPass, type RunAs } from '../user-code/run-as';

export const MAX_WATCHED = 64;
const MAX_LINE = 256 * 1024;
const NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

/** Words that can never name a python variable. */
const KEYWORDS = new Set(['False', 'None', 'True', 'and', 'as', 'assert', 'async', 'await', 'break', 'class', 'continue', 'def',
  'del', 'elif', 'else', 'except', 'finally', 'for', 'from', 'global', 'if', 'import', 'in', 'is', 'lambda', 'nonlocal',
  'not', 'or', 'pass', 'raise', 'return', 'try', 'while', 'with', 'yield']);

/**
 * "a b c", "a, b" or ["a","b"] → the python variable names to watch, and what was skipped (the first few, and how
 * many). Never throws: the names come from free text in the playground, and one that cannot be a variable must not
 * stop the run.
 */
export function splitWatchVars(input: unknown): { names: string[]; skipped: string[]; skippedCount: number } {
  const names: string[] = [];
  const skipped: string[] = [];
  let skippedCount = 0;
  const skip = (v: unknown) => {
    skippedCount++;
    if (skipped.length < 10) skipped.push(typeof v === 'string' ? v.slice(0, 60) : JSON.stringify(v)?.slice(0, 60) ?? String(v));
  };
  let raw: unknown[];
  if (typeof input === 'string') raw = input.split(/[\s,]+/).filter((s) => s !== '');
  else if (Array.isArray(input)) raw = input;
  else { skip(input); return { names, skipped, skippedCount }; }
  for (const n of raw) {
    if (typeof n !== 'string' || !NAME.test(n) || KEYWORDS.has(n)) skip(n);
    else if (names.includes(n)) continue;
    else if (names.length >= MAX_WATCHED) skip(n);
    else names.push(n);
  }
  return { names, skipped, skippedCount };
}

export function tracerScript(): string { return resourcePath('resources/tracer/sdv_trace.py'); }

export class TraceChannel {
  private readonly dir: string;
  private readonly server: net.Server;
  private peer: net.Socket | null = null;
  private closed = false;
  /** Environment for the traced program. */
  readonly env: Record<string, string>;

  private constructor(readonly watch: readonly string[], private readonly onVars: (vars: Record<string, unknown>) => void) {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sdv-trace-'));
    fs.chmodSync(this.dir, 0o700);
    const sock = path.join(this.dir, 's');
    this.env = { SDV_TRACE_SOCK: sock, SDV_TRACE_VARS: watch.join(',') };
    this.server = net.createServer((s) => this.accept(s));
  }

  /**
   * With runAs, the socket is the run user's (the traced program runs as that user) and the folder lets it pass
   * (0711) but stays the agent's, so nothing can be planted in it and removing it follows no link.
   */
  static async open(watch: readonly string[], onVars: (vars: Record<string, unknown>) => void, runAs: RunAs | null = null): Promise<TraceChannel> {
    const ch = new TraceChannel(watch, onVars);
    await new Promise<void>((resolve, reject) => {
      ch.server.once('error', reject);
      ch.server.listen(ch.env.SDV_TRACE_SOCK, () => resolve());
    });
    if (runAs) {
      fs.lchownSync(ch.env.SDV_TRACE_SOCK!, runAs.uid, runAs.gid);
      letPass(runAs, ch.dir);
    }
    return ch;
  }

  private accept(s: net.Socket): void {
    if (this.peer || this.closed) { s.destroy(); return; } // one tracer per channel
    this.peer = s;
    let buf = '';
    s.setEncoding('utf8');
    s.on('data', (chunk: string) => {
      buf += chunk;
      if (buf.length > MAX_LINE && !buf.includes('\n')) { s.destroy(); return; }
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        let msg: unknown;
        try { msg = JSON.parse(line); } catch { continue; }
        const vars = (msg as { vars?: unknown } | null)?.vars;
        if (vars && typeof vars === 'object' && !Array.isArray(vars)) {
          const out: Record<string, unknown> = {};
          for (const [k, v] of Object.entries(vars)) if (this.watch.includes(k)) out[k] = v;
          if (Object.keys(out).length) this.onVars(out);
        }
      }
    });
    s.on('error', () => {});
  }

  /** Sends new values for watched names; the others are ignored. Returns the names sent. */
  set(values: Record<string, unknown>): string[] {
    const picked: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(values)) if (this.watch.includes(k)) picked[k] = v;
    const names = Object.keys(picked);
    if (names.length && this.peer && !this.peer.destroyed) this.peer.write(JSON.stringify({ set: picked }) + '\n');
    return names;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.peer?.destroy();
    this.server.close();
    fs.rm(this.dir, { recursive: true, force: true }, () => {});
  }
}

/** What set_vars_value reaches: a traced python program (TraceChannel) or a watched C++ one (tracer/cpp-watch.ts). */
export interface WatchedVars {
  readonly watch: readonly string[];
  /** Applies values; returns the names applied (may throw CommandError with the reason). */
  set(values: Record<string, unknown>): string[];
  close(): void;
}

/** The watched variables of running programs, by owner (client id): what set_vars_value reaches. One per owner. */
export class TraceRegistry {
  private readonly byOwner = new Map<string, WatchedVars>();
  add(owner: string, ch: WatchedVars): void { this.byOwner.get(owner)?.close(); this.byOwner.set(owner, ch); }
  remove(owner: string, ch: WatchedVars): void { if (this.byOwner.get(owner) === ch) this.byOwner.delete(owner); ch.close(); }
  get(owner: string): WatchedVars | undefined { return this.byOwner.get(owner); }
  closeAll(): void { for (const ch of this.byOwner.values()) ch.close(); this.byOwner.clear(); }
}
