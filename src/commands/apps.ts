// Commands of the app area (seed 000): deploy, lifecycle, list, console. Input is checked here, at the edge;
// the supervisor (src/apps/supervisor.ts) owns the state.
import fs = require('node:fs');
import path = require('node:path');
import type { DeploySpec } from '../apps/supervisor';
import { isSafeId, type AppConfig, type AppRecord, type RestartPolicy } from '../apps/store';
import { APP_TYPES, isAppType, kindOf, type AppKind } from '../apps/kinds';
import type { Parts } from '../parts';
import { badRequest, CommandError } from '../core/errors';
import type { Frame } from '../core/frame';
import type { Command, CommandContext, CommandRequest } from './types';
import { int, isPlainObject, obj, str, strList, typeName } from './validate';
import { parseAppLimits } from '../apps/limits/spec';
import { parseHealthCheck } from '../apps/health-check';
import { parseDependsOn } from '../apps/start-order';
import { projectLine, readPythonProject, stagePythonProject } from '../python/project';
import { ProjectRefused, type ProjectTree } from '../user-code/project-tree';
import { removeUserTree } from '../user-code/user-files';
import { checkLanguage, codeId, oneStepReply, refuseUncompilable, startsOnDeploy } from './deploy-one-step';

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
const MAX_ENV = 100;
const MAX_ARGS = 256;

/** Refuses what could leave dataDir/apps; other characters outside [A-Za-z0-9._-] become '-'. */
function sanitiseId(raw: string, key: string): string {
  if (raw.includes('\0')) throw badRequest(`${key}: must not contain NUL`);
  if (raw.includes('/') || raw.includes('\\') || raw.includes('..')) throw badRequest(`${key}: must not contain '/', '\\' or '..'`);
  const id = raw.replace(/[^A-Za-z0-9._-]/g, '-');
  if (!isSafeId(id)) throw badRequest(`${key}: expected 1 to 64 characters of [A-Za-z0-9._-]`);
  return id;
}

/**
 * appId of a request: an app id exactly (no sanitising: a wrong id is an error, not a guess), or the prototype id it
 * was deployed from ("A" for "VEA-A", as clients of the seed's origin project name apps) when no app has that id.
 */
function appIdOf(body: Frame, apps?: { has(id: string): boolean }): string {
  const raw = str(body, 'appId', { max: 256 });
  if (raw.includes('\0') || raw.includes('/') || raw.includes('\\') || raw.includes('..')) throw badRequest(`appId: must not contain NUL, '/', '\\' or '..'`);
  if (!isSafeId(raw)) throw badRequest('appId: expected 1 to 64 characters of [A-Za-z0-9._-]');
  if (apps && !raw.startsWith('VEA-') && !apps.has(raw) && apps.has(`VEA-${raw}`)) return `VEA-${raw}`;
  return raw;
}

/** The app id of a prototype id, as deploy makes it ("A" → "VEA-A"). */
function appIdOfPrototype(raw: string, key: string): string {
  const id = sanitiseId(raw, key);
  return id.startsWith('VEA-') ? id : `VEA-${id}`;
}

