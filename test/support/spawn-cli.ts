// Spawns the real `tfjs-ddp` binary for the end-to-end tests and collects its output; helpers for
// temporary directories and run-directory files.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach } from 'vitest';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
/** The sources through tsx, as `npx tfjs-ddp` runs them in the checkout. */
export const SOURCE_BIN = join(repoRoot, 'packages/cli/bin/tfjs-ddp.js');
/** The same sources bundled as the published package is (support/e2e-bundle.ts builds it before the tests). */
export const BUNDLE_BIN = join(repoRoot, 'dist/e2e/bin/tfjs-ddp.js');

/**
 * The binary a test runs: the bundle, whose processes start in about half the time (no TypeScript
 * loader: 0.8 s instead of 2 s for the CLI, 1.2 s instead of 3 s for a worker, on the 2-core VM);
 * the sources where TFJS_DDP_E2E_SOURCES=1 (a run without the build). A fixture that imported the
 * workspace packages would need the sources: only tsx resolves those.
 */
export function cliBin(): string {
  return process.env['TFJS_DDP_E2E_SOURCES'] === '1' ? SOURCE_BIN : BUNDLE_BIN;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Wall time from the start to the exit. */
  seconds: number;
}

export interface Running {
  child: ChildProcess;
  /** Resolves when stdout has a line matching `re` (and `where`, if given). */
  waitForLine(re: RegExp, timeoutMs?: number, where?: (line: string) => boolean): Promise<string>;
  exit: Promise<Exit>;
}

/** Runs started by the current test. */
const live = new Set<ChildProcess>();

// A test that fails or times out must not leave its training run (and the workers it started)
// eating the cores for every later test: each run is the leader of its own process group, and
// whatever a test leaves running is killed with its whole group when the test ends.
afterEach(() => {
  for (const child of live) {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  live.clear();
});

export function startCli(args: string[], env: NodeJS.ProcessEnv = {}): Running {
  return startProcess(process.execPath, [cliBin(), ...args], { cwd: repoRoot, env: { ...process.env, ...env } });
}

/** Any program, as startCli runs the binary: its own process group, killed when the test ends. */
export function startProcess(file: string, args: string[], o: { cwd: string; env: NodeJS.ProcessEnv }): Running {
  const t0 = performance.now();
  const child = spawn(file, args, { cwd: o.cwd, env: o.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  // Kept until the test ends even after it exits: workers of a coordinator that died live on in its group.
  live.add(child);
  let stdout = '';
  let stderr = '';
  const waiters: { re: RegExp; where?: ((line: string) => boolean) | undefined; resolve: (l: string) => void }[] = [];
  child.stdout!.on('data', (d: Buffer) => {
    stdout += d.toString();
    for (const line of stdout.split('\n')) {
      for (const w of waiters.splice(0)) {
        if (w.re.test(line) && (w.where?.(line) ?? true)) w.resolve(line);
        else waiters.push(w);
      }
    }
  });
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exit = new Promise<Exit>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr, seconds: (performance.now() - t0) / 1000 })));
  return {
    child,
    exit,
    waitForLine: (re, timeoutMs = 120_000, where) =>
      new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no stdout line matching ${re}${where ? ' and the test' : ''} within ${timeoutMs} ms; stdout so far:\n${stdout}\nstderr:\n${stderr}`)), timeoutMs);
        waiters.push({ re, where, resolve: (l) => (clearTimeout(t), resolve(l)) });
      }),
  };
}

export function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Exit> {
  return startCli(args, env).exit;
}

export function tmp(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `tfjs-ddp-${prefix}-`));
}

export function readJson<T = Record<string, unknown>>(path: string): T {
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}

export function readJsonLines(path: string): Record<string, unknown>[] {
  return readFileSync(path, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
}
