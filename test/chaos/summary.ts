// Totals of the last chaos run: reads test/chaos/out/<section>.json, prints one line per section and the sum, and
// writes out/summary.json. Run after the suite (npm run test:chaos does).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { OUT_DIR, type SectionSummary } from './lib';

const files = fs.existsSync(OUT_DIR) ? fs.readdirSync(OUT_DIR).filter((f) => f.endsWith('.json') && f !== 'summary.json') : [];
const sections = files.map((f) => JSON.parse(fs.readFileSync(path.join(OUT_DIR, f), 'utf8')) as SectionSummary);
const total = { faultsInjected: 0, faultsSurvived: 0, framesFuzzed: 0, crashes: 0, stateLost: 0 };
for (const s of sections) {
  for (const k of Object.keys(total) as Array<keyof typeof total>) total[k] += s[k];
  process.stdout.write(`${s.section} [${s.mode}]: injected ${s.faultsInjected}, survived ${s.faultsSurvived}, fuzzed ${s.framesFuzzed}, crashes ${s.crashes}, state lost ${s.stateLost}${s.skipped.length ? ` (${s.skipped.join('; ')})` : ''}\n`);
}
process.stdout.write(`TOTAL: faults injected ${total.faultsInjected}, faults survived ${total.faultsSurvived}, frames fuzzed ${total.framesFuzzed}, crashes ${total.crashes}, acknowledged state lost ${total.stateLost}\n`);
fs.writeFileSync(path.join(OUT_DIR, 'summary.json'), JSON.stringify({ at: new Date().toISOString(), total, sections }, null, 2) + '\n');
process.exitCode = total.crashes === 0 && total.stateLost === 0 ? 0 : 1;