function parseConfig(kind: AppKind, cfg: Frame, hasCode: boolean, parts: Parts): AppConfig {
  const env: Record<string, string> = {};
  const envObj = obj(cfg, 'env', true);
  if (envObj) {
    const entries = Object.entries(envObj);
    if (entries.length > MAX_ENV) throw badRequest(`config.env: more than ${MAX_ENV} variables`);
    for (const [k, v] of entries) {
      if (!ENV_NAME.test(k)) throw badRequest(`config.env: ${JSON.stringify(k).slice(0, 60)} is not a valid variable name`);
      if (typeof v !== 'string') throw badRequest(`config.env.${k}: expected a string, got ${typeName(v)}`);
      if (v.length > 8192 || v.includes('\0')) throw badRequest(`config.env.${k}: at most 8192 characters, no NUL`);
      env[k] = v;
    }
  }
  const args = cfg.args === undefined || cfg.args === null ? [] : strList(cfg, 'args', { maxItems: MAX_ARGS, maxLen: 4096 });
  if (args.some((a) => a.includes('\0'))) throw badRequest('config.args: must not contain NUL');
  const policy = (cfg.restartPolicy ?? 'never') as RestartPolicy;
  if (!['never', 'on-failure', 'always'].includes(policy)) throw badRequest('config.restartPolicy: expected never, on-failure or always');
  const path = str(cfg, 'path', { max: 4096, optional: true });
  if (path !== undefined && (!path.startsWith('/') || path.includes('\0'))) throw badRequest('config.path: expected an absolute path to an executable on the box');
  const image = str(cfg, 'image', { max: 512, optional: true });
  const known = new Set(['env', 'args', 'restartPolicy', 'restartDelayMs', 'maxRestarts', 'path', 'image', 'autoStart', 'limits', 'healthCheck', 'dependsOn']);
  const extra: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(cfg)) if (!known.has(k)) extra[k] = v;
  // The kind's own fields (an executable's path, a docker image, a mock-service's settings): apps/kinds/.
  kind.checkConfig({ ...(path !== undefined ? { path } : {}), ...(image !== undefined ? { image } : {}), args, env, extra }, hasCode);
  // What operators of a workload supervisor rely on (limits, health checks, start order): checked here, at the edge.
  const limits = parseAppLimits(cfg.limits, parts.apps.watch.confinement.box);
  const healthCheck = parseHealthCheck(cfg.healthCheck, parts.apps.watch.healthHosts);
  const dependsOn = parseDependsOn(cfg.dependsOn, (id) => appIdOfPrototype(id, 'id'));
  return {
    ...(path !== undefined ? { path } : {}),
    ...(image !== undefined ? { image } : {}),
    args, env, restartPolicy: policy,
    restartDelayMs: int(cfg, 'restartDelayMs', { min: 100, max: 60_000, def: 1000 }),
    maxRestarts: int(cfg, 'maxRestarts', { min: 0, max: 1000, def: 5 }),
    extra,
    ...(Object.keys(limits).length ? { limits } : {}),
    ...(healthCheck ? { healthCheck } : {}),
    ...(dependsOn ? { dependsOn } : {}),
  };
}

/**
 * The flat deploy form some local clients send: code, name and the app's id at the top level instead of inside
 * `prototype`. `type` at the top level is the message's own name, so the app type is `appType` there. Without a name
 * or an id the app is named after its code (deploy-one-step.ts codeId).
 */
function flatPrototype(body: Frame): Frame {
  const id = body.appId ?? body.prototypeId ?? body.prototype_id ?? body.name ?? (typeof body.code === 'string' ? codeId(body.code) : undefined);
  if (id === undefined || id === null) throw badRequest('prototype: required (or the flat form: code, and optionally name and appId, at the top level)');
  return { id, name: body.name, type: body.appType ?? body.app_type ?? 'python', code: body.code, config: body.config };
}

