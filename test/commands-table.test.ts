// One command table: every name the agent knows is listed once, and each one is answered through both doors in that
// door's dialect (the local API's `{type, id}` reply or error, the Kit-Manager's `{cmd, request_from, kit_id}` reply),
// never as an unknown command; a name that is not in the table is refused as unknown by both. Each request carries no
// arguments, so most answers are the command's own BAD_REQUEST naming what is missing: what matters here is that the
// door found the command and shaped its answer.
import t from 'tap';
import { commandNames, handlersOf } from '../src/commands/table';
import { ApiClient, startAgent } from './helpers/agent';
import { Frontend, StandInKitManager } from './helpers/kit-manager';

const KIT = 'RunTime-Table';

t.test('every command once, through both doors', async (t) => {
  const names = commandNames();
  t.equal(new Set(names).size, names.length, 'no name twice');
  // The Kit-Manager dialect adapts a command (input, render, progress), it never brings a second handler.
  t.same(names.filter((n) => handlersOf(n).length !== 1), [], 'no name has two handlers');
  // The Kit-Manager-only commands and the seed's are in the one table.
  for (const n of ['ping', 'deploy_request', 'run_app', 'subscribe_apis', 'run_python_app', 'stop_python_app', 'deploy_n_run', 'read-file', 'get-runtime-info']) t.ok(names.includes(n), `${n} is in the table`);

  const km = await StandInKitManager.start();
  t.teardown(() => km.close());
  const agent = await startAgent(t, { config: { runtime: { name: 'Table' }, kitManager: { url: km.url, reconnect: { minMs: 50, maxMs: 500 } } } });
  const c = await ApiClient.connect(agent.apiUrl);
  t.teardown(() => c.close());
  const fe = await Frontend.connect(km.url);
  t.teardown(() => fe.close());
  await fe.waitRuntime(KIT);

  const local = async (name: string) => {
    const id = `t-${name}`;
    c.send({ type: name, id });
    return c.waitFor((f) => f.id === id);
  };
  const kit = (name: string) => fe.command(KIT, { cmd: name }, (r) => (r.cmd === name || r.requestCmd === name) && (r.isDone !== false || r.errorCode !== undefined || r.result !== undefined));

  for (const name of names) {
    const l = await local(name);
    t.not(l.code, 'UNKNOWN_TYPE', `local ${name}: ${String(l.type)} ${String(l.error ?? '').slice(0, 80)}`);
    t.ok(l.type === 'error' ? typeof l.error === 'string' && typeof l.code === 'string' : typeof l.type === 'string' && l.type !== 'error', `local ${name}: a reply or an error with its code`);
    const k = await kit(name);
    t.not(k.errorCode, 'UNKNOWN_TYPE', `kit ${name}: ${String(k.result ?? k.error ?? '').slice(0, 80)}`);
    t.equal(k.kit_id, KIT, `kit ${name}: answered as this runtime`);
    t.equal(typeof k.request_from, 'string', `kit ${name}: routed to its frontend`);
  }

  const l = await local('no_such_command');
  t.match(l, { type: 'error', code: 'UNKNOWN_TYPE' }, 'an unknown type is refused as unknown');
  const k = await kit('no_such_command');
  t.match(k, { errorCode: 'UNKNOWN_TYPE' }, 'an unknown cmd is refused as unknown');
});
