// The fallback where no cgroup can be had: per-process resource limits the wrapper shell of process.ts sets with
// `ulimit` before it starts the program, inherited by everything the program starts.
//   RLIMIT_AS (ulimit -v): the address space of each process, not the memory it uses: past it an allocation fails
//     (Python: MemoryError) instead of a kill; a program that reserves much more than it touches (Node, Go, Java, a
//     Python app with many threads, each reserving its stack) needs a larger value than its real use.
//   RLIMIT_NPROC (ulimit -u, dash's -p): the processes and threads of the run user, box-wide, not of the app: with
//     apps.runAs every app shares one count, and root is not held by it at all.
// Nothing bounds CPU here (RLIMIT_CPU would kill a process after so many seconds, it does not throttle).
import type { Limits } from './spec';

/** Variables the wrapper reads (and unsets before the program starts). */
export const RLIMIT_ENV = { as: 'SDV_RLIMIT_AS_KB', nproc: 'SDV_RLIMIT_NPROC' } as const;

/** The wrapper's environment for the limits that fall back to rlimits (`which`); empty when there are none. */
export function rlimitEnv(limits: Limits, which: { memory: boolean; pids: boolean }): Record<string, string> {
  const env: Record<string, string> = {};
  if (which.memory && limits.memoryMB > 0) env[RLIMIT_ENV.as] = String(limits.memoryMB * 1024);
  if (which.pids && limits.pids > 0) env[RLIMIT_ENV.nproc] = String(limits.pids);
  return env;
}

/**
 * The wrapper's shell text that applies them: fixed text, the values come only through the environment. A failure
 * (a seccomp filter that refuses setrlimit) leaves the limit unset rather than keeping the program from starting.
 */
export const RLIMIT_SH = `[ -n "$${RLIMIT_ENV.as}" ] && ulimit -v "$${RLIMIT_ENV.as}" 2>/dev/null; `
  + `[ -n "$${RLIMIT_ENV.nproc}" ] && { ulimit -u "$${RLIMIT_ENV.nproc}" 2>/dev/null || ulimit -p "$${RLIMIT_ENV.nproc}" 2>/dev/null; }; `
  + `unset ${RLIMIT_ENV.as} ${RLIMIT_ENV.nproc};`;
