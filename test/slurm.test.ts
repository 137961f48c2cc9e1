// docs/examples/slurm.sbatch on a real one-node Slurm cluster (tools/slurm/cluster.sh: Debian's
// slurmctld, slurmd and munge, proctrack/linuxproc, no cgroups), submitted as docs/multi-node.md tells
// users to on CPU nodes: `sbatch --nodes=1 --ntasks-per-node=2 --cpus-per-task=1 --gpus-per-task=0
// slurm.sbatch SETTINGS`, from a directory where the package is installed (here: node_modules linked
// to this checkout's). A job trains with 2 workers over CURVE with a 0600 run key; a job cancelled
// with scancel while it trains leaves none of its processes behind. Needs root and the Debian
// packages (.ci/run installs them): skipped without them, saying how to install, but failed under
// CI=true unless TFJS_DDP_SKIP_SLURM=1 says to skip it (.ci/run does, when not root).
import { existsSync, readFileSync, rmSync, statSync, symlinkSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { writeSyntheticFashionMnist } from '@tfjs-ddp/data';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { running } from './support/processes';
import {
  type Cluster,
  jobProcesses,
  sbatch,
  scancel,
  slurmUnavailable,
  startCluster,
  stopCluster,
  waitFor,
  waitForJobEnd,
} from './support/slurm';
import { readJson, readJsonLines, repoRoot, tmp } from './support/spawn-cli';

const EXAMPLE = join(repoRoot, 'docs/examples/slurm.sbatch');
const mustRun = ['true', '1'].includes(process.env['CI'] ?? '') && process.env['TFJS_DDP_SKIP_SLURM'] !== '1';
const unavailable = process.env['TFJS_DDP_SKIP_SLURM'] === '1' ? 'TFJS_DDP_SKIP_SLURM=1' : slurmUnavailable();
if (unavailable !== null && !mustRun) console.warn(`skipping the Slurm test: ${unavailable}`);

describe.runIf(unavailable === null || mustRun)(
  'Slurm: docs/examples/slurm.sbatch on a one-node cluster',
  () => {
    let cluster: Cluster | undefined;
    let submitDir: string;
    let settings: string[];
    let data: string;
    const submitted: number[] = [];

    beforeAll(async () => {
      if (unavailable !== null) throw new Error(`CI is set and the Slurm test cannot run: ${unavailable}`);
      submitDir = tmp('slurm');
      symlinkSync(join(repoRoot, 'node_modules'), join(submitDir, 'node_modules'));
      data = tmp('data');
      // 480 samples, the quick preset's global batch of 48: 10 steps an epoch.
      await writeSyntheticFashionMnist(data, { train: 480, test: 96, seed: 5 });
      settings = [
        '--preset',
        'quick',
        '--backend',
        'wasm',
        '--micro-batch',
        '24',
        '--data-dir',
        data,
        '--verify-data',
        'false',
      ];
      cluster = startCluster();
    });

    afterAll(() => {
      if (cluster === undefined) return;
      for (const job of submitted) {
        try {
          scancel(cluster, job);
        } catch {
          // already ended and forgotten
        }
      }
      stopCluster(cluster);
      // The link first, so that removing the directory cannot reach this checkout's node_modules.
      unlinkSync(join(submitDir, 'node_modules'));
      for (const dir of [submitDir, data]) rmSync(dir, { recursive: true, force: true });
    });

    /** Submits the example as the docs say for CPU nodes: 2 tasks on one node, no GPUs. */
    const submit = (args: string[]): number => {
      const job = sbatch(
        cluster!,
        [
          '--nodes=1',
          '--ntasks-per-node=2',
          '--cpus-per-task=1',
          '--gpus-per-task=0',
          `--output=${submitDir}/slurm-%j.out`,
          EXAMPLE,
          ...args,
        ],
        submitDir,
      );
      submitted.push(job);
      return job;
    };
    const output = (job: number) => readFileSync(join(submitDir, `slurm-${job}.out`), 'utf8');

    it('trains with 2 workers over CURVE, with a run key of mode 0600 that it removes at the end', async () => {
      const job = submit([...settings, '--max-steps', '3']);
      const key = join(submitDir, `runs/slurm-${job}.key`);
      // The example removes the key when the run is done: look at it while the job runs.
      const mode = await waitFor(
        `${key} while job ${job} runs`,
        () => (existsSync(key) ? statSync(key).mode & 0o777 : undefined),
        60_000,
      );
      expect(mode.toString(8)).toBe('600');

      const end = await waitForJobEnd(cluster!, job, 120_000);
      expect(end, output(job)).toMatchObject({ state: 'COMPLETED', exitCode: '0:0' });
      expect(output(job)).toMatch(/done: 3 steps/);
      const runDir = join(submitDir, `runs/slurm-${job}`);
      expect(readJson(join(runDir, 'summary.json'))).toMatchObject({
        status: 'completed',
        steps: 3,
        workers: 2,
        security: 'curve',
        rejected_connections: 0,
      });
      const rendezvous = readJsonLines(join(runDir, 'train.log')).find(
        (l) => l['msg'] === 'rendezvous done',
      )!;
      expect((rendezvous['workers'] as { rank: number }[]).map((w) => w.rank)).toEqual([0, 1]);
      expect(existsSync(key)).toBe(false);
    });

    it('scancel of a job that trains leaves no process of its run behind', async () => {
      const job = submit([...settings, '--epochs', '100']);
      const runDir = join(submitDir, `runs/slurm-${job}`);
      const metrics = join(runDir, 'metrics.jsonl');
      await waitFor(
        `a step of job ${job}`,
        () =>
          existsSync(metrics) && readJsonLines(metrics).some((m) => m['event'] === 'step') ? true : undefined,
        90_000,
      );

      // The run's processes: the coordinator (its pid in the run's lock) and both workers (train.log),
      // all of them found among the processes of the job.
      const coordinator = readJson<{ pid: number }>(join(runDir, '.lock')).pid;
      const rendezvous = readJsonLines(join(runDir, 'train.log')).find(
        (l) => l['msg'] === 'rendezvous done',
      )!;
      const workers = (rendezvous['workers'] as { pid: number }[]).map((w) => w.pid);
      const before = jobProcesses(job);
      expect(before.map((p) => p.pid)).toEqual(expect.arrayContaining([coordinator, ...workers]));
      expect(before.find((p) => p.pid === coordinator)?.comm).toBe('node');

      scancel(cluster!, job);
      // SIGTERM to every process of the job, SIGKILL to what is left after KillWait (5 s here).
      const end = await waitForJobEnd(cluster!, job, 60_000);
      expect(end.state).toBe('CANCELLED');
      expect(end.seconds).toBeLessThan(30);
      // A process that exited may take a moment to be reaped; one that escaped the job would stay.
      const left = await waitFor(
        'the processes of the cancelled job to go',
        () => {
          const l = jobProcesses(job);
          return l.length === 0 ? l : undefined;
        },
        10_000,
      ).catch(() => jobProcesses(job));
      expect(left, `left behind by job ${job}: ${JSON.stringify(left)}`).toEqual([]);
      expect([coordinator, ...workers].filter(running)).toEqual([]);
    });
  },
);
