// Builds a project tree (user-code/project-tree.ts) of a compiled language, in a fresh folder dataDir/builds/<random>/
// with the tree in src/ and everything the build makes in out/:
//   C++ with CMakeLists.txt at the root  cmake -S src -B out (CMAKE_BUILD_TYPE=Debug when variables are watched),
//                                         cmake --build out --parallel N; the program is the project's executable
//                                         target, read from CMake's file API (codemodel-v2) as the run user
//   C++ without one                      build.cxx -std=c++17 … -o out/app <every .cpp/.cc/.cxx of the tree>
//   Rust with Cargo.toml at the root     build.cargo build --offline --message-format=json-render-diagnostics;
//                                         the program is the package's binary named in cargo's messages
//   Rust without one                     build.rustc on main.rs or src/main.rs
// Every tool gets absolute paths the agent made (a name from the tree never starts an argument), runs as apps.runAs
// with the bounds of build-steps.ts. The folder is the run user's once the tree is written; the caller removes it
// (Build.cleanup) when the program has ended.
import fs = require('node:fs');
import os = require('node:os');
import path = require('node:path');
import { BUILD_ENV, inheritedEnv } from '../user-code/child-env';
import type { Config } from '../config';
import { handOver, type RunAs } from '../user-code/run-as';
import { readUserFile } from '../user-code/user-files';
import { runSteps, type BuildStep } from './build-steps';
import { newBuildFolder, type Build, type Language } from './compile';
import { fileAt, writeProject, type ProjectTree } from '../user-code/project-tree';

export interface ProjectBuild extends Build {
  /** Why the build failed, as the line the user reads after "Error: " (set when code is not 0). */
  readonly failure?: string;
  /** How the tree was built, for the first line of the output. */
  readonly kind: ProjectKind;
}

export type ProjectKind = 'cmake' | 'c++ sources' | 'cargo' | 'rustc';

const CXX_SOURCES = /\.(cpp|cc|cxx)$/;
/** What CMake's file API replies may weigh, read as the run user. */
const MAX_API_FILE = 1024 * 1024;
const MAX_API_TARGETS = 500;

export function projectKind(lang: Language, tree: ProjectTree): ProjectKind {
  if (lang === 'cpp') return fileAt(tree, 'CMakeLists.txt') ? 'cmake' : 'c++ sources';
  return fileAt(tree, 'Cargo.toml') ? 'cargo' : 'rustc';
}

/** Builds the tree; onOutput gets the tools' output as it comes. Rejects like compile() (a missing tool, the time limit). */
export async function buildProject(config: Config, lang: Language, tree: ProjectTree, onOutput: (text: string) => void, runAs: RunAs | null, opts: { watch?: boolean } = {}): Promise<ProjectBuild> {
  const { dir, cleanup } = newBuildFolder(config, runAs);
  const src = path.join(dir, 'src');
  const out = path.join(dir, 'out');
  const kind = projectKind(lang, tree);
  try {
    fs.mkdirSync(src, { mode: 0o700 });
    fs.mkdirSync(out, { mode: 0o700 });
    const made = writeProject(tree, src);
    if (kind === 'cmake') made.push(...cmakeQuery(out));
    // Until here the folder is the agent's alone; from here on it is the run user's.
    handOver(runAs, dir, ...made, src, out);
  } catch (e) { cleanup(); throw e; }
  const fail = (code: number, failure: string): ProjectBuild => ({ dir, exe: '', code, failure, kind, cleanup });
  const plan = stepsFor(config, kind, tree, src, out, opts.watch === true);
  if ('failure' in plan) return fail(1, plan.failure);
  const env = { ...inheritedEnv(BUILD_ENV), ...(runAs ? { HOME: dir } : process.env.HOME ? { HOME: process.env.HOME } : {}) };
  let result;
  try {
    result = await runSteps(plan.steps, { timeoutMs: config.build.timeoutS * 1000, maxOutputBytes: config.build.maxOutputBytes, runAs, env, onOutput });
  } catch (e) { cleanup(); throw e; }
  if (result.code !== 0) {
    const step = result.failed!;
    if (kind === 'cargo' && /offline|no matching package named|failed to (download|get|load source for)/i.test(result.tail)) {
      return fail(result.code, `the project needs crates that are not on this box: cargo builds with --offline and the agent downloads nothing (cargo exit code ${result.code}); remove the dependency or vendor it into the project (cargo vendor)`);
    }
    return fail(result.code, `the build failed (${step.what.split(' (')[0]} exit code ${result.code})`);
  }
  const exe = kind === 'cmake' ? await cmakeExecutable(runAs, out, dir) : kind === 'cargo' ? plan.cargoExe() : { path: path.join(out, 'app') };
  if ('failure' in exe) return fail(1, exe.failure);
  return { dir, exe: exe.path, code: 0, kind, cleanup };
}

