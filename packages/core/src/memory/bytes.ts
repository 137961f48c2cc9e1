// Byte sizes as users write them (--memory-budget 3GiB, 1500MiB, 2e9) and as logs print them.

const UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40,
  k: 2 ** 10,
  m: 2 ** 20,
  g: 2 ** 30,
};

/** Bytes of "3GiB", "1500 MiB", "2GB", "2e9", 4096; NaN when the text is not a size. */
export function parseBytes(raw: string | number): number {
  if (typeof raw === 'number') return Number.isFinite(raw) && raw >= 0 ? Math.floor(raw) : NaN;
  const m = /^\s*(\d+(?:\.\d+)?(?:e\d+)?)\s*([a-z]*)\s*$/i.exec(raw);
  if (m === null) return NaN;
  const unit = UNITS[m[2]!.toLowerCase()];
  return unit === undefined ? NaN : Math.floor(Number(m[1]) * unit);
}

/** "1.5 GiB", "312.0 MiB", "800 B". */
export function formatBytes(n: number): string {
  if (n >= 2 ** 30) return `${(n / 2 ** 30).toFixed(2)} GiB`;
  if (n >= 2 ** 20) return `${(n / 2 ** 20).toFixed(1)} MiB`;
  if (n >= 2 ** 10) return `${(n / 2 ** 10).toFixed(1)} KiB`;
  return `${n} B`;
}
