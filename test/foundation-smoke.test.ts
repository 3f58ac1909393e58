import t from 'tap';
import * as fs from 'node:fs';
import { ApiClient, getJson, startAgent } from './helpers/agent';

t.test('agent starts standalone, answers ping and /health', async (t) => {
  const agent = await startAgent(t);
  const h = await getJson(agent.healthUrl);
  t.equal(h.status, 200);
  t.equal(h.body.status, 'healthy');
  const c = await ApiClient.connect(agent.apiUrl);
  t.teardown(() => c.close());
  const pong = await c.request({ type: 'ping' });
  t.equal(pong.type, 'pong');
  // What ps, top and `systemctl status` show (the single binary's is checked by scripts/ci-binary-smoke.sh).
  t.equal(fs.readFileSync(`/proc/${agent.proc.pid}/comm`, 'utf8').trim(), 'sdv-agent', 'the process is named sdv-agent');
});
