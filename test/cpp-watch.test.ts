// Watched variables of a running C++ program (src/apps/tracer/cpp-*.ts): the real agent builds the program with g++,
// runs it, reads its globals from /proc/<pid>/mem and writes them for set_vars_value. Through the stand-in Kit-Manager
// with the frontend-logic client (test/helpers/playground.ts: the Vars Watch tab sends watch_vars "a, b" and writes the
// text typed into a variable's box), and over the local API for the type-by-type checks.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ApiClient, eventually, startAgent, tmpDir, type Scope } from './helpers/agent';
import { StandInKitManager } from './helpers/kit-manager';
import { Playground, type PrototypeSpec } from './helpers/playground';
import { Dwarf } from '../src/apps/tracer/cpp-dwarf';
import { ElfFile } from '../src/apps/tracer/cpp-elf';

type F = Record<string, unknown>;
const KIT = 'RunTime-Vars';
const isRoot = process.getuid?.() === 0;

/** A program that counts while it runs and prints each step; it ends when counter reaches 100000 or after 60 s. */
const COUNTER = `#include <cstdio>
#include <chrono>
#include <thread>
int counter = 0;
double speed = 0.0;
int main() {
  for (int i = 0; i < 600; i++) {
    counter++;
    speed = counter * 0.5;
    std::printf("counter %d\\n", counter);
    std::fflush(stdout);
    if (counter >= 100000) { std::printf("reached %d\\n", counter); return 0; }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return 1;
}
`;

async function playground(t: Scope & { teardown(fn: () => unknown): void }, prototype: PrototypeSpec) {
  const km = await StandInKitManager.start();
  t.teardown(() => km.close());
  await startAgent(t, { config: { runtime: { name: 'Vars' }, kitManager: { url: km.url, reconnect: { minMs: 50, maxMs: 500 } }, apps: { adhocMaxS: 120, stopGraceMs: 1000 } } });
  const p = await Playground.open(km.url, { assets: [{ type: 'CLOUD_RUNTIME', name: KIT }], prototype });
  t.teardown(() => p.close());
  await p.selected(KIT);
  return p;
}

t.test('the Vars Watch tab: run_cpp_app with watch_vars "counter, speed" shows counter rising; set_vars_value changes what the program prints', async (t) => {
  const p = await playground(t, { id: 'w1', name: 'Counter', language: 'cpp', code: COUNTER, watchVars: [{ name: 'counter' }, { name: 'speed' }] });
  p.run();
  const counters = () => p.replies.filter((r) => r.cmd === 'trace_vars' && typeof (r.data as F)?.counter === 'number').map((r) => (r.data as F).counter as number);
  await p.until('two trace_vars frames with counter rising', () => { const c = counters(); return c.length >= 2 && c[c.length - 1]! > c[0]!; });
  const first = p.replies.find((r) => r.cmd === 'trace_vars')!;
  t.same(Object.keys(first.data as F).sort(), ['counter', 'speed'], 'the first frame carries every watched variable');
  t.equal(first.kit_id, KIT);
  t.equal(first.request_from, p.id, 'to the page that ran it');
  t.type(p.traceVars.speed, 'number', 'speed (a double) reached the vars view');
  // The Vars Watch box sends the text typed into it (PrototypeVarsWatch.tsx onEnter → C writeVarsValue).
  p.writeVarsValue({ counter: '100000' });
  const log = await p.logShows(/Exit code/);
  t.match(log, /reached 100001\r\nExit code 0\r\n$/, 'the program saw the value written');
  t.notMatch(log, /Warning|Error/, 'no warning, no error');
  const ok = p.replies.find((r) => r.cmd === 'set_vars_value');
  t.equal(ok?.result, 'Successful');
  t.same(ok?.data, ['counter']);
  t.ok(counters().some((c) => c >= 100000), 'and the vars view showed it');
});

