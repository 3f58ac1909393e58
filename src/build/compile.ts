// Rust and C++ builds for ad-hoc runs: the client's code is written into a fresh folder dataDir/builds/<random>/,
// compiled with build.rustc / build.cxx as a one-step build (build-steps.ts: an argument vector, never a shell, its own
// process group), with a time limit (build.timeoutS) and an output cap (build.maxOutputBytes: beyond it output is
// dropped with one marker line).
// The caller removes the folder (Build.cleanup) when the program has finished. With apps.runAs the folder is that
// user's and the compiler runs as that user, as the program will.
import { cryptoModule } from '../core/crypto-module';
import fs = require('node:fs');
import path = require('node:path');
import { BUILD_ENV, inheritedEnv } from '../user-code/child-env';
import type { Config } from '../config';
import { handOver, letPass, type RunAs } from '../user-code/run-as';
import { removeUserTree } from '../user-code/user-files';
import { runSteps, ToolchainMissing } from './build-steps';

export { ToolchainMissing };

export type Language = 'rust' | 'cpp';

export interface Build {
  readonly dir: string;
  /** The compiled program, when code is 0. */
  readonly exe: string;
  /** Compiler exit code (non-zero: the build failed). */
  readonly code: number;
  cleanup(): void;
}

/** The argument vector for one compiler run; file names are ours, never the client's. */
function compilerCommand(config: Config, lang: Language, dir: string, watch: boolean): { file: string; args: string[]; source: string; what: string } {
  const exe = path.join(dir, 'app');
  if (lang === 'rust') {
    return { file: config.build.rustc, args: ['--edition', '2021', '-o', exe, path.join(dir, 'main.rs')], source: 'main.rs', what: `Rust compiler "${config.build.rustc}" (build.rustc)` };
  }
  return { file: config.build.cxx, args: ['-std=c++17', ...(watch ? ['-O0', '-g'] : ['-O1']), '-pthread', '-o', exe, path.join(dir, 'main.cpp')], source: 'main.cpp', what: `C++ compiler "${config.build.cxx}" (build.cxx)` };
}

/** A fresh folder of its own under dataDir/builds for one build (the run user may pass into builds/), and its removal. */
export function newBuildFolder(config: Config, runAs: RunAs | null): { dir: string; cleanup: () => void } {
  const root = path.join(config.runtime.dataDir, 'builds');
  fs.mkdirSync(root, { recursive: true, mode: 0o700 });
  letPass(runAs, root);
  const dir = path.join(root, cryptoModule().randomBytes(8).toString('hex'));
  fs.mkdirSync(dir, { mode: 0o700 });
  return { dir, cleanup: () => { void removeUserTree(runAs, dir); } };
}

/**
 * Compiles; onOutput gets the compiler's output as it comes. Rejects with ToolchainMissing or a timeout Error.
 * `watch`: C++ whose variables are watched is built with debug information and without optimization, so that every
 * global keeps its place in memory and the program reads it from there (tracer/cpp-watch.ts).
 */
export async function compile(config: Config, lang: Language, code: string, onOutput: (text: string) => void, runAs: RunAs | null = null, opts: { watch?: boolean } = {}): Promise<Build> {
  const { dir, cleanup } = newBuildFolder(config, runAs);
  const cmd = compilerCommand(config, lang, dir, opts.watch === true);
  try {
    fs.writeFileSync(path.join(dir, cmd.source), code, { mode: 0o600 });
    handOver(runAs, dir, path.join(dir, cmd.source));
    const env = { ...inheritedEnv(BUILD_ENV), ...(runAs ? { HOME: dir } : process.env.HOME ? { HOME: process.env.HOME } : {}) };
    const { code: exitCode } = await runSteps([{ what: cmd.what, file: cmd.file, args: cmd.args, cwd: dir }], {
      timeoutMs: config.build.timeoutS * 1000, maxOutputBytes: config.build.maxOutputBytes, runAs, env, onOutput, outputName: 'compiler output',
    });
    return { dir, exe: path.join(dir, 'app'), code: exitCode, cleanup };
  } catch (e) {
    cleanup();
    throw e;
  }
}

/** At start: build folders left by a crash are removed (each one the run user's, so removed as that user). */
export async function removeStaleBuilds(config: Config, runAs: RunAs | null = null): Promise<void> {
  const root = path.join(config.runtime.dataDir, 'builds');
  let names: string[];
  try { names = fs.readdirSync(root); } catch { return; }
  await Promise.all(names.map((n) => removeUserTree(runAs, path.join(root, n))));
}
