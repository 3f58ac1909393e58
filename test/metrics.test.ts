// GET /metrics on the health port (src/doors/metrics.ts): Prometheus text that promtool accepts, with the agent's
// series and per-app CPU, memory, restarts, limit kills and health-check failures.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { ApiClient, startAgent } from './helpers/agent';

const SPIN = 'import time\nprint("up", flush=True)\nend = time.time() + 0.3\nwhile time.time() < end: pass\nwhile True: time.sleep(1)\n';

t.test('/metrics: promtool accepts it; per-app CPU, memory and restart series', async (t) => {
  const agent = await startAgent(t);
  const c = await ApiClient.connect(agent.apiUrl);
  t.teardown(() => c.close());
  await c.request({ type: 'deploy_request', prototype: { id: 'm', name: 'M', type: 'python', code: SPIN, config: { healthCheck: { tcp: '127.0.0.1:9', intervalMs: 1000, startPeriodMs: 0, failures: 100 } } } });
  c.send({ type: 'console_subscribe', id: 'sub', appId: 'VEA-m' });
  await c.waitFor((f) => f.id === 'sub' && f.type === 'console_subscribed');
  await c.request({ type: 'run_app', appId: 'VEA-m' });
  await c.waitFor((f) => f.type === 'console_output' && f.appId === 'VEA-m' && f.output === 'up');
  const metricsUrl = agent.healthUrl.replace(/\/health$/, '/metrics');
  let text = '';
  // the first failed health check (port 9 refuses) is counted once it ran
  for (;;) {
    const res = await fetch(metricsUrl);
    t.equal(res.status, 200);
    t.match(res.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
    text = await res.text();
    if (/^sdv_app_health_check_failures_total\{app="VEA-m"\} [1-9]/m.test(text)) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  t.equal(check.status, 0, `promtool check metrics accepts it${check.stdout || check.stderr ? `: ${check.stdout}${check.stderr}` : ''}`);
  t.match(text, /^sdv_app_status\{app="VEA-m",status="running"\} 1$/m);
  t.match(text, /^sdv_app_cpu_seconds_total\{app="VEA-m"\} \d+(\.\d+)?$/m, 'per-app CPU seconds');
  t.match(text, /^sdv_app_memory_bytes\{app="VEA-m"\} [1-9]\d*$/m, 'per-app memory');
  t.match(text, /^sdv_app_restarts_total\{app="VEA-m"\} 0$/m, 'per-app restarts');
  t.match(text, /^sdv_app_limit_kills_total\{app="VEA-m"\} 0$/m);
  for (const name of ['sdv_agent_uptime_seconds', 'sdv_agent_resident_memory_bytes', 'sdv_agent_heap_used_bytes', 'sdv_agent_event_loop_delay_p99_seconds', 'sdv_agent_event_loop_delay_max_seconds', 'sdv_agent_kit_manager_connected', 'sdv_agent_door_clients', 'sdv_agent_mqtt_clients']) {
    t.match(text, new RegExp(`^# TYPE ${name} gauge$`, 'm'), name);
  }
  t.match(text, /^sdv_agent_door_clients\{door="local_api"\} [1-9]/m, 'this client counted');
  t.notMatch(text, /token|password|127\.0\.0\.1/i, 'no secret, no address');
  t.equal((await fetch(agent.healthUrl.replace(/\/health$/, '/nope'))).status, 404);
  await c.request({ type: 'stop_app', appId: 'VEA-m' });
});