export function parseDeploy(parts: Parts, body: Frame): DeploySpec {
  const proto = body.prototype === undefined || body.prototype === null ? flatPrototype(body) : obj(body, 'prototype')!;
  if (startsOnDeploy(body)) checkLanguage(body);
  const rawId = proto.id;
  if (typeof rawId !== 'string' && typeof rawId !== 'number') throw badRequest('prototype.id: required, expected a string');
  const prototypeId = sanitiseId(String(rawId), 'prototype.id');
  const appId = prototypeId.startsWith('VEA-') ? prototypeId : `VEA-${prototypeId}`;
  if (!isSafeId(appId)) throw badRequest('prototype.id: at most 60 characters');
  const type = proto.type ?? 'python';
  if (!isAppType(type)) throw badRequest(`prototype.type: expected one of ${APP_TYPES.join(', ')}, got ${JSON.stringify(proto.type)?.slice(0, 40)}`);
  const kind = kindOf(type);
  const name = proto.name === undefined || proto.name === null ? prototypeId : str(proto, 'name', { max: 256 });
  let code: string | undefined;
  // The code inside the prototype, else the frontend's place for it: the top level beside the prototype.
  const given = proto.code ?? body.code;
  if (given !== undefined && given !== null) {
    if (typeof given !== 'string') throw badRequest(`prototype.code: expected a string, got ${typeName(given)}`);
    const max = parts.config.apps.maxCodeBytes;
    if (given.length > max * (kind.code === 'executable' ? 4 / 3 + 0.01 : 1) || Buffer.byteLength(given) > max * 2) {
      throw new CommandError('LIMIT', `prototype.code: larger than ${max} bytes (apps.maxCodeBytes)`);
    }
    code = given;
    if (kind.code === 'executable') {
      if (!/^[A-Za-z0-9+/\s]*={0,2}\s*$/.test(code)) throw badRequest('prototype.code: a binary app\'s code must be the executable in base64');
      if (Buffer.from(code, 'base64').length > max) throw new CommandError('LIMIT', `prototype.code: larger than ${max} bytes (apps.maxCodeBytes)`);
    } else if (Buffer.byteLength(code) > max) {
      throw new CommandError('LIMIT', `prototype.code: larger than ${max} bytes (apps.maxCodeBytes)`);
    }
  }
  const cfgRaw = proto.config ?? {};
  if (!isPlainObject(cfgRaw)) throw badRequest(`prototype.config: expected an object, got ${typeName(cfgRaw)}`);
  const config = parseConfig(kind, cfgRaw, code !== undefined && code.length > 0, parts);
  return { prototypeId, appId, name, type, ...(code !== undefined ? { code } : {}), config, autoStart: cfgRaw.autoStart === true };
}

const reply = (rec: AppRecord): Frame => ({ appId: rec.id, status: rec.status, ...(rec.exitCode !== null ? { exitCode: rec.exitCode } : {}) });

const lifecycle = (op: 'run' | 'stop' | 'pause' | 'resume' | 'uninstall'): Command => ({
  handler: async (ctx: CommandContext, req: CommandRequest) => {
    const rec = await ctx.parts.apps[op](appIdOf(req.body, ctx.parts.apps));
    const r = op === 'uninstall' ? { appId: rec.id, status: 'uninstalled' } : reply(rec);
    return { ...r, result: r }; // also under `result`, where the seed's origin project's clients read it
  },
});

