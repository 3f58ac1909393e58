// Log lines and the journal: when stdout is the stream $JOURNAL_STREAM names (what systemd sets up for a service),
// every line carries the syslog prefix of its level ("<3>" for errors), which journald turns into the entry's
// priority; anywhere else the lines are plain JSON. The real journald is checked by scripts/test-systemd.sh.
import t from 'tap';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { syslogPriority } from '../src/log';
import { AGENT_JS, CEILING_MS, sleep, tmpDir, uninstrumented } from './helpers/agent';
import { stopChild, trackChild } from './helpers/scope';

t.test('pino levels map to syslog priorities', async (t) => {
  t.same([60, 50, 40, 30, 20, 10].map(syslogPriority), [2, 3, 4, 6, 7, 7]);
});

/** Runs the bundled agent with stdout on a file, until its 'ready' line; returns the lines it wrote by then. */
async function runWithStdoutFile(journalStream: (st: fs.Stats) => string | null): Promise<string[]> {
  const dir = tmpDir(t);
  const dataDir = path.join(dir, 'data');
  // An unreadable registry: the agent logs it at level error and starts anyway.
  fs.mkdirSync(path.join(dataDir, 'apps'), { recursive: true, mode: 0o700 });
  fs.writeFileSync(path.join(dataDir, 'apps', 'registry.json'), '{not json');
  const configFile = path.join(dir, 'config.yaml');
  fs.writeFileSync(configFile, stringify({ runtime: { dataDir }, api: { port: 0 }, health: { port: 0 }, kuksa: { serve: false }, mqtt: { address: '127.0.0.1:0' } }));
  const out = path.join(dir, 'stdout');
  const fd = fs.openSync(out, 'w');
  const env: Record<string, string> = { ...process.env as Record<string, string>, SDV_AGENT_CONFIG: '' };
  delete env.JOURNAL_STREAM;
  const js = journalStream(fs.fstatSync(fd));
  if (js !== null) env.JOURNAL_STREAM = js;
  const [file, ...args] = uninstrumented([process.execPath, AGENT_JS, '--config', configFile]);
  const proc = trackChild(spawn(file!, args, { env, stdio: ['ignore', fd, 'inherit'] }));
  t.teardown(() => stopChild(proc));
  fs.closeSync(fd);
  const deadline = Date.now() + CEILING_MS;
  while (!fs.readFileSync(out, 'utf8').includes('"msg":"ready"') && Date.now() < deadline && proc.exitCode === null) await sleep(50);
  await stopChild(proc);
  return fs.readFileSync(out, 'utf8').split('\n').filter(Boolean);
}

t.test('stdout is the journal stream: each line is "<priority>" + the JSON object', async (t) => {
  const lines = await runWithStdoutFile((st) => `${st.dev}:${st.ino}`);
  t.ok(lines.length > 3, `${lines.length} lines`);
  for (const line of lines) {
    const m = /^<(\d)>(\{.*\})$/.exec(line);
    t.ok(m, `prefixed: ${line.slice(0, 60)}`);
    if (!m) continue;
    const rec = JSON.parse(m[2]!) as { level: number; msg: string };
    t.equal(Number(m[1]), syslogPriority(rec.level), `${rec.msg}: priority of level ${rec.level}`);
  }
  t.ok(lines.some((l) => l.startsWith('<3>') && l.includes('registry could not be read')), 'the error is <3>');
  t.ok(lines.some((l) => l.startsWith('<6>') && l.includes('"msg":"ready"')), 'info is <6>');
});

t.test('stdout is something else (JOURNAL_STREAM unset or naming another stream): plain JSON lines', async (t) => {
  for (const [what, js] of [['unset', () => null], ['another stream', (st: fs.Stats) => `${st.dev}:${st.ino + 1}`]] as const) {
    const lines = await runWithStdoutFile(js);
    t.ok(lines.length > 3);
    t.ok(lines.every((l) => l.startsWith('{') && JSON.parse(l)), `${what}: every line parses as JSON`);
  }
});
