// `tfjs-ddp report [RUN_DIR]`: (re)writes RUN_DIR/report.html from the run's files alone (writeReport
// in @tfjs-ddp/coordinator), e.g. for a run that was killed before it could write one, or one that
// is still going; without RUN_DIR, for the newest run in runs/. Prints the file's path, and on
// stderr what the run directory lacks. Refuses a directory that is not a run, and a report.html
// tfjs-ddp did not write (writeReport).
import { DdpError } from '@tfjs-ddp/core';
import { writeReport } from '@tfjs-ddp/coordinator';
import { defineCommand } from '../command';
import { listRuns } from './runs';

export const reportCommand = defineCommand({
  name: 'report',
  summary: 'Write a run\'s report.html (charts, batch plan, events) from its files',
  description: [
    'Writes RUN_DIR/report.html, the page every run writes at its end, from config.json, metrics.jsonl',
    'and summary.json alone: the config and final figures, loss and accuracy per step and per epoch,',
    'samples/s over time, the step-time breakdown per rank, the batch plan, the memory-fit trials, and',
    'OOM back-offs, restarts, skipped steps, membership changes and resumes as markers. One',
    'self-contained file: it opens in a browser without a network. A missing file is named in the',
    'report (and on stderr), never an error. A directory is a run only when its config.json,',
    'summary.json or metrics.jsonl is one tfjs-ddp writes; any other is refused, and so is a',
    'report.html that tfjs-ddp did not write (nothing is overwritten). Without RUN_DIR: the newest run',
    'in runs/.',
  ].join('\n'),
  options: {
    runDir: { type: 'string', valueName: 'RUN_DIR', positional: true, description: 'the run directory (default: the newest in runs/)' },
  },
  async run(values, io) {
    const dir = values.runDir ?? listRuns('runs').at(-1)?.path;
    if (dir === undefined) throw new DdpError('E_USAGE', 'runs/ holds no run', 'pass RUN_DIR, e.g. tfjs-ddp report runs/20261125-193012');
    const { file, data } = writeReport(dir);
    for (const note of data.notes) io.stderr.write(`tfjs-ddp: ${note}\n`);
    io.stdout.write(`wrote ${file}\n`);
    return 0;
  },
});
