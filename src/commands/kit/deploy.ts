// Kit-Manager deploy_request / deploy_n_run: deploy `VEA-<prototype.id>` from the Kit-Manager's convertedCode (unless
// the frontend disabled conversion) or the code as sent, through the local deploy_request's handler (commands/apps.ts);
// progress streams as cmd "deploy-request" lines, which the frontend appends to its log (`result`) until
// `is_finish`; a project's steps are lines of it. deploy_n_run then starts the app and watches it for its first
// seconds: what it prints then is shown, and a crash is reported as a crash, never as "deployed and running".
import { cryptoModule } from '../../core/crypto-module';
import type { AppSupervisor } from '../../apps/supervisor';
import { deployPrototype, parseDeploy } from '../apps';
import { badRequest } from '../../core/errors';
import type { Client, Frame } from '../../core/frame';
import type { Command, CommandRequest, Handler, KitShape } from '../types';
import { obj } from '../validate';

/** How long deploy_n_run watches a started app before it says "running". */
export const DEPLOY_WATCH_MS = 3000;
/** Lines of the app's first output shown in the deploy log; more are counted, not shown. */
const MAX_SHOWN_LINES = 20;
const MAX_LINE = 300;

interface Outcome { status: string; exitCode: number | null; reason: string | null; afterMs: number; lines: string[]; more: number }

/**
 * Watches an app through its console, as any console client would, for `ms` after start: resolves at its first
 * exit, or with its status when the time is up. Subscribe before starting it so that nothing is missed.
 */
function watchApp(sup: AppSupervisor, appId: string, ms: number, onLine: (text: string) => void): { started(): void; outcome: Promise<Outcome> } {
  const lines: string[] = [];
  let more = 0;
  let t0 = Date.now();
  let finish!: (o: Omit<Outcome, 'lines' | 'more' | 'afterMs'>) => void;
  const closers: Array<() => void> = [];
  let closed = false;
  const client: Client = {
    id: `deploy-watch-${cryptoModule().randomUUID()}`,
    door: 'internal',
    get closed() { return closed; },
    congested: () => false,
    onClose(fn) { closers.push(fn); return () => {}; },
    send(frame: Frame) {
      if (frame.type === 'console_output' && typeof frame.output === 'string') {
        const text = frame.output.length > MAX_LINE ? `${frame.output.slice(0, MAX_LINE)}…` : frame.output;
        if (lines.length < MAX_SHOWN_LINES) { lines.push(text); onLine(text); } else more++;
      } else if (frame.type === 'app_status' && (frame.status === 'error' || frame.status === 'stopped')) {
        finish({ status: frame.status, exitCode: typeof frame.exitCode === 'number' ? frame.exitCode : null, reason: typeof frame.reason === 'string' ? frame.reason : null });
      }
    },
  };
  const console = sup.console(appId);
  console.subscribe(client);
  console.startDelivery(client.id, null);
  const outcome = new Promise<Omit<Outcome, 'lines' | 'more' | 'afterMs'>>((resolve) => { finish = resolve; });
  let timer: NodeJS.Timeout | null = null;
  const done = outcome.then((o) => {
    if (timer) clearTimeout(timer);
    closed = true;
    console.unsubscribe(client.id);
    for (const fn of closers.splice(0)) fn();
    return { ...o, afterMs: Date.now() - t0, lines, more };
  });
  return {
    started() {
      t0 = Date.now();
      timer = setTimeout(() => {
        const rec = sup.has(appId) ? sup.get(appId) : null;
        finish({ status: rec?.status ?? 'gone', exitCode: rec?.exitCode ?? null, reason: rec?.reason ?? null });
      }, ms);
    },
    outcome: done,
  };
}

/** The code a deploy from the frontend brings: its convertedCode unless the frontend disabled conversion, or its code. */
function chosenCode(b: Frame): { code: unknown; converted: boolean } {
  const converted = b.disable_code_convert !== true && typeof b.convertedCode === 'string' && b.convertedCode.length > 0;
  return { code: converted ? b.convertedCode : b.code, converted };
}