/** A program with one global of every supported type (and a few that are not), printing them when told to. */
const TYPES = `#include <cstdint>
#include <cstdio>
#include <chrono>
#include <thread>
int8_t i8 = -8; uint8_t u8 = 200; int16_t i16 = -1600; uint16_t u16 = 60000;
int32_t i32 = -320000; uint32_t u32 = 4000000000u; int64_t i64 = -9000000000000000000LL; uint64_t u64 = 18000000000000000000ULL;
long long ll = 42; unsigned long ul = 7; short sh = -3; char ch = 65; signed char sc = -5; unsigned char uc = 250;
float f = 1.5f; double d = -2.25; bool b = true; char label[16] = "hello";
static int file_static = 11;
namespace cfg { int limit = 5; }
const int fixed = 3;
struct Point { int x, y; } point = {1, 2};
struct Config { static int rate; };
int Config::rate = 9;
int *ptr = nullptr;
int dump = 0;
int main() {
  for (int i = 0; i < 1200; i++) {
    if (dump) {
      dump = 0;
      std::printf("dump i8=%d u8=%u i16=%d u16=%u i32=%d u32=%u i64=%lld u64=%llu f=%g d=%g b=%d label=%s fs=%d limit=%d\\n",
        i8, u8, i16, u16, i32, u32, (long long)i64, (unsigned long long)u64, f, d, b, label, file_static, cfg::limit);
      std::fflush(stdout);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return fixed + point.x + (ptr ? 1 : 0) - 4 + Config::rate - 9;
}
`;

async function localRun(t: Scope & { teardown(fn: () => unknown): void }, code: string, watchVars: string, config: F = {}) {
  const agent = await startAgent(t, { ...config, config: { apps: { adhocMaxS: 120, stopGraceMs: 1000 }, ...(config.config as F | undefined) } });
  const c = await ApiClient.connect(agent.apiUrl);
  t.teardown(() => c.close());
  const id = `run-${Math.random().toString(36).slice(2)}`;
  c.send({ type: 'run_cpp_app', id, data: { code, name: 'Types', watch_vars: watchVars } });
  const vars: F = {};
  const seen = () => { for (const f of c.frames) if (f.requestId === id && f.cmd === 'trace_vars') Object.assign(vars, f.data as F); return vars; };
  const output = () => c.frames.filter((f) => f.requestId === id && f.isDone === false).map((f) => String(f.result)).join('');
  return { agent, c, id, seen, output };
}

t.test('every supported type is read as the frontend shows it, and written within its size', async (t) => {
  const names = 'i8, u8, i16, u16, i32, u32, i64, u64, ll, ul, sh, ch, sc, uc, f, d, b, label, file_static, cfg::limit, Config::rate, dump';
  const { c, id, seen, output } = await localRun(t, TYPES, names);
  await c.waitFor(() => Object.keys(seen()).length >= 22);
  t.same(seen(), {
    i8: -8, u8: 200, i16: -1600, u16: 60000, i32: -320000, u32: 4000000000, i64: '-9000000000000000000', u64: '18000000000000000000',
    ll: 42, ul: 7, sh: -3, ch: 65, sc: -5, uc: 250, f: 1.5, d: -2.25, b: true, label: 'hello', file_static: 11, 'cfg::limit': 5, 'Config::rate': 9, dump: 0,
  }, 'integers of every width and sign (beyond 2^53 as decimal text), float, double, bool, a char array as its string, a file-scope static, a namespace variable, a static class member');
  t.notMatch(output(), /Warning/, 'nothing refused');

  const set = async (values: F) => {
    const rid = `set-${Math.random()}`;
    c.send({ type: 'set_vars_value', id: rid, data: values });
    return c.waitFor((f) => f.id === rid);
  };
  const ok = await set({ i8: '-128', u8: 255, i16: '32767', u16: '0', i32: -2147483648, u32: '4294967295', i64: '-9223372036854775808', u64: '18446744073709551615', f: '0.25', d: -1e300, b: 'false', label: 'héllo wörld', file_static: 12, 'cfg::limit': '0x10' });
  t.equal(ok.result, 'Successful', JSON.stringify(ok));
  await c.waitFor(() => seen().label === 'héllo wörld' && seen().u64 === '18446744073709551615');
  t.match(seen(), { i8: -128, u8: 255, i16: 32767, u16: 0, i32: -2147483648, u32: 4294967295, i64: '-9223372036854775808', f: 0.25, d: -1e300, b: false, file_static: 12, 'cfg::limit': 16 }, 'the new values are read back');
  await set({ dump: 1 });
  await c.waitFor(() => /dump /.test(output()));
  t.match(output(), /dump i8=-128 u8=255 i16=32767 u16=0 i32=-2147483648 u32=4294967295 i64=-9223372036854775808 u64=18446744073709551615 f=0.25 d=-1e\+300 b=0 label=héllo wörld fs=12 limit=16\r?\n/, 'the program itself sees every value written');
  c.send({ type: 'stop_python_app', id: 'stop', data: {} });
  await c.waitFor((f) => f.id === id);
});

