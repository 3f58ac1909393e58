// Start order between apps (config.dependsOn), as Ankaios' dependencies: an app starts only once each app it depends
// on is `running` (its condition "running", the default) or has run to a clean end ("succeeded": exited by itself
// with code 0). An app asked to run before that waits in status `waiting`, and starts as soon as the last condition
// holds (the supervisor looks again at every status change). Dependencies must exist when an app is deployed, and a
// cycle is refused there. Pure: the supervisor gives it the apps it knows.
import { badRequest } from '../core/errors';

export type DependencyCondition = 'running' | 'succeeded';
/** appId → condition */
export type Dependencies = Record<string, DependencyCondition>;

const CONDITIONS: readonly DependencyCondition[] = ['running', 'succeeded'];
const MAX_DEPENDENCIES = 32;

/** What start order needs to know of an app. */
export interface OrderView {
  status: string;
  exitCode: number | null;
  /** It ended by itself with code 0 (not stopped, not killed) and has not been started since. */
  succeeded: boolean;
  dependsOn?: Dependencies;
}

/**
 * config.dependsOn: a list of app ids (condition running) or an object { appId: "running" | "succeeded" }. Ids are
 * turned into app ids by `toAppId` (a prototype id "A" is the app "VEA-A"). Refused with the field named.
 */
export function parseDependsOn(raw: unknown, toAppId: (id: string) => string, field = 'config.dependsOn'): Dependencies | undefined {
  if (raw === undefined || raw === null) return undefined;
  const out: Dependencies = {};
  const add = (id: unknown, cond: unknown, at: string) => {
    if (typeof id !== 'string' || id.length === 0 || id.length > 64) throw badRequest(`${at}: expected an app id`);
    if (!CONDITIONS.includes(cond as DependencyCondition)) throw badRequest(`${at}: expected the condition running or succeeded, got ${JSON.stringify(cond)?.slice(0, 40)}`);
    let appId: string;
    try { appId = toAppId(id); } catch (e) { throw badRequest(`${at}: ${(e as Error).message}`); }
    out[appId] = cond as DependencyCondition;
  };
  if (Array.isArray(raw)) raw.forEach((id, i) => add(id, 'running', `${field}[${i}]`));
  else if (typeof raw === 'object') for (const [id, cond] of Object.entries(raw as Record<string, unknown>)) add(id, cond, `${field}.${id.slice(0, 64)}`);
  else throw badRequest(`${field}: expected a list of app ids or an object of app id → "running" | "succeeded"`);
  if (Object.keys(out).length > MAX_DEPENDENCIES) throw badRequest(`${field}: more than ${MAX_DEPENDENCIES} dependencies`);
  return out;
}

/**
 * At deploy: every dependency exists and none leads back to `appId` (directly or through others). `apps`: the
 * dependencies of every deployed app (the one being deployed again excluded: its new ones are `deps`).
 */
export function checkDependencies(appId: string, deps: Dependencies | undefined, apps: ReadonlyMap<string, Dependencies | undefined>, field = 'config.dependsOn'): void {
  if (!deps) return;
  for (const id of Object.keys(deps)) {
    if (id === appId) throw badRequest(`${field}: ${appId} cannot depend on itself`);
    if (!apps.has(id)) throw badRequest(`${field}: no app ${id} is deployed (deploy it first: a dependency must exist)`);
  }
  const graph = new Map(apps);
  graph.set(appId, deps);
  const cycle = findCycle(graph, appId);
  if (cycle) throw badRequest(`${field}: a dependency cycle ${cycle.join(' → ')}`);
}

/** A path from `start` back to it, or null. */
export function findCycle(graph: ReadonlyMap<string, Dependencies | undefined>, start: string): string[] | null {
  const onPath: string[] = [];
  const done = new Set<string>();
  const visit = (id: string): string[] | null => {
    if (onPath.includes(id)) return id === start ? [...onPath, id] : null;
    if (done.has(id)) return null;
    onPath.push(id);
    for (const dep of Object.keys(graph.get(id) ?? {})) {
      const c = visit(dep);
      if (c) return c;
    }
    onPath.pop();
    done.add(id);
    return null;
  };
  return visit(start);
}

/** The conditions that do not hold yet, as words ("VEA-a to be running"); empty when the app may start. */
export function unmet(deps: Dependencies | undefined, lookup: (id: string) => OrderView | undefined): string[] {
  const out: string[] = [];
  for (const [id, cond] of Object.entries(deps ?? {})) {
    const d = lookup(id);
    if (!d) { out.push(`${id} (not deployed) to be ${cond}`); continue; }
    const ok = cond === 'running' ? d.status === 'running' : d.succeeded;
    if (!ok) out.push(`${id} to be ${cond === 'running' ? 'running' : 'run to a clean exit (code 0)'} (it is ${d.status})`);
  }
  return out;
}

/** Ids in an order where every app comes after the apps it depends on (ties keep the given order). */
export function startOrder(ids: readonly string[], depsOf: (id: string) => Dependencies | undefined): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  const visit = (id: string, depth: number) => {
    if (seen.has(id) || depth > ids.length) return;
    seen.add(id);
    for (const dep of Object.keys(depsOf(id) ?? {})) if (ids.includes(dep)) visit(dep, depth + 1);
    out.push(id);
  };
  for (const id of ids) visit(id, 0);
  return out;
}
