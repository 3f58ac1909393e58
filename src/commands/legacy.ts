// The Kit-Manager's `cmd` commands (the Autowrx frontend and the Python runtime's names and reply shapes, see
// shared/kit-manager-protocol.md). Transport-free like every handler: replies go out through ctx.emit and the return
// value, and the door adds cmd, request_from and kit_id. Where the part doing the real work is not built yet, the
// command answers with an honest UNAVAILABLE error instead of pretending.
import { legacyDeployCommands } from './legacy-deploy';
import { legacyRunCommands } from './legacy-runs';
import { legacySignalCommands } from './legacy-signals';
import { legacyFileCommands } from './files';
import { runtimeInfo } from './runtime';
import type { Frame } from '../core/frame';
import type { Command, Handler } from './types';
import type { Parts } from '../parts';

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

const legacy = (handler: Handler): Command => ({ style: 'legacy', handler });

export const legacyCommands: Record<string, Command> = {
  ...legacyRunCommands,
  ...legacyDeployCommands,
  ...legacySignalCommands,
  ...legacyFileCommands,
  'get-runtime-info': legacy((ctx) => ({ data: stateReport(ctx.parts) })),
  // A local client's request for the same report: at the top level and under `result`, like get_runtime_info.
  report_runtime_state: legacy((ctx) => { const data = stateReport(ctx.parts); return { ...data, result: data }; }),
};

/** The agent's runtime info with the runners and subscribers: what get-runtime-info answers. */
function stateReport(parts: Parts): Frame {
  return { ...runtimeInfo(parts), ...runtimeState(parts), kitManagerDroppedReplies: parts.status.kitManager.droppedReplies };
}
