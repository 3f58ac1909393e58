// The Kit-Manager dialect (the Autowrx frontend's and the Python runtime's names and reply shapes, see
// shared/kit-manager-protocol.md): the commands only a Kit-Manager sends, and the forms (input, render and progress
// adapters, never a second handler) of commands the areas define; table.ts joins both into the one table. Transport-free like every handler: replies go out through
// ctx.emit and the return value, and the door adds cmd, request_from and kit_id.
import { kitDeployCommands, kitDeployForms } from './deploy';
import { kitRunCommands } from './runs';
import { kitSignalCommands, kitSignalForms } from './signals';
import { kitFileCommands } from '../files';
import { runtimeInfo } from '../runtime';
import type { Frame } from '../../core/frame';
import type { Command, Handler, KitShape } from '../types';
import { runtimeState, type Parts } from '../../parts';

/** The Kit-Manager's forms of the areas' commands: adapters around their one handler. */
export const kitForms: Record<string, KitShape> = { ...kitDeployForms, ...kitSignalForms };

// ---- the table ----------------------------------------------------------------------------------------------------

const command = (handler: Handler): Command => ({ handler });

export const kitCommands: Record<string, Command> = {
  ...kitRunCommands,
  ...kitDeployCommands,
  ...kitSignalCommands,
  ...kitFileCommands,
  'get-runtime-info': command((ctx) => ({ data: stateReport(ctx.parts) })),
  // A local client's request for the same report: at the top level and under `result`, like get_runtime_info, with
  // the reply type and the counts the seed's origin project answers it with.
  report_runtime_state: {
    responseType: 'runtime_state_response',
    handler: (ctx) => {
      const c = ctx.parts.apps.counts();
      const data = { ...stateReport(ctx.parts), timestamp: new Date().toISOString(), activeConnections: ctx.parts.status.localApi.clients, activeDeployments: c.running + c.paused + c.starting };
      return { ...data, result: data };
    },
  },
};

/** The agent's runtime info with the runners and subscribers: what get-runtime-info answers. */
function stateReport(parts: Parts): Frame {
  return { ...runtimeInfo(parts), ...runtimeState(parts), kitManagerDroppedReplies: parts.status.kitManager.droppedReplies };
}
