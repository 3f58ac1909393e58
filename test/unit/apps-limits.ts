// src/apps/limits/: the limits of a deploy (spec.ts), the box's cgroup layout read from /proc (cgroup-fs.ts,
// cgroup-v1.ts) and what a guard makes of the kernel's counters (guard.ts). The cgroups themselves are exercised by
// test/apps-limits.test.ts against the real kernel.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { anyLimit, checkBoxLimit, describeLimit, effectiveLimits, parseAppLimits, type Limits } from '../../src/apps/limits/spec';
import { cgroupDir, parseKeyed, parseMounts, parseProcCgroup } from '../../src/apps/limits/cgroup-fs';
import { findV1 } from '../../src/apps/limits/cgroup-v1';
import { FORK_LINE_EVERY_MS, LimitGuard, type LimitCounters, type LimitEvent } from '../../src/apps/limits/guard';
import { rlimitEnv, RLIMIT_SH } from '../../src/apps/limits/rlimit';
import { CommandError } from '../../src/core/errors';

const BOX: Limits = { memoryMB: 512, cpuPercent: 100, pids: 256 };

t.test('config.limits: within range, never above the box, the field named when refused', async (t) => {
  t.same(parseAppLimits(undefined, BOX), {});
  t.same(parseAppLimits({ memoryMB: 128, pids: 64 }, BOX), { memoryMB: 128, pids: 64 });
  const refused = (raw: unknown, box: Limits, msg: RegExp) => {
    try { parseAppLimits(raw, box); t.fail(`expected a refusal matching ${String(msg)}`); } catch (e) {
      t.ok(e instanceof CommandError && e.code === 'BAD_REQUEST' && msg.test(e.message), `${String(msg)} (got: ${(e as Error).message})`);
    }
  };
  refused({ memoryMB: 1024 }, BOX, /^config\.limits\.memoryMB: at most 512 MiB, the box's limit \(apps\.limits\.memoryMB\)/);
  refused({ memoryMB: 0 }, BOX, /^config\.limits\.memoryMB: 0 \(no limit\) is not allowed/);
  refused({ memoryMB: 8 }, BOX, /^config\.limits\.memoryMB: expected 16 to/);
  refused({ pids: 2 }, BOX, /^config\.limits\.pids: expected 8 to/);
  refused({ cpuPercent: 50.5 }, BOX, /^config\.limits\.cpuPercent: expected an integer/);
  refused({ cpuPercent: '50' }, BOX, /^config\.limits\.cpuPercent: expected an integer/);
  refused({ swapMB: 1 }, BOX, /^config\.limits\.swapMB: unknown limit/);
  refused([1], BOX, /^config\.limits: expected an object/);
  t.same(parseAppLimits({ memoryMB: 0, cpuPercent: 400 }, { memoryMB: 0, cpuPercent: 0, pids: 0 }), { memoryMB: 0, cpuPercent: 400 }, 'a box without limits lets an app choose any');
});

t.test('effective limits: the app\'s where it has them, never above a ceiling lowered since', async (t) => {
  t.same(effectiveLimits(BOX, undefined), BOX);
  t.same(effectiveLimits(BOX, { memoryMB: 128 }), { ...BOX, memoryMB: 128 });
  t.same(effectiveLimits({ ...BOX, memoryMB: 64 }, { memoryMB: 128 }), { ...BOX, memoryMB: 64 }, 'the lower wins');
  t.same(effectiveLimits({ ...BOX, pids: 0 }, { pids: 32 }), { ...BOX, pids: 32 });
  t.ok(anyLimit(BOX));
  t.notOk(anyLimit({ memoryMB: 0, cpuPercent: 0, pids: 0 }));
  t.equal(checkBoxLimit('memoryMB', 0), null);
  t.match(checkBoxLimit('memoryMB', 4), /expected 0 \(no limit\) or 16 to/);
  t.equal(describeLimit('memoryMB', { ...BOX, memoryMB: 128 }), 'the memory limit (128 MiB)');
  t.equal(describeLimit('pids', { ...BOX, pids: 64 }), 'the process limit (64 processes and threads)');
});

// This development box: cgroup v1 with memory, cpu and pids, a cgroup2 mount beside it without controllers.
const MOUNTINFO = [
  '30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755',
  '31 30 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct',
  '34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory',
  '38 30 0:35 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids',
  '39 30 0:36 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd',
  '40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw',
  '41 22 0:40 /docker/abc /mnt/my\\040cgroup rw - cgroup cgroup rw,blkio',
].join('\n');
const PROC_CGROUP = '9:name=systemd:/system.slice/sdv-agent.service\n8:pids:/system.slice/sdv-agent.service\n4:memory:/process_api/d64\n2:cpu,cpuacct:/\n0::/system.slice/sdv-agent.service\n';

t.test('the cgroup layout from /proc: v1 hierarchies and where the agent is in each', async (t) => {
  const mounts = parseMounts(MOUNTINFO);
  t.same(mounts.map((m) => [m.fstype, m.mountPoint, m.controllers.join(',')]), [
    ['cgroup', '/sys/fs/cgroup/cpu,cpuacct', 'cpu,cpuacct'], ['cgroup', '/sys/fs/cgroup/memory', 'memory'], ['cgroup', '/sys/fs/cgroup/pids', 'pids'],
    ['cgroup', '/sys/fs/cgroup/systemd', 'name=systemd'], ['cgroup2', '/sys/fs/cgroup/unified', ''], ['cgroup', '/mnt/my cgroup', 'blkio'],
  ], 'mounts, co-mounted controllers and octal escapes');
  t.same(parseProcCgroup(PROC_CGROUP).at(-1), { controllers: [], path: '/system.slice/sdv-agent.service' });
  t.same(findV1(MOUNTINFO, PROC_CGROUP), [
    { controller: 'memory', own: '/sys/fs/cgroup/memory/process_api/d64' },
    { controller: 'cpu', own: '/sys/fs/cgroup/cpu,cpuacct' },
    { controller: 'pids', own: '/sys/fs/cgroup/pids/system.slice/sdv-agent.service' },
  ]);
  t.same(findV1(MOUNTINFO.split('\n').filter((l) => !l.includes('memory')).join('\n'), PROC_CGROUP).map((p) => p.controller), ['cpu', 'pids'], 'a hierarchy not mounted is not offered');
  t.equal(cgroupDir({ fstype: 'cgroup', mountPoint: '/sys/fs/cgroup/memory', root: '/docker/abc', controllers: ['memory'] }, '/docker/abc/x'), '/sys/fs/cgroup/memory/x', 'a mount of part of the hierarchy (a container\'s view)');
  t.same(parseKeyed('oom_kill_disable 0\nunder_oom 0\noom_kill 3\n'), { oom_kill_disable: 0, under_oom: 0, oom_kill: 3 });
  t.same(parseKeyed('max 57\n'), { max: 57 });
});

t.test('rlimits: numbers through the environment, a fixed shell text', async (t) => {
  t.same(rlimitEnv({ memoryMB: 128, cpuPercent: 50, pids: 64 }, { memory: true, pids: true }), { SDV_RLIMIT_AS_KB: '131072', SDV_RLIMIT_NPROC: '64' });
  t.same(rlimitEnv({ memoryMB: 128, cpuPercent: 50, pids: 64 }, { memory: false, pids: true }), { SDV_RLIMIT_NPROC: '64' });
  t.same(rlimitEnv({ memoryMB: 0, cpuPercent: 0, pids: 0 }, { memory: true, pids: true }), {});
  t.notMatch(RLIMIT_SH, /\d{2,}/, 'no value is part of the shell text');
  t.ok(fs.readFileSync(path.join(__dirname, '..', '..', 'src', 'apps', 'process.ts'), 'utf8').includes(RLIMIT_SH), 'the wrapper of process.ts has it, written out');
});

t.test('a guard: OOM kills and refused forks become lines; the run\'s end is told by its limit', async (t) => {
  let c: LimitCounters = { oomKills: 2, forkRefusals: 10, memoryBytes: 0, cpuSeconds: null };
  let now = 0;
  const events: LimitEvent[] = [];
  const g = new LimitGuard({ memoryMB: 128, cpuPercent: 0, pids: 64 }, () => c, (e) => events.push(e), () => now);
  g.poll();
  t.same(events, [], 'counts from before the run (a folder that outlived an earlier one) do not count');
  c = { ...c, forkRefusals: 15 };
  g.poll();
  t.match(events, [{ limit: 'pids', count: 5, line: /process limit \(64 processes and threads\) was reached: 5 new processes/ }]);
  c = { ...c, forkRefusals: 40 };
  now += 1000;
  g.poll();
  t.equal(events.length, 2);
  t.equal(events[1]!.line, '', 'counted, but no second line within the quiet time');
  now += FORK_LINE_EVERY_MS;
  c = { ...c, forkRefusals: 41 };
  g.poll();
  t.match(events[2], { count: 1, line: /26 new processes/ }, 'the next line says how many since the last');
  t.equal(g.verdict(15), null, 'SIGTERM without an OOM kill: no limit ended it');
  c = { ...c, oomKills: 3 };
  t.same(g.verdict(9), { limit: 'memoryMB', reason: 'killed by the memory limit (128 MiB)' });
  t.match(events.at(-1), { limit: 'memoryMB', count: 1, line: /memory limit \(128 MiB\) was reached: the kernel killed a process/ });
  t.same(g.totals, { oomKills: 1, forkRefusals: 31 });
});
