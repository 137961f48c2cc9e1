// A CSV file as a task's data: a header row, numeric feature columns, and one label column (class
// names become class ids in sorted order; numbers stay numbers). The last `testFraction` of the rows
// is the test split (the coordinator's seeded sampler shuffles the training rows every epoch).
import { readFileSync } from 'node:fs';
import type * as tfc from '@tensorflow/tfjs-core';
import { DdpError } from '@tfjs-ddp/core';
import type { DataSplit } from '../data-split';
import { arraySplit } from './array-split';

export interface CsvDataOptions {
  /** The CSV file (comma-separated, a header row, no quoted commas). */
  path: string;
  /** The label column's name. */
  label: string;
  /** The feature columns (default: every other column). */
  features?: string[];
  /** Share of the rows, taken from the end, that form the test split (default 0.2; 0 = none). */
  testFraction?: number;
  /** class: text or integer labels as class ids (default); regression: the label as a float32 target. */
  kind?: 'class' | 'regression';
}

export interface CsvData {
  train: DataSplit;
  test: DataSplit | null;
  /** The feature columns, in order. */
  features: string[];
  /** For kind 'class': the class names, index = class id. */
  classes: string[];
}

/** @throws DdpError E_TASK naming the file, the row and the column of a value that is not a number. */
export function csvData(tf: typeof tfc, o: CsvDataOptions): CsvData {
  let text: string;
  try {
    text = readFileSync(o.path, 'utf8');
  } catch (e) {
    throw new DdpError(
      'E_TASK',
      `csvData: cannot read ${o.path} (${(e as NodeJS.ErrnoException).code ?? String(e)})`,
      'pass the path of a CSV file that exists on every host',
    );
  }
  const rows = text
    .split(/\r?\n/)
    .filter((l) => l.trim() !== '')
    .map((l) => l.split(',').map((c) => c.trim()));
  const header = rows.shift() ?? [];
  const labelAt = header.indexOf(o.label);
  if (labelAt < 0)
    throw new DdpError(
      'E_TASK',
      `csvData: ${o.path} has no column "${o.label}" (its columns: ${header.join(', ')})`,
      'pass label: the name of the label column',
    );
  const features = o.features ?? header.filter((_, i) => i !== labelAt);
  const at = features.map((f) => {
    const i = header.indexOf(f);
    if (i < 0)
      throw new DdpError(
        'E_TASK',
        `csvData: ${o.path} has no column "${f}" (its columns: ${header.join(', ')})`,
        'list existing columns in features',
      );
    return i;
  });
  const x = new Float32Array(rows.length * at.length);
  rows.forEach((r, n) => {
    at.forEach((c, k) => {
      const v = Number(r[c]);
      if (r[c] === undefined || r[c] === '' || !Number.isFinite(v))
        throw new DdpError(
          'E_TASK',
          `csvData: ${o.path} line ${n + 2}, column "${header[c]}": "${r[c] ?? ''}" is not a number`,
          'fix the file, or leave the column out of features',
        );
      x[n * at.length + k] = v;
    });
  });
  const raw = rows.map((r) => r[labelAt] ?? '');
  const regression = o.kind === 'regression';
  const classes = regression
    ? []
    : [...new Set(raw)].sort((a, b) =>
        Number.isFinite(Number(a)) && Number.isFinite(Number(b)) ? Number(a) - Number(b) : a.localeCompare(b),
      );
  const y = regression ? raw.map(Number) : raw.map((v) => classes.indexOf(v));
  const testCount = Math.floor(rows.length * (o.testFraction ?? 0.2));
  const cut = rows.length - testCount;
  const split = (from: number, to: number) =>
    arraySplit(tf, {
      x: x.subarray(from * at.length, to * at.length),
      sampleShape: [at.length],
      y: y.slice(from, to),
      labelDtype: regression ? 'float32' : 'int32',
    });
  return { train: split(0, cut), test: testCount > 0 ? split(cut, rows.length) : null, features, classes };
}
