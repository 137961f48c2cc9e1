// A task's own metrics (its model module's `metrics`): carried as sums over samples, like the loss,
// so that micro-batches, ranks and a resumed epoch add up exactly; reported as means, by name.

/** `{ name: sum / count }` for metrics.jsonl and the events; undefined when the task has none. */
export function meansByName(names: readonly string[], sums: readonly number[] | undefined, count: number): Record<string, number> | undefined {
  if (names.length === 0 || sums === undefined || count <= 0) return undefined;
  return Object.fromEntries(names.map((n, j) => [n, (sums[j] ?? 0) / count]));
}

/** Adds `from` into `into`, slot by slot (a missing or shorter `from` adds nothing there). */
export function addSums(into: number[], from: readonly number[] | undefined): void {
  from?.forEach((v, j) => {
    if (j < into.length) into[j]! += v;
  });
}
