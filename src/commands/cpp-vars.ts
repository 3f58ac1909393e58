// Watched variables of a compiled run (run_cpp_app with data.watch_vars, as the playground's Vars Watch tab sends them:
// "a, b"). build.ts asks before the build (a watched C++ program is built with debug information) and attaches the
// watcher (apps/tracer/cpp-watch.ts) once the run has started; values reach the requester as {cmd:"trace_vars",
// data:{name:value}} and set_vars_value (vars.ts) finds the watcher in the trace registry, like a traced python run's.
import { CppWatch, splitCppNames } from '../apps/tracer/cpp-watch';
import type { Language } from '../build/compile';
import type { Frame } from '../core/frame';
import type { CommandContext } from './types';

export interface CompiledRunWatch {
  /** The names to watch; empty when nothing is (then the build needs no debug information). */
  readonly names: readonly string[];
  /** One line for the run's output when a name was skipped. */
  readonly warning?: string;
  /** Starts watching the run's program (the run's wrapper pid, the built executable). */
  attach(wrapperPid: number, exe: string, output: (text: string) => void): void;
  /** The run has ended (or never started). */
  end(): void;
}

const NOTHING: CompiledRunWatch = { names: [], attach() {}, end() {} };

export function watchForCompiledRun(ctx: CommandContext, data: Frame, lang: Language): CompiledRunWatch {
  const raw = data.watch_vars;
  if (raw === undefined || raw === null || raw === '' || (Array.isArray(raw) && raw.length === 0)) return NOTHING;
  if (lang !== 'cpp') return { ...NOTHING, warning: 'Warning: watch_vars: variables are watched in C++ programs only; watching nothing' };
  const { names, skipped } = splitCppNames(raw);
  const warning = skipped.length === 0 ? undefined
    : `Warning: watch_vars: skipped ${skipped.map((s) => JSON.stringify(s)).join(', ')} (not a C++ variable name, or more than 64); ${names.length ? `watching ${names.join(', ')}` : 'watching nothing'}`;
  if (names.length === 0) return { ...NOTHING, ...(warning ? { warning } : {}) };
  const owner = ctx.client.id;
  let watch: CppWatch | null = null;
  let ended = false;
  return {
    names, ...(warning ? { warning } : {}),
    attach(wrapperPid, exe, output) {
      if (ended) return;
      watch = new CppWatch({
        names, exe, wrapperPid, runAs: ctx.parts.runAs,
        onVars: (vars) => ctx.emit({ cmd: 'trace_vars', data: vars }),
        onLine: (text) => output(`${text}\n`),
      });
      ctx.parts.traces.add(owner, watch);
    },
    end() {
      ended = true;
      if (watch) ctx.parts.traces.remove(owner, watch);
    },
  };
}