t.test('refusals: unknown and unsupported names said once, the run goes on; a bad value or an unknown name writes nothing', async (t) => {
  const { c, id, seen, output } = await localRun(t, TYPES, 'i32, nosuch, point, ptr, fixed, label, speed-kmh');
  await c.waitFor(() => seen().i32 !== undefined && /Warning: watch_vars: "nosuch"/.test(output()));
  const text = output();
  t.match(text, /^Warning: watch_vars: skipped "speed-kmh" \(not a C\+\+ variable name, or more than 64\); watching i32, nosuch, point, ptr, fixed, label\r\n/, 'a name that cannot be C++: skipped at once');
  t.match(text, /Warning: watch_vars: "nosuch": not a global or file-scope static variable of the program; "point": its type is struct Point: not supported \(integers, float, double, bool and char arrays are\); "ptr": its type is a pointer: not supported .*; watching i32, fixed, label\r\n/, 'a struct and a pointer: not supported, by name; a const global is watched (read only)');
  t.equal(text.match(/"nosuch"/g)?.length, 1, 'said once');

  const set = async (values: F) => {
    const rid = `set-${Math.random()}`;
    c.send({ type: 'set_vars_value', id: rid, data: values });
    return c.waitFor((f) => f.id === rid);
  };
  const unknown = await set({ nosuch: 1, i32: 5 });
  t.equal(unknown.type, 'error');
  t.equal(unknown.code, 'BAD_REQUEST');
  t.match(String(unknown.error), /nosuch: not a global or file-scope static variable of the program; nothing was written \(watched: i32, fixed, label\)/);
  const bad = await set({ i32: 'fast' });
  t.match(String(bad.error), /i32 \(32-bit integer\): expected an integer for a 32-bit integer, got "fast"/);
  const range = await set({ i32: 2 ** 31 });
  t.match(String(range.error), /2147483648 is out of range for a 32-bit integer \(-2147483648…2147483647\)/);
  const long = await set({ label: 'x'.repeat(16) });
  t.match(String(long.error), /16 bytes and the closing NUL do not fit in char\[16\]/);
  const notWatched = await set({ u8: 1 });
  t.match(String(notWatched.error), /u8: not watched/);
  const constant = await set({ fixed: 4 });
  t.match(String(constant.error), /fixed \(32-bit integer\): it is const/);
  t.match(output(), /Error: set_vars_value: i32 \(32-bit integer\): expected an integer/, 'a refusal is also a line of the run\'s output (the page shows no set_vars_value reply)');
  const good = await set({ i32: 7 });
  t.equal(good.result, 'Successful');
  await c.waitFor(() => seen().i32 === 7);
  const i32s = c.frames.filter((f) => f.requestId === id && f.cmd === 'trace_vars' && (f.data as F).i32 !== undefined).map((f) => (f.data as F).i32);
  t.same(i32s, [-320000, 7], 'nothing was written by any refused request (a write is read back at once)');
  t.equal(seen().fixed, 3, 'the const global is read');
  c.send({ type: 'stop_python_app', id: 'stop', data: {} });
  await c.waitFor((f) => f.id === id);
});

t.test('apps.runAs: the watched program runs as another user and is read and written', { skip: isRoot ? false : 'needs root (apps.runAs)' }, async (t) => {
  const base = tmpDir(t, 'cpp-runas-');
  fs.chmodSync(base, 0o711);
  const nobody = Number(execFileSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).trim());
  const code = COUNTER.replace('int main() {', '#include <unistd.h>\nint main() {\n  std::printf("uid %d\\n", (int)getuid());');
  const { c, id, seen, output } = await localRun(t, code, 'counter, speed', { dataDir: path.join(base, 'data'), config: { apps: { runAs: 'nobody', adhocMaxS: 120, stopGraceMs: 1000 } } });
  await c.waitFor(() => typeof seen().counter === 'number' && (seen().counter as number) >= 2);
  // The program's first line; compiler output (a warning on a slow build) may come before it.
  t.match(output(), new RegExp(`(^|\\n)uid ${nobody}\\r\\n`), `the program runs as nobody (${JSON.stringify(output().slice(0, 300))})`);
  const rid = 'set-runas';
  c.send({ type: 'set_vars_value', id: rid, data: { counter: 100000 } });
  t.equal((await c.waitFor((f) => f.id === rid)).result, 'Successful');
  const end = await c.waitFor((f) => f.id === id);
  t.equal(end.code, 0);
  t.match(output(), /reached 100001\r\n/, 'the write reached the program');
});

