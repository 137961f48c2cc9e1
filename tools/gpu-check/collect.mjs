// Turns run.sh's step records and log into $OUT/gpu-check.json; run by run.sh's exit trap with the
// packed Node. Each step gets the JSON its commands printed (one object a line, or one
// pretty-printed object such as `info --json`'s), each training run its summary.json, and the oom
// run must show a back-off and complete. Exits 1 when a step failed, timed out or missed that.
// Usage: node collect.mjs RESULTS_JSONL LOG RUNS_DIR OUT_JSON SMOKE(0|1) ELAPSED_S
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const [resultsPath, logPath, runsDir, outPath, smoke, elapsed] = process.argv.slice(2);
const steps = readFileSync(resultsPath, 'utf8')
  .split('\n')
  .filter(Boolean)
  .map((l) => JSON.parse(l));

// The log's lines between "== <time> step NAME (timeout" and the next "== " line are NAME's output.
const text = {};
let cur = null;
for (const line of readFileSync(logPath, 'utf8').split('\n')) {
  const m = /^== \S+ step (\S+) \(timeout/.exec(line);
  if (m) cur = m[1];
  else if (line.startsWith('== ')) cur = null;
  else if (cur !== null) (text[cur] ??= []).push(line);
}

function jsonOf(lines) {
  const objects = [];
  for (const l of lines) {
    if (!l.startsWith('{') || !l.endsWith('}')) continue;
    try {
      objects.push(JSON.parse(l));
    } catch {
      // not JSON after all: a log line that happens to start with a brace
    }
  }
  if (objects.length > 0) return objects.slice(-20);
  const start = lines.findIndex((l) => l === '{');
  const end = lines.lastIndexOf('}');
  if (start < 0 || end < start) return [];
  try {
    return [JSON.parse(lines.slice(start, end + 1).join('\n'))];
  } catch {
    return [];
  }
}

for (const s of steps) {
  const out = jsonOf(text[s.step] ?? []);
  if (out.length > 0) s.output = out;
  const summaryPath = join(runsDir, s.step, 'summary.json');
  if (existsSync(summaryPath)) s.summary = JSON.parse(readFileSync(summaryPath, 'utf8'));
  if (s.step === 'oom' && s.status === 'ok') {
    const events = s.summary?.oom_events ?? 0;
    if (s.summary?.status !== 'completed' || events === 0) {
      s.status = 'failed';
      s.detail = `expected a completed run with an oom back-off; summary.json has status ${s.summary?.status} and ${events} oom events`;
    }
  }
}

const bad = steps.filter((s) => s.status === 'failed' || s.status === 'timeout');
writeFileSync(
  outPath,
  JSON.stringify(
    { smoke: smoke === '1', elapsed_s: Number(elapsed), failed: bad.map((s) => s.step), steps },
    null,
    1,
  ) + '\n',
);
if (bad.length > 0) {
  console.error(
    `gpu-check: ${bad.length} step(s) failed: ${bad.map((s) => `${s.step} (${s.detail ?? `exit ${s.rc}`})`).join(', ')}`,
  );
  process.exit(1);
}