type Plan = { steps: BuildStep[]; cargoExe: () => { path: string } | { failure: string } } | { failure: string };

function stepsFor(config: Config, kind: ProjectKind, tree: ProjectTree, src: string, out: string, watch: boolean): Plan {
  const b = config.build;
  const noCargo = () => ({ failure: 'no cargo build' });
  if (kind === 'cmake') {
    const cmake = `CMake "${b.cmake}" (build.cmake)`;
    const jobs = String(Math.max(1, Math.min(4, os.availableParallelism())));
    return { cargoExe: noCargo, steps: [
      { what: cmake, file: b.cmake, cwd: out, args: ['-S', src, '-B', out, `-DCMAKE_CXX_COMPILER=${b.cxx}`, ...(watch ? ['-DCMAKE_BUILD_TYPE=Debug'] : [])] },
      { what: cmake, file: b.cmake, cwd: out, args: ['--build', out, '--parallel', jobs] },
    ] };
  }
  if (kind === 'c++ sources') {
    const sources = tree.files.filter((f) => CXX_SOURCES.test(f.path[f.path.length - 1]!)).map((f) => path.join(src, ...f.path)).sort();
    if (sources.length === 0) return { failure: 'the project has no .cpp, .cc or .cxx file (and no CMakeLists.txt at its root)' };
    const include = tree.folders.some((f) => f.length === 1 && f[0] === 'include') ? ['-I', path.join(src, 'include')] : [];
    return { cargoExe: noCargo, steps: [{
      what: `C++ compiler "${b.cxx}" (build.cxx)`, file: b.cxx, cwd: src,
      args: ['-std=c++17', ...(watch ? ['-O0', '-g'] : ['-O1']), '-pthread', '-I', src, ...include, '-o', path.join(out, 'app'), ...sources],
    }] };
  }
  if (kind === 'rustc') {
    const main = fileAt(tree, 'main.rs') ? ['main.rs'] : fileAt(tree, 'src', 'main.rs') ? ['src', 'main.rs'] : null;
    if (!main) return { failure: 'the project has no Cargo.toml and no main.rs (at its root or in src/)' };
    return { cargoExe: noCargo, steps: [{ what: `Rust compiler "${b.rustc}" (build.rustc)`, file: b.rustc, cwd: src, args: ['--edition', '2021', '-o', path.join(out, 'app'), path.join(src, ...main)] }] };
  }
  // cargo: the binaries of the root package, from its compiler-artifact messages.
  const manifest = path.join(src, 'Cargo.toml');
  const bins = new Map<string, string>();
  const onStdoutLine = (line: string) => {
    if (!line.startsWith('{') || bins.size >= MAX_API_TARGETS) return;
    try {
      const m = JSON.parse(line) as { reason?: string; manifest_path?: string; executable?: string | null; target?: { name?: string; kind?: string[] } };
      if (m.reason === 'compiler-artifact' && m.manifest_path === manifest && typeof m.executable === 'string' && m.target?.kind?.includes('bin')) bins.set(String(m.target.name), m.executable);
    } catch { /* not a message */ }
  };
  return {
    steps: [{ what: `Cargo "${b.cargo}" (build.cargo)`, file: b.cargo, cwd: src, onStdoutLine,
      args: ['build', '--offline', '--message-format=json-render-diagnostics', '--manifest-path', manifest, '--target-dir', path.join(out, 'target')] }],
    cargoExe: () => pickOne([...bins].map(([name, p]) => ({ name, path: p })), out, 'the package'),
  };
}

