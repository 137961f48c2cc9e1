// Process checks for the end-to-end tests: whether a pid still runs, and the worker pids a run
// started (from its train.log and metrics.jsonl).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readJsonLines } from './spawn-cli';

/**
 * Whether `pid` is still running. Workers of a coordinator that died are reparented to whatever
 * reaps orphans here (pid 1 or a subreaper), which may leave them zombies for a while: a zombie has
 * exited, so it counts as gone.
 */
export function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    // /proc/PID/stat: "pid (comm) state ..."; comm may hold spaces and parentheses.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return existsSync(`/proc/${pid}`);
  }
}

/** The pids of the workers a local run launched, by rank, as its train.log names them. */
export function launchedPids(runDir: string): number[] {
  const launched = readJsonLines(join(runDir, 'train.log')).find((l) => l['msg'] === 'workers launched');
  if (launched === undefined) throw new Error(`${runDir}/train.log has no 'workers launched' line`);
  return launched['pids'] as number[];
}

/** Every worker pid of a local run: the launched ones and the replacements metrics.jsonl records. */
export function allWorkerPids(runDir: string): number[] {
  const replaced = readJsonLines(join(runDir, 'metrics.jsonl')).filter((m) => m['event'] === 'restart').map((m) => m['new_pid'] as number);
  return [...launchedPids(runDir), ...replaced];
}
