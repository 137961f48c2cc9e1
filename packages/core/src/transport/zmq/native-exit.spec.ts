import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { nativeDataPlane } from './native-data-plane';

const native = nativeDataPlane().binding !== undefined;
const transport = fileURLToPath(new URL('./zmq-transport.ts', import.meta.url));

describe.runIf(native)('the native data plane at process exit', () => {
  it('does not hold process.exit() while a receive waits (its socket is closed at exit)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tfjs-ddp-exit-'));
    const script = join(dir, 'exit.mts');
    // A receive that would wait 60 s, then process.exit(): libuv joins its pool threads at exit.
    writeFileSync(
      script,
      [
        `import { ZmqTransport } from ${JSON.stringify(transport)};`,
        `const inbox = await new ZmqTransport().inbox('ipc://${dir}/inbox');`,
        `void inbox.recv(60_000).catch(() => undefined);`,
        `setTimeout(() => process.exit(3), 300);`,
      ].join('\n'),
    );
    const t0 = Date.now();
    const r = spawnSync(process.execPath, ['--import', 'tsx', script], { env: { ...process.env, TFJS_DDP_NATIVE: '1' }, timeout: 30_000, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(3);
    // Measured 0.9 s with tsx's start-up; without the exit hook the run waited out its 30 s limit.
    expect(Date.now() - t0).toBeLessThan(15_000);
  });
});
