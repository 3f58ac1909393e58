// Section "mqtt-filters" — subscription filters made to cost the broker memory (red team of 2026-12-07, defect 3):
// persistent clients (clean session 0) subscribe 100 filters each and leave, their sessions kept, wave after wave.
//   - the attack as it was: filters of empty levels (`c0f0////…`, 1 020 levels in 1 024 bytes), each level a node of
//     the subscription tree: now refused (0x80) past 32 levels;
//   - the most a filter may cost now: 32 levels in 1 024 bytes, every one a path of its own; then a second wave of as
//     many fresh persistent clients (sessions kept past mqtt.maxClients drop the oldest, and their filters with them).
// 10 000 such filters (the full form; 400 in the short one) may grow the agent by RSS_BOUND at most; a client with an
// ordinary filter still subscribes and gets a message. Each attack on an agent of its own. Only keys the build before
// knows are set, so the same file measures it (SDV_AGENT_TEST_BUNDLE).
import t from 'tap';
import * as mqtt from 'mqtt-packet';
import { mosquittoSub } from '../helpers/mqtt';
import { MB, Summary, attack, caughtCrashes, count, seedFor } from './lib';
import { RssWatch, brokerAgent, connect, mosquittoPubAsync, subscribe } from './raw-mqtt';

const SECTION = 'mqtt-filters';
const summary = new Summary(SECTION, seedFor(SECTION));
t.teardown(() => summary.write(t));

/** The bound for 10 000 maximal filters. */
const RSS_BOUND = 128 * MB;
/** Where a build without the bound is stopped (it grew 4 GB for 10 000 filters). */
const SAFETY_STOP = 1536 * MB;
const CLIENTS = count(4, 100);
const WAVE = count(4, 50);
const FILTERS = 100;
const PER_PACKET = 20;
const BYTES = 1024;


/** 1 020 empty levels after the first: `c0f0////…`, 1 024 bytes. */
const emptyLevels = (c: number, f: number) => `c${c}f${f}`.padEnd(BYTES, '/');

/** 32 levels in 1 024 bytes, a path of its own from the first level on. */
function maximal(c: number, f: number): string {
  const first = `c${c}f${f}`;
  const per = Math.floor((BYTES - first.length - 31) / 31);
  let s = first;
  for (let l = 1; l < 32; l++) s += '/' + `l${l}`.padEnd(per, 'x');
  return s.padEnd(BYTES, 'y');
}

interface Wave { granted: number; refused: number; clients: number; stopped: boolean }

/** `clients` persistent clients, WAVE at a time: each subscribes FILTERS filters and disconnects, its session kept. */
async function subscribeWaves(port: number, prefix: string, from: number, clients: number, filter: (c: number, f: number) => string, tooBig: () => boolean): Promise<Wave> {
  const out: Wave = { granted: 0, refused: 0, clients: 0, stopped: false };
  for (let w = from; w < from + clients && !out.stopped; w += WAVE) {
    await Promise.all(Array.from({ length: Math.min(WAVE, from + clients - w) }, async (_, k) => {
      const c = w + k;
      const conn = await connect(port, `${prefix}${c}`, { clean: false, timeoutMs: 30_000 });
      if (!conn || conn.returnCode !== 0) return;
      out.clients++;
      for (let p = 0; p < FILTERS / PER_PACKET && !out.stopped; p++) {
        const granted = await subscribe(conn.socket, p + 1, Array.from({ length: PER_PACKET }, (_, i) => filter(c, p * PER_PACKET + i)), 60_000);
        for (const g of granted ?? []) { if (g === 0x80) out.refused++; else out.granted++; }
        if (tooBig()) out.stopped = true;
      }
      conn.socket.end(mqtt.generate({ cmd: 'disconnect' }));
    }));
  }
  return out;
}

t.test('subscription filters that cost memory, kept by persistent sessions', async (t) => {
  const shapes = [
    { name: `empty-level filters (1 020 levels), ${CLIENTS * FILTERS} from ${CLIENTS} persistent clients`, filter: emptyLevels, waves: 1 },
    { name: `maximal filters (32 levels, 1 024 bytes), ${CLIENTS * FILTERS} from ${CLIENTS} persistent clients, then as many more`, filter: maximal, waves: 2 },
  ];
  for (const s of shapes) {
    const { agent, port } = await brokerAgent(t);
    await attack(t, summary, s.name, agent, async () => {
      const rss = new RssWatch(agent.proc.pid, 200);
      const rss0 = rss.last;
      const waves: Wave[] = [];
      for (let i = 0; i < s.waves; i++) {
        const w = await subscribeWaves(port, `hog${i}-`, 0, CLIENTS, s.filter, () => rss.peak - rss0 > SAFETY_STOP);
        waves.push(w);
        if (w.stopped) break;
      }
      const { peak } = rss.stop();
      const grew = peak - rss0;
      const stopped = waves.some((w) => w.stopped);
      const granted = waves.reduce((n, w) => n + w.granted, 0);
      const refused = waves.reduce((n, w) => n + w.refused, 0);
      summary.data.figures[`${s.name}: filters granted, refused (0x80)${stopped ? ' (stopped at the safety bound)' : ''}`] = `${granted}, ${refused}`;
      summary.data.figures[`${s.name}: agent RSS growth, peak (MB)`] = +(grew / MB).toFixed(1);
      t.equal(waves.reduce((n, w) => n + w.clients, 0), CLIENTS * waves.length, 'every hog was connected');
      t.ok(grew <= RSS_BOUND, `agent RSS grew ${(grew / MB).toFixed(1)} MB at the peak for ${granted} filters granted, ${refused} refused (bound ${RSS_BOUND / MB} MB)`);
      // An ordinary client still subscribes and is served.
      const sub = await mosquittoSub(t, port, ['-q', '1', '-t', 'legit/+/evt', '-C', '1']);
      t.teardown(() => sub.stop());
      const pub = await mosquittoPubAsync(port, ['-q', '1', '-t', 'legit/app/evt', '-m', 'hi']);
      const got = await sub.waitMessages(1, 15_000).catch(() => []);
      t.equal(pub, 'ok', 'a publisher is served');
      t.same(got, ['legit/app/evt hi'], 'an ordinary subscriber gets its message');
      return grew <= RSS_BOUND && pub === 'ok' && got.length === 1;
    });
    summary.data.crashes += caughtCrashes(agent).length;
    await agent.stop('SIGKILL');
  }
});
