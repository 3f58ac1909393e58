// Section "file-limits" — read-file of what a process of the agent's user can leave in the box's file folder
// (runtime.filesDir; an app without apps.runAs runs as that user):
//   - a FIFO where the hardware-kit page keeps its signal mapping: opening it to read used to block the agent's whole
//     event loop until something opened it for writing (ping and /health stopped; the unit's watchdog would have
//     killed the agent after 30 s);
//   - a file of api.maxPayloadBytes − 1 KiB of control characters, read once and by 8 clients at once: each character
//     is six bytes as JSON text (`\u0001`), and the reply used to be six times the bound (96 MiB for 16 MiB).
// Every attack runs with the liveness probe (ping and /health answered throughout) and reports RSS before/after.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import { ApiClient, startAgent } from '../helpers/agent';
import { LIVENESS_MS, MB, Summary, attack, caughtCrashes, count, req, rssOf, seedFor, sleep } from './lib';
import { SAFE_ENV } from './safe-env';

const SECTION = 'file-limits';
const summary = new Summary(SECTION, seedFor(SECTION));
t.teardown(() => summary.write(t));

/** The hardware-kit page's signal mapping (FormHardwareKitManager.tsx). */
const MAPPING = '/app/signal-config.json';

t.test('a FIFO where read-file expects a file', async (t) => {
  const agent = await startAgent(t, { env: SAFE_ENV });
  const c = await ApiClient.connect(agent.apiUrl);
  t.teardown(() => c.close());
  const fifo = path.join(agent.dataDir, 'files', 'app', 'signal-config.json');
  fs.mkdirSync(path.dirname(fifo), { recursive: true });
  execFileSync('mkfifo', [fifo]);
  await attack(t, summary, `read-file ${MAPPING}, a FIFO nobody writes to`, agent, async () => {
    const t0 = Date.now();
    const answer = req(c, { type: 'read-file', data: MAPPING });
    let got: Record<string, unknown> | null = null;
    void answer.then((r) => { got = r; }, () => {});
    // Long enough for the probe to see a blocked agent; then, if it is blocked, a writer opens the FIFO and lets it go.
    for (const end = Date.now() + LIVENESS_MS; !got && Date.now() < end;) await sleep(50);
    const blockedMs = got ? 0 : Date.now() - t0;
    if (!got) {
      for (const end = Date.now() + 10_000; Date.now() < end;) {
        try { fs.closeSync(fs.openSync(fifo, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK)); break; } catch { await sleep(50); }
      }
    }
    const r = await answer;
    const ms = Date.now() - t0;
    summary.data.figures[`read-file of a FIFO: answered in (ms)`] = ms;
    summary.data.figures['read-file of a FIFO: the agent blocked until a writer came (ms)'] = blockedMs;
    const ok = blockedMs === 0 && r.code === 'BAD_REQUEST' && /is a FIFO \(named pipe\), not a file/.test(String(r.error));
    t.ok(ok, `answered ${String(r.code ?? r.result)} in ${ms} ms without a writer: ${String(r.error ?? '').slice(0, 160)}`);
    return ok;
  }, { everyMs: 100 });
  summary.data.crashes += caughtCrashes(agent).length;
});

t.test('a file whose JSON text is six times its size', async (t) => {
  const maxPayload = count(2 * MB, 16 * MB);
  const agent = await startAgent(t, { env: SAFE_ENV, config: { api: { maxPayloadBytes: maxPayload } } });
  const size = maxPayload - 1024;
  fs.mkdirSync(path.join(agent.dataDir, 'files'), { recursive: true });
  fs.writeFileSync(path.join(agent.dataDir, 'files', 'ctl.json'), Buffer.alloc(size, 1));
  const clients = await Promise.all(Array.from({ length: 8 }, () => ApiClient.connect(agent.apiUrl)));
  t.teardown(() => { for (const c of clients) c.close(); });
  /** Reads from `readers` clients at once; the agent's RSS at its peak meanwhile, and the answers. */
  const readAll = async (readers: ApiClient[]) => {
    const rss0 = rssOf(agent.proc.pid) ?? 0;
    let peak = rss0;
    const sampler = setInterval(() => { peak = Math.max(peak, rssOf(agent.proc.pid) ?? 0); }, 50);
    const t0 = Date.now();
    const answers = await Promise.all(readers.map((c) => req(c, { type: 'read-file', data: '/ctl.json' }, 120_000)));
    clearInterval(sampler);
    peak = Math.max(peak, rssOf(agent.proc.pid) ?? 0);
    return { answers, ms: Date.now() - t0, grew: (peak - rss0) / MB };
  };
  const bound = count(64, 192);
  for (const readers of [1, 8]) {
    const name = `read-file of ${(size / MB).toFixed(2)} MiB of \\u0001 (api.maxPayloadBytes ${maxPayload / MB} MiB), ${readers} client${readers > 1 ? 's at once' : ''}`;
    await attack(t, summary, name, agent, async () => {
      const { answers, ms, grew } = await readAll(clients.slice(0, readers));
      const content = (answers[0]!.data as { content?: string } | undefined)?.content ?? '';
      const replyBytes = content.startsWith('Error:') ? 0 : Buffer.byteLength(JSON.stringify(answers[0]));
      summary.data.figures[`${name}: answered in (ms)`] = ms;
      summary.data.figures[`${name}: the reply's size (bytes, 0 = refused)`] = replyBytes;
      summary.data.figures[`${name}: RSS growth, peak (MB)`] = +grew.toFixed(1);
      const refused = answers.every((r) => r.code === 'LIMIT' && new RegExp(`has ${size} bytes, but as JSON text .* about ${size * 6 + 2 + 11 + 1024} bytes, more than the ${maxPayload}`).test(String(r.error)));
      t.ok(refused, `every reader gets LIMIT naming the sizes and the bound: ${String(answers[0]!.error ?? `a reply of ${replyBytes} bytes`).slice(0, 200)}`);
      t.ok(grew < bound, `RSS grew ${grew.toFixed(1)} MB at the peak (bound ${bound} MB)`);
      return refused && grew < bound;
    }, { everyMs: 100 });
  }
  summary.data.crashes += caughtCrashes(agent).length;
});
