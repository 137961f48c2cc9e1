// A one-node Slurm cluster for test/slurm.test.ts (tools/slurm/cluster.sh), and what the test asks
// it: submit, the state of a job, the processes that belong to a job.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './spawn-cli';

const CLUSTER = join(repoRoot, 'tools/slurm/cluster.sh');
const PROGRAMS = ['munged', 'mungekey', 'slurmctld', 'slurmd', 'sinfo', 'sbatch', 'scancel', 'scontrol'];

/** Why this machine cannot run a Slurm cluster, or null when it can. */
export function slurmUnavailable(): string | null {
  // The daemons are in /usr/sbin, which a user's PATH may lack; tools/slurm/cluster.sh adds it.
  const missing = PROGRAMS.filter(
    (p) => spawnSync('sh', ['-c', `PATH="$PATH:/usr/sbin:/sbin"; command -v ${p}`]).status !== 0,
  );
  if (missing.length > 0) {
    return `no ${missing.join(', ')}: apt-get install -y --no-install-recommends slurmctld slurmd slurm-client munge (as .ci/run does)`;
  }
  if (process.getuid?.() !== 0) return 'not root: slurmd starts each job as the user who submitted it';
  return null;
}

export interface Cluster {
  dir: string;
  /** The environment for sbatch, scancel and scontrol: SLURM_CONF names this cluster's slurm.conf. */
  env: NodeJS.ProcessEnv;
}

function run(file: string, args: string[], env: NodeJS.ProcessEnv, cwd = repoRoot): string {
  const r = spawnSync(file, args, { cwd, env, encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0)
    throw new Error(`${file} ${args.join(' ')} exited ${r.status ?? r.signal}: ${r.stderr}`);
  return r.stdout;
}

/** Starts the cluster; resolves when its node is idle. Throws with cluster.sh's reason otherwise. */
export function startCluster(): Cluster {
  const dir = run(CLUSTER, ['start'], process.env).trim().split('\n').at(-1)!;
  return { dir, env: { ...process.env, SLURM_CONF: join(dir, 'slurm.conf') } };
}

/** Stops what startCluster started and removes its directory. */
export function stopCluster(c: Cluster): void {
  run(CLUSTER, ['stop', c.dir], process.env);
}

/** `sbatch --parsable` from `cwd`: the job id. */
export function sbatch(c: Cluster, args: string[], cwd: string): number {
  return Number(
    run('sbatch', ['--parsable', ...args], c.env, cwd)
      .trim()
      .split(';')[0],
  );
}

export function scancel(c: Cluster, job: number): void {
  run('scancel', [String(job)], c.env);
}

/** JobState and ExitCode of a job, as `scontrol show job` has them (kept for MinJobAge after it ends). */
export function jobState(c: Cluster, job: number): { state: string; exitCode: string } {
  const out = run('scontrol', ['show', 'job', '-o', String(job)], c.env);
  return {
    state: /JobState=(\S+)/.exec(out)?.[1] ?? 'UNKNOWN',
    exitCode: /ExitCode=(\S+)/.exec(out)?.[1] ?? '?',
  };
}

const ENDED = new Set([
  'COMPLETED',
  'FAILED',
  'CANCELLED',
  'TIMEOUT',
  'NODE_FAIL',
  'OUT_OF_MEMORY',
  'PREEMPTED',
  'BOOT_FAIL',
  'DEADLINE',
]);

/** Polls until the job has ended (COMPLETING is not ended: its processes are still being killed). */
export async function waitForJobEnd(
  c: Cluster,
  job: number,
  timeoutMs: number,
): Promise<{ state: string; exitCode: string; seconds: number }> {
  const t0 = performance.now();
  for (;;) {
    const s = jobState(c, job);
    if (ENDED.has(s.state)) return { ...s, seconds: (performance.now() - t0) / 1000 };
    if (performance.now() - t0 > timeoutMs)
      throw new Error(`job ${job} is still ${s.state} after ${timeoutMs} ms`);
    await sleep(250);
  }
}

/**
 * Every process whose environment says it belongs to Slurm job `job` (SLURM_JOB_ID, which the job's
 * shell, srun's tasks and everything they start inherit), with its name. This finds a process that
 * left the job's process tree too, which is what proctrack/linuxproc would miss.
 */
export function jobProcesses(job: number): { pid: number; comm: string }[] {
  const found: { pid: number; comm: string }[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (!readFileSync(`/proc/${name}/environ`, 'latin1').split('\0').includes(`SLURM_JOB_ID=${job}`))
        continue;
      const stat = readFileSync(`/proc/${name}/stat`, 'latin1');
      if (stat.slice(stat.lastIndexOf(')') + 2)[0] === 'Z') continue; // exited, not yet reaped
      found.push({ pid: Number(name), comm: readFileSync(`/proc/${name}/comm`, 'latin1').trim() });
    } catch {
      // gone while we looked
    }
  }
  return found;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` every 100 ms until it returns a value other than undefined. */
export async function waitFor<T>(what: string, check: () => T | undefined, timeoutMs: number): Promise<T> {
  const t0 = performance.now();
  for (;;) {
    const v = check();
    if (v !== undefined) return v;
    if (performance.now() - t0 > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(100);
  }
}
