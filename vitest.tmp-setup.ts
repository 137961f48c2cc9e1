// Vitest global setup of every project: one temporary directory per test run, made the TMPDIR of the
// test processes and of everything they spawn, and removed when the run ends. Tests and the product
// both make their directories with os.tmpdir(); before this, each `npm test` left ~250 of them in /tmp
// (30 GB after a few dozen runs on the dev VM). TFJS_DDP_KEEP_TEST_TMP=1 keeps the directory to read.
// A setup that runs inside another's directory (a project of a config with projects) keeps using it:
// nested directories made paths too long for a unix socket (Chromium's, 108 bytes).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const MARK = 'TFJS_DDP_TEST_TMP';

export default function setup(): () => void {
  if (process.env[MARK] !== undefined && process.env['TMPDIR'] === process.env[MARK]) return () => undefined;
  const dir = mkdtempSync(join(tmpdir(), 'tfjs-ddp-tests-'));
  const before = process.env['TMPDIR'];
  process.env['TMPDIR'] = dir;
  process.env[MARK] = dir;
  return () => {
    if (before === undefined) delete process.env['TMPDIR'];
    else process.env['TMPDIR'] = before;
    delete process.env[MARK];
    if (process.env['TFJS_DDP_KEEP_TEST_TMP'] === '1') console.log(`test files kept in ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  };
}
