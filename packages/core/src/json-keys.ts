// The naming convention of every JSON document tfjs-ddp writes (config.json, metrics.jsonl,
// summary.json, a checkpoint's loop.json / manifest.json / state.json / meta.json, the run key file,
// the JSON lines on stdout, every --json output): snake_case keys, at any depth. TensorFlow.js's own
// model.json and optimizer.json keep tfjs's format; pino's logs are pino's. The control messages
// between processes, and the TypeScript interfaces they carry, are camelCase: documents map them
// where they are written. The specs and end-to-end tests check documents with nonSnakeCaseKeys.

/** A key of a document: lowercase words joined by '_' (digits allowed after the first letter). */
export const SNAKE_CASE_KEY = /^[a-z][a-z0-9_]*$/;

/**
 * The paths (like `.workers[0].memory_fit.budgetBytes`) of every key in `value`, at any depth, that
 * is not snake_case. Keys named in `dataKeys` hold maps whose keys are data, not fields (`env`:
 * environment variable names): they are checked themselves, their contents are not.
 */
export function nonSnakeCaseKeys(value: unknown, dataKeys: readonly string[] = ['env']): string[] {
  const bad: string[] = [];
  const walk = (v: unknown, path: string): void => {
    if (Array.isArray(v)) v.forEach((x, i) => walk(x, `${path}[${i}]`));
    else if (typeof v === 'object' && v !== null) {
      for (const [k, x] of Object.entries(v)) {
        if (!SNAKE_CASE_KEY.test(k)) bad.push(`${path}.${k}`);
        if (!dataKeys.includes(k)) walk(x, `${path}.${k}`);
      }
    }
  };
  walk(value, '');
  return bad;
}