export const appCommands: Record<string, Command> = {
  deploy_request: {
    handler: async (ctx, req) => {
      const spec = parseDeploy(ctx.parts, req.body);
      const oneStep = startsOnDeploy(req.body);
      if (oneStep) await refuseUncompilable(ctx.parts, spec);
      // Progress for the requester itself (console subscribers get app_status pushes): installing, then the reply.
      ctx.emit({ type: 'deploy_request-progress', appId: spec.appId, status: 'installing' });
      const rec = await deployPrototype(ctx.parts, oneStep ? { ...spec, autoStart: true } : spec, (line) => ctx.emit({ type: 'deploy_request-progress', appId: spec.appId, status: 'installing', line }));
      // executionId names the app in console_output frames: clients that follow those key on it.
      const installed = { ...reply(rec), executionId: rec.id, name: rec.name, appType: rec.type };
      return oneStep ? oneStepReply(installed, rec) : installed;
    },
  },
  run_app: lifecycle('run'),
  stop_app: lifecycle('stop'),
  pause_app: lifecycle('pause'),
  resume_app: lifecycle('resume'),
  uninstall_app: lifecycle('uninstall'),
  // One app's entry of list_deployed_apps as `result` (the seed's origin project asks this way), its status beside it.
  get_app_status: {
    handler: (ctx, req) => {
      const sup = ctx.parts.apps;
      const appId = sup.get(appIdOf(req.body, sup)).id; // NOT_FOUND when there is none
      const entry = sup.list().find((a) => a.id === appId)!;
      // Not spread: the entry's own `id` and `type` would take the reply's places.
      return { appId, status: entry.status, exitCode: entry.exitCode, appType: entry.type, name: entry.name, result: entry };
    },
  },
  list_deployed_apps: {
    handler: (ctx) => {
      const sup = ctx.parts.apps;
      const apps = sup.list();
      // `applications` is the same list under the name some local clients read.
      return { apps, applications: apps, ...sup.counts() };
    },
  },
  console_subscribe: {
    responseType: 'console_subscribed',
    handler: (ctx, req) => {
      const appId = appIdOf(req.body, ctx.parts.apps);
      const since = req.body.since === undefined || req.body.since === null ? undefined : int(req.body, 'since', { min: 0, max: Number.MAX_SAFE_INTEGER });
      const sup = ctx.parts.apps;
      if (!sup.has(appId)) {
        // Not deployed yet: held until it is, then delivered from its first line (apps/pending-consoles.ts).
        ctx.parts.pendingConsoles.add(appId, ctx.client);
        return { clientId: ctx.client.id, appId, status: 'not_deployed', lastSeq: 0 };
      }
      const console = sup.console(appId);
      const replay = console.subscribe(ctx.client, since);
      // Delivery starts once the console_subscribed reply is on its way, so it comes first.
      setImmediate(() => console.startDelivery(ctx.client.id, replay));
      return { clientId: ctx.client.id, appId, status: sup.get(appId).status, lastSeq: console.ring.lastSeq };
    },
  },
  console_unsubscribe: {
    handler: (ctx, req) => {
      const appId = appIdOf(req.body, ctx.parts.apps);
      const sup = ctx.parts.apps;
      if (!sup.has(appId)) return { appId, status: 'not_deployed', unsubscribed: ctx.parts.pendingConsoles.remove(appId, ctx.client.id) };
      const was = sup.console(appId).unsubscribe(ctx.client.id);
      return { appId, status: sup.get(appId).status, unsubscribed: was };
    },
  },
  app_output: {
    handler: (ctx, req) => {
      const appId = appIdOf(req.body, ctx.parts.apps);
      const n = int(req.body, 'lines', { min: 1, max: 1_000_000, def: 100 });
      const sup = ctx.parts.apps;
      const lines = sup.console(appId).ring.tail(n).map((l) => ({ seq: l.seq, stream: l.stream, output: l.text, timestamp: new Date(l.ts).toISOString() }));
      return { appId, status: sup.get(appId).status, lines };
    },
  },
};

/** Deploys, then hands the app's console to the clients that subscribed before it existed, from its first line. */
/**
 * Deploys what a client sent: a python app whose code is a project (a JSON file tree, the playground's multi-file
 * projects) is first checked (refused BAD_REQUEST with its reason, nothing written), staged beside the apps' folders
 * with its requirements.txt installed into its own folder (each step a line to `say`), then deployed from there.
 */
export async function deployPrototype(parts: Parts, spec: DeploySpec, say: (line: string) => void): Promise<AppRecord> {
  let project: ProjectTree | null = null;
  if (spec.type === 'python' && spec.code !== undefined) {
    try { project = readPythonProject(spec.code, parts.config.apps.maxCodeBytes); } catch (e) {
      if (e instanceof ProjectRefused) throw badRequest(e.message);
      throw e;
    }
  }
  if (!project) return deployApp(parts, spec);
  say(projectLine(project));
  const { config, log, runAs } = parts;
  spec.projectDir = await stagePythonProject(config, log, runAs, project, path.dirname(parts.apps.store.folder(spec.appId)), spec.appId, say);
  return deployApp(parts, spec).finally(() => {
    if (spec.projectDir && fs.existsSync(spec.projectDir)) void removeUserTree(runAs, spec.projectDir);
  });
}

export async function deployApp(parts: Parts, spec: DeploySpec): Promise<AppRecord> {
  const rec = await parts.apps.deploy(spec);
  const waiting = parts.pendingConsoles.take(spec.appId);
  if (waiting.length) {
    const console = parts.apps.console(spec.appId);
    for (const client of waiting) {
      if (client.closed) continue;
      const replay = console.subscribe(client, 0);
      console.startDelivery(client.id, replay);
    }
  }
  return rec;
}