/** The frontend's prototype form → the local deploy_request's: a python app named after the prototype. */
function prototypeForm(req: CommandRequest): CommandRequest {
  const b = req.body;
  const proto = obj(b, 'prototype')!;
  const { code } = chosenCode(b);
  if (typeof code !== 'string' || code.length === 0) throw badRequest('code: required, expected the prototype\'s python source');
  return { ...req, body: { ...b, prototype: { id: proto.id, name: proto.name ?? proto.id, type: 'python', code, config: {} } } };
}

/** One line of the deploy log the frontend shows (`result`, appended until `is_finish`). */
const logLine = (text: string): Frame => ({ cmd: 'deploy-request', result: `${text}\r\n`, is_finish: false });

/** The lines that open a deploy's log, when the app is about to be installed. */
function openingLines(req: CommandRequest, appId: string): Frame[] {
  const b = req.body;
  const { code, converted } = chosenCode(b);
  const name = String((b.prototype as Frame).name);
  const user = typeof b.username === 'string' ? ` from ${b.username.slice(0, 64)}` : '';
  return [logLine(`Received prototype "${name}"${user}: ${Buffer.byteLength(String(code))} bytes of ${converted ? 'converted' : 'original'} code`), logLine(`Installing ${appId}`)];
}

/** deploy_request from a frontend: the local deploy_request (apps.ts) with the prototype form in and the log out. */
const deployForm: KitShape = {
  input: (_ctx, req) => prototypeForm(req),
  progress: (req, f) => {
    if (f.type !== 'deploy_request-progress' || typeof f.appId !== 'string') return [f];
    // A step of the install (a project's lines, pip's) is a line of the log; the first progress opens the log.
    return typeof f.line === 'string' ? [logLine(f.line)] : openingLines(req, f.appId);
  },
  render: (_ctx, _req, r) => ({ cmd: 'deploy-request', result: `${String(r.appId)} deployed (${String(r.status)})\r\n`, is_finish: true, appId: r.appId, executionId: r.executionId, status: r.status }),
};

/** deploy_n_run: deploys as deploy_request does, then starts the app and watches its first seconds. */
const deployAndRun: Handler = async (ctx, frontendReq) => {
  const apps = ctx.parts.apps;
  const req = prototypeForm(frontendReq);
  const spec = parseDeploy(ctx.parts, req.body);
  const line = (text: string) => ctx.emit(logLine(text));
  for (const l of openingLines(req, spec.appId)) ctx.emit(l);
  const rec = await deployPrototype(ctx.parts, spec, line);
  const id = { appId: rec.id, executionId: rec.id };

  line(`Starting ${spec.appId}; watching its first ${DEPLOY_WATCH_MS / 1000} s`);
  const watch = watchApp(apps, spec.appId, DEPLOY_WATCH_MS, (text) => line(`[${spec.appId}] ${text}`));
  try {
    await apps.run(spec.appId);
  } finally {
    watch.started();
  }
  const o = await watch.outcome;
  if (o.more) line(`[${spec.appId}] … ${o.more} more line(s): console_subscribe or app_output show them`);
  const s = (o.afterMs / 1000).toFixed(1);
  if (o.status === 'running' || o.status === 'paused' || o.status === 'starting') {
    return { cmd: 'deploy-request', result: `${spec.appId} deployed and ${o.status}\r\n`, is_finish: true, ...id, status: o.status };
  }
  if (o.status === 'stopped' && o.exitCode === 0) {
    return { cmd: 'deploy-request', result: `${spec.appId} deployed; it ran and exited with code 0 after ${s} s\r\n`, is_finish: true, ...id, status: o.status, exitCode: 0 };
  }
  const why = `${spec.appId} deployed but crashed ${s} s after start${o.exitCode !== null ? ` (exit code ${o.exitCode})` : ''}${o.reason ? `: ${o.reason}` : ''}`;
  return { cmd: 'deploy-request', result: `Error: ${why}\r\n`, is_finish: true, ...id, status: o.status, exitCode: o.exitCode, error: why };
};

export const kitDeployForms: Record<string, KitShape> = { deploy_request: deployForm };
export const kitDeployCommands: Record<string, Command> = { deploy_n_run: { handler: deployAndRun } };