/** The file API query that makes CMake describe its targets (codemodel-v2) when it configures. */
function cmakeQuery(out: string): string[] {
  const made: string[] = [];
  let at = out;
  for (const seg of ['.cmake', 'api', 'v1', 'query']) { at = path.join(at, seg); fs.mkdirSync(at, { mode: 0o700 }); made.push(at); }
  const q = path.join(at, 'codemodel-v2');
  fs.writeFileSync(q, '', { mode: 0o600, flag: 'wx' });
  return [...made, q];
}

/** One executable of several: the only one, or the one named "main", "app" or like the project. */
function pickOne(found: Array<{ name: string; path: string }>, inside: string, what: string, project = ''): { path: string } | { failure: string } {
  const ok = found.filter((f) => path.resolve(f.path).startsWith(`${inside}/`));
  if (ok.length === 0) return { failure: `${what} builds no program (no executable target)` };
  if (ok.length === 1) return { path: path.resolve(ok[0]!.path) };
  const named = ok.find((f) => f.name === project) ?? ok.find((f) => f.name === 'main') ?? ok.find((f) => f.name === 'app');
  if (named) return { path: path.resolve(named.path) };
  return { failure: `${what} builds ${ok.length} programs (${ok.slice(0, 10).map((f) => f.name).join(', ')}): name the one to run like the project, "main" or "app"` };
}

/** The executable targets CMake reports (file API, codemodel-v2), read as the run user: the build folder is theirs. */
async function cmakeExecutable(runAs: RunAs | null, out: string, inside: string): Promise<{ path: string } | { failure: string }> {
  const reply = path.join(out, '.cmake', 'api', 'v1', 'reply');
  const json = async (name: string): Promise<Record<string, unknown> | null> => {
    if (!/^[A-Za-z0-9._-]+\.json$/.test(name)) return null;
    const text = await readUserFile(runAs, path.join(reply, name), MAX_API_FILE);
    try { const v = JSON.parse(text ?? ''); return v && typeof v === 'object' ? v as Record<string, unknown> : null; } catch { return null; }
  };
  const none = { failure: 'CMake did not describe the project\'s targets (its file API reply is missing): CMake 3.14 or newer is needed' };
  let index: string | undefined;
  try { index = fs.readdirSync(reply).filter((n) => /^index-.*\.json$/.test(n)).sort().pop(); } catch { return none; }
  const idx = index ? await json(index) : null;
  const cmFile = ((idx?.reply as Record<string, { jsonFile?: string }> | undefined)?.['codemodel-v2'])?.jsonFile;
  const cm = typeof cmFile === 'string' ? await json(cmFile) : null;
  const config0 = (cm?.configurations as Array<{ targets?: Array<{ name?: string; jsonFile?: string }>; projects?: Array<{ name?: string }> }> | undefined)?.[0];
  if (!config0) return none;
  const found: Array<{ name: string; path: string }> = [];
  const buildDir = typeof (cm?.paths as { build?: unknown } | undefined)?.build === 'string' ? (cm!.paths as { build: string }).build : out;
  for (const t of (config0.targets ?? []).slice(0, MAX_API_TARGETS)) {
    const target = typeof t.jsonFile === 'string' ? await json(t.jsonFile) : null;
    const artifact = (target?.artifacts as Array<{ path?: unknown }> | undefined)?.[0]?.path;
    if (target?.type === 'EXECUTABLE' && typeof artifact === 'string') found.push({ name: String(target.name), path: path.resolve(buildDir, artifact) });
  }
  return pickOne(found, inside, 'the CMake project', String(config0.projects?.[0]?.name ?? ''));
}
