// The Kit-Manager's ad-hoc commands asked through the local API by `type`: run_python_app with watch_vars,
// trace_vars, set_vars_value, stop_python_app. Same handlers, local envelope: the stream frames carry requestId, the
// end of the run is the reply with the request's id.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ApiClient, startAgent, tmpDir } from './helpers/agent';

t.test('run_python_app with watched variables over the local API', async (t) => {
  const agent = await startAgent(t);
  const c = await ApiClient.connect(agent.apiUrl);
  t.teardown(() => c.close());
  const code = ['import time', 'counter = 0', 'mode = "run"', 'while mode != "stop" and counter < 600:', '    counter += 1', '    time.sleep(0.05)', 'print("final", counter, mode)'].join('\n');
  c.send({ type: 'run_python_app', id: 'run1', data: { code, name: 'Traced', watch_vars: ['counter', 'mode'] } });
  const moving = await c.waitFor((f) => f.requestId === 'run1' && f.cmd === 'trace_vars' && ((f.data as Record<string, number>)?.counter ?? 0) >= 2);
  t.equal(moving.type, 'run_python_app-response');
  const set = await c.request({ type: 'set_vars_value', data: { counter: '400' } });
  t.match(set, { type: 'set_vars_value-response', result: 'Successful' });
  await c.waitFor((f) => f.requestId === 'run1' && f.cmd === 'trace_vars' && ((f.data as Record<string, number>)?.counter ?? 0) >= 400);
  await c.request({ type: 'set_vars_value', data: { mode: 'stop' } });
  const done = await c.waitFor((f) => f.id === 'run1');
  t.equal(done.isDone, true, 'the first frame with the request id is the reply: the end of the run');
  t.equal(done.code, 0);
  t.ok(c.frames.filter((f) => f.requestId === 'run1').every((f) => f.id === undefined), 'stream frames carry requestId, never id');
  const out = c.frames.filter((f) => f.requestId === 'run1' && f.isDone === false).map((f) => f.result).join('');
  t.match(out, /final \d+ stop/);

  c.send({ type: 'run_python_app', id: 'run2', data: { code: 'import time\nprint("up", flush=True)\ntime.sleep(60)\n', name: 'Long' } });
  await c.waitFor((f) => f.requestId === 'run2' && typeof f.result === 'string' && (f.result as string).includes('up'));
  const stop = await c.request({ type: 'stop_python_app', data: {} });
  t.equal(stop.result, 'Successful');
  const end = await c.waitFor((f) => f.id === 'run2' && f.isDone === true);
  t.not(end.code, 0, 'stopped run ends with a non-zero code');
  const again = await c.request({ type: 'stop_python_app', data: {} });
  t.equal(again.type, 'error', 'a stop with no run is an error, not "Successful"');
  t.equal(again.code, 'NOT_FOUND');
  t.match(String(again.error), /nothing to stop/);
});

t.test('run_bin_app runs binaries from apps.binDir when it is set, and no longer from dataDir/bin', async (t) => {
  const binDir = tmpDir(t, 'sdv-bindir-');
  fs.writeFileSync(path.join(binDir, 'hello'), '#!/bin/sh\necho "from binDir $1"\n', { mode: 0o755 });
  const agent = await startAgent(t, { config: { apps: { binDir } } });
  fs.mkdirSync(path.join(agent.dataDir, 'bin'), { recursive: true });
  fs.writeFileSync(path.join(agent.dataDir, 'bin', 'other'), '#!/bin/sh\necho other\n', { mode: 0o755 });
  const c = await ApiClient.connect(agent.apiUrl);
  t.teardown(() => c.close());
  c.send({ type: 'run_bin_app', id: 'b1', data: 'hello' });
  const done = await c.waitFor((f) => f.id === 'b1' && f.isDone === true);
  t.equal(done.code, 0);
  t.match(c.frames.filter((f) => f.requestId === 'b1' && f.isDone === false).map((f) => f.result).join(''), /from binDir/);
  const outside = await c.request({ type: 'run_bin_app', data: path.join(agent.dataDir, 'bin', 'other') });
  t.match(outside, { type: 'error', code: 'FORBIDDEN', error: new RegExp(`outside ${binDir}`) }, 'dataDir/bin is not the folder any more');
});
