// The README's quick start, run as written: every line of its first ```sh block goes to `bash -c`
// from the repository root (bar `npm ci`, done before any test runs, and `npm test`, which would run
// this test again: both are only checked to be there), and so does every `npx tfjs-ddp …` the quick
// start's text names. A README edit that makes one of them fail fails this test. The training gets
// one step and an evaluation of the first 1,000 test images through its environment
// (TFJS_DDP_MAX_STEPS, TFJS_DDP_EVAL_LIMIT, TFJS_DDP_RUN_DIR) and otherwise runs the seed recipe on
// whatever the default lookup finds (CI: Debian's dataset-fashion-mnist).
import { existsSync, mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { readJson, readJsonLines, repoRoot, startProcess, tmp, type Exit } from './support/spawn-cli';

/** The quick start's text: from its heading to the next `## ` heading. */
function quickStartSection(readme: string): string {
  const start = readme.indexOf('\n## Quick start\n');
  if (start < 0) throw new Error('README.md has no "## Quick start" section');
  const end = readme.indexOf('\n## ', start + 1);
  return readme.slice(start, end < 0 ? undefined : end);
}

/** The non-empty, non-comment lines of the README's first ```sh block, as written. */
function firstShBlock(readme: string): string[] {
  const m = /```sh\n([\s\S]*?)```/.exec(readme);
  if (m === null) throw new Error('README.md has no ```sh block');
  return m[1]!.split('\n').filter((l) => l.trim() !== '' && !l.trim().startsWith('#'));
}

/** A line without its trailing `# comment` (bash drops it too), to tell which command it is. */
const commandOf = (line: string) => line.replace(/\s+#.*$/, '').trim();

/** A line through `bash -c`, in its own process group (killed when the test ends, as startCli's runs). */
const bash = (line: string, cwd: string, env: NodeJS.ProcessEnv): Promise<Exit> => startProcess('bash', ['-c', line], { cwd, env }).exit;

/** The tail of a line's output, for the failure message. */
const tail = (r: Exit) => `exit ${r.code ?? r.signal} after ${r.seconds.toFixed(0)} s\n--- stdout (end):\n${r.stdout.slice(-3000)}\n--- stderr (end):\n${r.stderr.slice(-3000)}`;

const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
const block = firstShBlock(readme);
const prose = [...quickStartSection(readme).matchAll(/`(npx tfjs-ddp [^`]*)`/g)]
  .map((m) => m[1]!)
  .filter((c, i, all) => all.indexOf(c) === i && !block.some((l) => commandOf(l) === c));
/** [command, line as written] of each line this test runs. */
const runnable = block.filter((l) => !['npm ci', 'npm test'].includes(commandOf(l))).map((line) => [commandOf(line), line] as const);

/**
 * A directory laid out like the checkout after the quick start: the training's run directory in
 * runs/ (so `npx tfjs-ddp runs` lists it), and node_modules linked to the repository's, so that
 * `npx` finds the local tfjs-ddp binary there.
 */
let project: string;
let runDir: string;
// npx must take the local binary and never ask a registry for one.
const npxEnv = { ...process.env, npm_config_offline: 'true' };

beforeAll(() => {
  project = tmp('quick-start');
  mkdirSync(join(project, 'runs'));
  symlinkSync(join(repoRoot, 'node_modules'), join(project, 'node_modules'));
  runDir = join(project, 'runs', 'quick-start');
});

describe("the README's quick start", () => {
  it('installs with `npm ci` and tests with `npm test` (both run elsewhere: only their lines are checked)', () => {
    expect(block.map(commandOf)).toContain('npm ci');
    expect(block.map(commandOf)).toContain('npm test');
    expect(runnable.length).toBeGreaterThan(0);
  });

  // The seed recipe (96×96, global batch 256, memory-fit search on every worker, one worker per
  // core) for one step, then the evaluation (of 1,000 test images: all 10,000 take a minute) and the
  // model export.
  it.each(runnable)('runs `%s` (one step) and leaves a completed run directory', async (_command, line) => {
    const r = await bash(line, repoRoot, { ...npxEnv, TFJS_DDP_MAX_STEPS: '1', TFJS_DDP_EVAL_LIMIT: '1000', TFJS_DDP_RUN_DIR: runDir });
    expect(r.code, tail(r)).toBe(0);
    if (/\btfjs-ddp train\b/.test(line)) {
      expect(r.stderr, tail(r)).toMatch(/done: 1 steps, test accuracy [\d.]+; results in /);
      const summary = readJson(join(runDir, 'summary.json'));
      expect(summary).toMatchObject({ status: 'completed', steps: 1, global_batch: 256, trainable_params: 758_226 });
      expect(summary['test_acc']).toEqual(expect.any(Number));
      const [epoch] = readJsonLines(join(runDir, 'metrics.jsonl')).filter((m) => m['event'] === 'epoch');
      expect(epoch).toMatchObject({ test_count: 1000 });
      // Each rank's search stops at its share of the global batch, 256 / ranks.
      const ranks = (summary['micro_batch_per_rank'] as number[]).length;
      for (const fit of summary['memory_fit_per_rank'] as { trials: { micro_batch: number }[] }[]) {
        expect(Math.max(...fit.trials.map((t) => t.micro_batch))).toBeLessThanOrEqual(Math.ceil(256 / ranks));
      }
      expect(existsSync(join(runDir, 'model', 'model.json'))).toBe(true);
    }
  }, 600_000);

  // Run after the training, from a directory whose runs/ holds its run, as a user's checkout would.
  it.each(prose)('runs `%s`', async (command) => {
    const r = await bash(command, project, npxEnv);
    expect(r.code, tail(r)).toBe(0);
    const sub = command.split(/\s+/)[2];
    if (sub === 'info') {
      expect(r.stdout).toMatch(/^backend: \S+ on (cpu|gpu) /m);
      expect(r.stdout).toMatch(/^all-reduce: ZeroMQ, /m);
      expect(r.stdout).toMatch(/^data: +\S+ .*: 60000 train \+ 10000 test images, SHA-256 verified$/m);
      expect(r.stdout).toMatch(/^model: +DenseNet, 758,226 trainable parameters/m);
    } else if (sub === 'runs') {
      expect(r.stdout).toMatch(/^quick-start +completed +1 +0\.\d{4} /m);
    } else if (sub === '--help') {
      for (const c of ['train', 'coordinator', 'worker', 'info', 'runs']) expect(r.stdout).toMatch(new RegExp(`^  ${c} `, 'm'));
    }
  }, 300_000);
});
