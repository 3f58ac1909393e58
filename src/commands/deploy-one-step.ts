// The one-step deploy: where a deploy_request's code is decides what it does.
// - Inside `prototype` (the seed's form, and the Kit-Manager's after its conversion): the app is installed and waits
//   for run_app (or starts by itself with config.autoStart).
// - At the top level (`{code, language?, name?, appId?, prototype?: {id, name}}`: the form of the seed's origin
//   project, whose server installs and starts in one step, and of the frontend's own deploy_request): installed and
//   started at once. The code is first compiled by the app interpreter, so code that cannot run is refused with the
//   compiler's line and nothing is installed; the reply's `status` then says `started` or `failed` (that project's
//   words for the request's outcome), and `appStatus` is the app's own status.
import type { DeploySpec } from '../apps/supervisor';
import type { AppRecord } from '../apps/store';
import type { Parts } from '../parts';
import { badRequest } from '../core/errors';
import type { Frame } from '../core/frame';
import { isPlainObject } from './validate';
import { pythonSyntaxError } from '../python/syntax-check';
import { mayBeProject } from '../user-code/project-tree';

const hasValue = (v: unknown): boolean => v !== undefined && v !== null;

/** The code is at the top level and not inside `prototype`. */
export function startsOnDeploy(body: Frame): boolean {
  return hasValue(body.code) && !(isPlainObject(body.prototype) && hasValue(body.prototype.code));
}

/** `language` of the one-step form: python (what that form deploys), or absent. */
export function checkLanguage(body: Frame): void {
  const lang = body.language;
  if (hasValue(lang) && lang !== 'python') {
    throw badRequest(`language: a deploy_request with the code at the top level deploys python; got ${JSON.stringify(lang)?.slice(0, 40)} (other app types: prototype.type, with the code inside prototype)`);
  }
}

/** A short id for an app the client named nowhere: the same code gets the same id, so a second deploy replaces it. */
export function codeId(code: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < code.length; i++) h = Math.imul(h ^ code.charCodeAt(i), 0x01000193);
  return `app-${(h >>> 0).toString(16).padStart(8, '0')}`;
}

/** Refuses single-file python the interpreter cannot compile, before anything is installed. */
export async function refuseUncompilable(parts: Parts, spec: DeploySpec): Promise<void> {
  // A project tree's files are checked by their run.
  if (spec.type !== 'python' || spec.code === undefined || mayBeProject(spec.code)) return;
  const error = await pythonSyntaxError(parts.config.apps.python, spec.code, parts.runAs);
  if (error) throw badRequest(`code: ${error}; nothing was installed`);
}

const STARTED = new Set(['running', 'starting', 'waiting']);

/** The reply of a one-step deploy: the install's reply, and whether the start went through. */
export function oneStepReply(installed: Frame, rec: AppRecord): Frame {
  const started = STARTED.has(rec.status) || (rec.status === 'stopped' && rec.exitCode === 0);
  if (started) return { ...installed, status: 'started', appStatus: rec.status, result: `${rec.id} deployed and started` };
  const why = `${rec.id} was installed but did not start (status ${rec.status}${rec.reason ? `: ${rec.reason}` : ''})`;
  return { ...installed, status: 'failed', appStatus: rec.status, result: why, error: why };
}
