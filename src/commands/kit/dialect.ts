// The Kit-Manager dialect's commands (the Autowrx frontend's and the Python runtime's names and reply shapes, see
// shared/kit-manager-protocol.md): the commands only a Kit-Manager sends, and the Kit-Manager forms of commands the
// areas define (table.ts joins them into the one table). Transport-free like every handler: replies go out through
// ctx.emit and the return value, and the door adds cmd, request_from and kit_id.
import { kitDeployCommands } from './deploy';
import { kitRunCommands } from './runs';
import { kitSignalCommands } from './signals';
import { kitFileCommands } from '../files';
import { runtimeInfo } from '../runtime';
import type { Frame } from '../../core/frame';
import type { Command, Handler } from '../types';
import type { Parts } from '../../parts';

// ---- runtime state ------------------------------------------------------------------------------------------------

export interface RuntimeStateData extends Frame {
  noOfRunner: number;
  noOfApiSubscriber: number;
  lsOfRunner: Array<{ runId: string; appName: string; request_from: string; from: unknown }>;
  lsOfApiSubscriber: Record<string, { apis: string[]; from: number }>;
}

/** The Python runtime's lsOfRunner / lsOfApiSubscriber shape (times in epoch seconds), from the parts running. */
export function runtimeState(parts: Parts): RuntimeStateData {
  const lsOfRunner: RuntimeStateData['lsOfRunner'] = parts.adhoc.list().map((r) => ({ runId: r.runId, appName: r.appName, request_from: r.request_from, from: r.from }));
  const lsOfApiSubscriber: RuntimeStateData['lsOfApiSubscriber'] = {};
  for (const s of parts.signals.subscribers()) lsOfApiSubscriber[s.clientId] = { apis: s.apis, from: Math.floor(s.since / 1000) };
  return { noOfRunner: lsOfRunner.length, noOfApiSubscriber: Object.keys(lsOfApiSubscriber).length, lsOfRunner, lsOfApiSubscriber };
}

// ---- the table ----------------------------------------------------------------------------------------------------

const command = (handler: Handler): Command => ({ handler });

export const kitCommands: Record<string, Command> = {
  ...kitRunCommands,
  ...kitDeployCommands,
  ...kitSignalCommands,
  ...kitFileCommands,
  'get-runtime-info': command((ctx) => ({ data: stateReport(ctx.parts) })),
  // A local client's request for the same report: at the top level and under `result`, like get_runtime_info.
  report_runtime_state: command((ctx) => { const data = stateReport(ctx.parts); return { ...data, result: data }; }),
};

/** The agent's runtime info with the runners and subscribers: what get-runtime-info answers. */
function stateReport(parts: Parts): Frame {
  return { ...runtimeInfo(parts), ...runtimeState(parts), kitManagerDroppedReplies: parts.status.kitManager.droppedReplies };
}
