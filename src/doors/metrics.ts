// GET /metrics on the health port: the agent and its apps in the Prometheus text format (version 0.0.4), for a
// Prometheus, an OpenTelemetry collector or a fleet dashboard. Same rules as /health: no token, served where the health
// port is bound (the loopback by default). What it exposes: counts, durations and sizes, the Kit-Manager link's state,
// and each app's id and status; never code, configuration values, environments, addresses or tokens.
// Conventions: base units in names (_seconds, _bytes), counters end in _total, one HELP and TYPE per family, label
// values escaped.
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import type { Parts } from '../parts';

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

type Labels = Record<string, string>;
interface Sample { labels?: Labels; value: number }
interface Family { name: string; help: string; type: 'gauge' | 'counter'; samples: Sample[] }

/** What the doors know and the parts do not: clients per door. */
export interface DoorCounts { localApi(): number }

const escapeLabel = (v: string): string => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
const escapeHelp = (v: string): string => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');

function num(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

/** The text of `families` (pure: tested on its own). */
export function renderFamilies(families: readonly Family[]): string {
  const out: string[] = [];
  for (const f of families) {
    out.push(`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.type}`);
    for (const s of f.samples) {
      const labels = s.labels && Object.keys(s.labels).length ? `{${Object.entries(s.labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')}}` : '';
      out.push(`${f.name}${labels} ${num(s.value)}`);
    }
  }
  return `${out.join('\n')}\n`;
}

export class Metrics {
  private readonly loop: IntervalHistogram;

  constructor(private readonly parts: Parts, private readonly doors: DoorCounts) {
    this.loop = monitorEventLoopDelay({ resolution: 20 });
    this.loop.enable();
  }

  close(): void { this.loop.disable(); }

  render(): string {
    const { parts } = this;
    const mem = process.memoryUsage();
    const km = parts.status.kitManager;
    const mqtt = parts.mqtt.status();
    const g = (name: string, help: string, value: number, labels?: Labels): Family => ({ name, help, type: 'gauge', samples: [{ value, ...(labels ? { labels } : {}) }] });
    const c = (name: string, help: string, value: number): Family => ({ name, help, type: 'counter', samples: [{ value }] });
    // Event-loop delay since the last scrape (the histogram restarts at each one); ns → s.
    const loopMax = this.loop.count > 0 ? this.loop.max / 1e9 : 0;
    const loopP99 = this.loop.count > 0 ? this.loop.percentile(99) / 1e9 : 0;
    this.loop.reset();
    const families: Family[] = [
      g('sdv_agent_info', 'The agent: version and runtime id (value 1).', 1, { version: parts.runtime.version, runtime_id: parts.runtime.runtimeId }),
      g('sdv_agent_uptime_seconds', 'Seconds since the agent started.', (Date.now() - parts.runtime.startedAt) / 1000),
      g('sdv_agent_resident_memory_bytes', 'Resident set size of the agent process.', mem.rss),
      g('sdv_agent_heap_used_bytes', 'V8 heap in use.', mem.heapUsed),
      g('sdv_agent_heap_total_bytes', 'V8 heap reserved.', mem.heapTotal),
      g('sdv_agent_event_loop_delay_p99_seconds', '99th percentile of the event-loop delay since the previous scrape.', loopP99),
      g('sdv_agent_event_loop_delay_max_seconds', 'Longest event-loop delay since the previous scrape.', loopMax),
      g('sdv_agent_kit_manager_connected', '1 while the Kit-Manager link is up (0 also when none is configured).', km.connected ? 1 : 0),
      c('sdv_agent_kit_manager_dropped_replies_total', 'Replies to the Kit-Manager dropped on a congested link.', km.droppedReplies),
      g('sdv_agent_kuksa_connected', '1 while the databroker is reachable.', parts.status.kuksa.connected ? 1 : 0),
      { name: 'sdv_agent_door_clients', help: 'Clients connected to each door.', type: 'gauge', samples: [{ labels: { door: 'local_api' }, value: this.doors.localApi() }, { labels: { door: 'mqtt' }, value: mqtt?.broker?.clients ?? 0 }] },
      g('sdv_agent_mqtt_clients', 'Clients of the embedded MQTT broker.', mqtt?.broker?.clients ?? 0),
      c('sdv_agent_mqtt_messages_received_total', 'PUBLISH packets the embedded broker received.', mqtt?.broker?.messagesIn ?? 0),
      c('sdv_agent_mqtt_messages_sent_total', 'PUBLISH packets the embedded broker sent.', mqtt?.broker?.messagesOut ?? 0),
      c('sdv_agent_mqtt_messages_dropped_total', 'Messages the embedded broker dropped for a client that did not read.', mqtt?.broker?.dropped ?? 0),
      c('sdv_agent_limit_memory_kills_total', 'Processes of apps and ad-hoc runs the kernel killed at their memory limit.', parts.apps.watch.confinement.allTotals.memoryKills),
      c('sdv_agent_limit_fork_refusals_total', 'Forks of apps and ad-hoc runs refused at their process limit.', parts.apps.watch.confinement.allTotals.forkRefusals),
      ...this.appFamilies(),
    ];
    return renderFamilies(families);
  }

  private appFamilies(): Family[] {
    const apps = this.parts.apps.metricsView();
    const fam = (name: string, help: string, type: 'gauge' | 'counter', pick: (a: (typeof apps)[number]) => number | null): Family => ({
      name, help, type, samples: apps.flatMap((a) => { const v = pick(a); return v === null ? [] : [{ labels: { app: a.id }, value: v }]; }),
    });
    return [
      { name: 'sdv_app_status', help: 'Each app\'s status (value 1 on its current status).', type: 'gauge', samples: apps.map((a) => ({ labels: { app: a.id, status: a.status }, value: 1 })) },
      fam('sdv_app_cpu_seconds_total', 'CPU time of the app\'s current run (its cgroup, else its leader and reaped children).', 'counter', (a) => a.cpuSeconds),
      fam('sdv_app_memory_bytes', 'Memory of the app\'s processes (its cgroup\'s usage, else their RSS).', 'gauge', (a) => a.memoryBytes),
      fam('sdv_app_restarts_total', 'Restarts through the restart policy since the app was deployed.', 'counter', (a) => a.restarts),
      fam('sdv_app_limit_kills_total', 'Processes of the app the kernel killed at its memory limit since the agent started.', 'counter', (a) => a.memoryKills),
      fam('sdv_app_fork_refusals_total', 'Forks of the app refused at its process limit since the agent started.', 'counter', (a) => a.forkRefusals),
      fam('sdv_app_health_check_failures_total', 'Failed health checks of the app since the agent started.', 'counter', (a) => a.healthFailures),
      fam('sdv_app_console_lines_total', 'Console lines of the app (its last seq).', 'counter', (a) => a.consoleLines),
    ];
  }
}
