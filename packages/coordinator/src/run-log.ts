// train.log's destination for pino: each line appended whole (appendWhole, core fs/disk-full.ts), so
// a full disk never leaves half a line in the log and never throws out of a log call. A line that
// does not fit is dropped, said once on stderr, and the next one is tried: after the run fails with
// E_DISK_FULL it gives back its reserve, so the failure's own lines usually fit. Used by `train`.
import { appendWhole, isDdpError } from '@tfjs-ddp/core';

/** A pino destination (anything with write) that appends each line whole to `path`. */
export function wholeLineDestination(
  path: string,
  warn: (text: string) => void = (t) => process.stderr.write(t),
): { write(line: string): void } {
  let dropped = 0;
  return {
    write(line: string): void {
      try {
        appendWhole(path, line, 'the log line to');
      } catch (e) {
        if (!isDdpError(e, 'E_DISK_FULL')) throw e;
        if (dropped++ === 0) warn(`tfjs-ddp: ${e.message}; log lines that do not fit are dropped\n`);
      }
    },
  };
}
