// apps.runAs against the real agent: when the agent is root, an app runs as the configured user and can use its folder.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ApiClient, startAgent } from './helpers/agent';

type F = Record<string, unknown>;
const isRoot = process.getuid?.() === 0;

t.test('apps.runAs nobody: the app runs as nobody and can write in its folder', {
  skip: isRoot ? false : 'the agent drops privileges only when it runs as root; these tests are not root',
}, async (t) => {
  const nobodyUid = Number(execFileSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).trim());
  // dataDir under a folder others may pass through, as /var/lib is on a box (mkdtemp's own folder is 0700).
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'runas-'));
  fs.chmodSync(base, 0o711);
  const agent = await startAgent({ dataDir: path.join(base, 'data'), config: { apps: { runAs: 'nobody' } } });
  t.teardown(() => agent.stop());
  const c = await ApiClient.connect(agent.apiUrl);
  t.teardown(() => c.close());
  const code = 'import os\nprint("uid", os.getuid())\nopen("scratch.txt", "w").write("ok")\nprint("wrote", open("scratch.txt").read())\n';
  await c.request({ type: 'deploy_request', prototype: { id: 'who', type: 'python', code } });
  const id = `sub-${Math.random()}`;
  c.send({ type: 'console_subscribe', id, appId: 'VEA-who' });
  await c.waitFor((f) => f.id === id);
  await c.request({ type: 'run_app', appId: 'VEA-who' });
  await c.waitFor((f) => f.type === 'app_status' && f.appId === 'VEA-who' && (f.status === 'stopped' || f.status === 'error'), 20_000);
  const out = c.frames.filter((f: F) => f.type === 'console_output' && f.appId === 'VEA-who').map((f) => String(f.output));
  t.ok(out.includes(`uid ${nobodyUid}`), `the app printed uid ${nobodyUid} (got ${JSON.stringify(out).slice(0, 300)})`);
  t.ok(out.includes('wrote ok'), 'the app could write and read a file in its folder');
  t.equal(fs.statSync(path.join(base, 'data')).mode & 0o777, 0o711, 'dataDir: others may pass through, not list');
  t.equal(fs.statSync(path.join(base, 'data', 'apps')).mode & 0o777, 0o711);
});