t.test('a watched program that becomes another program (exec) is no longer read or written', async (t) => {
  // It execs only once the test has seen it watched and set go: on a busy box the watcher's first look may come after
  // a fixed second of counting, and a program that has already become sleep is rightly not attached at all.
  const code = `#include <cstdio>
#include <unistd.h>
int counter = 0;
volatile int go = 0;
int main() {
  for (counter = 1; go == 0; counter++) { std::printf("counter %d\\n", counter); std::fflush(stdout); usleep(100000); }
  std::printf("exec\\n"); std::fflush(stdout);
  execl("/bin/sleep", "sleep", "60", (char *)nullptr);
  return 1;
}
`;
  const { c, id, seen, output } = await localRun(t, code, 'counter, go');
  await c.waitFor(() => typeof seen().counter === 'number');
  t.equal((await set(c, { go: 1 })).result, 'Successful', 'go set while the program is watched');
  await c.waitFor(() => /exec\r?\n/.test(output()));
  let last: F = {};
  let n = 0;
  await eventually('set_vars_value refused once the program is /bin/sleep', async () => {
    const rid = `set-${++n}`;
    c.send({ type: 'set_vars_value', id: rid, data: { counter: 7 } });
    last = await c.waitFor((f) => f.id === rid);
    return last.type === 'error';
  }, { stepMs: 100 });
  t.equal(last.code, 'UNAVAILABLE', String(last.error));
  const frames = () => c.frames.filter((f) => f.requestId === id && f.cmd === 'trace_vars').length;
  const before = frames();
  const again = await set(c, { counter: 8 });
  t.equal(again.code, 'UNAVAILABLE', 'still refused: the new image is not the program that was built');
  t.equal(frames(), before, 'and nothing of it was read');
  c.send({ type: 'stop_python_app', id: 'stop', data: {} });
  await c.waitFor((f) => f.id === id);
});

async function set(c: ApiClient, values: F): Promise<F> {
  const rid = `set-${Math.random()}`;
  c.send({ type: 'set_vars_value', id: rid, data: values });
  return c.waitFor((f) => f.id === rid);
}

t.test('the DWARF reader on what g++ writes with -gdwarf-4 and -gdwarf-5 (PIE and not): globals, statics, namespace and static class members', async (t) => {
  const dir = tmpDir(t, 'cpp-dwarf-');
  const src = path.join(dir, 'a.cpp');
  fs.writeFileSync(src, 'struct Config { static int rate; };\nint Config::rate = 9;\nnamespace ns { double limit = 5; }\nstatic char tag[8] = "x";\nint g;\nint main() { static int local = 1; return Config::rate + ns::limit + tag[0] + g + local; }\n');
  for (const flags of [['-gdwarf-4'], ['-gdwarf-5'], ['-gdwarf-5', '-no-pie']]) {
    const exe = path.join(dir, `a${flags.join('')}`);
    execFileSync('g++', ['-O0', ...flags, '-o', exe, src]);
    const fd = fs.openSync(exe, 'r');
    try {
      const elf = new ElfFile(fd, 1 << 26);
      t.equal(elf.pie, !flags.includes('-no-pie'), `${flags.join(' ')}: PIE as built`);
      const dwarf = new Dwarf({ info: elf.section('.debug_info')!, abbrev: elf.section('.debug_abbrev')!, str: elf.section('.debug_str'), lineStr: elf.section('.debug_line_str'), strOffsets: elf.section('.debug_str_offsets'), addr: elf.section('.debug_addr') });
      const scan = dwarf.scan(new Set(['Config::rate', 'ns::limit', 'tag', 'g', 'local', 'main::local']));
      let step = scan.next();
      while (!step.done) step = scan.next();
      const symbols = new Map(elf.dataSymbols().map((s) => [s.name, s.value]));
      const found = step.value;
      t.same([...found.keys()].sort(), ['Config::rate', 'g', 'ns::limit', 'tag'], `${flags.join(' ')}: a function's static is not a global`);
      t.equal(found.get('Config::rate')![0]!.address, symbols.get('_ZN6Config4rateE'), 'the static member at its symbol\'s address');
      t.equal(found.get('g')![0]!.address, symbols.get('g'));
      t.same(dwarf.typeAt(found.get('ns::limit')![0]!.typeRef!), { kind: 'float', size: 8, readonly: false });
      t.same(dwarf.typeAt(found.get('tag')![0]!.typeRef!), { kind: 'chars', size: 8, readonly: false });
    } finally { fs.closeSync(fd); }
  }
});
