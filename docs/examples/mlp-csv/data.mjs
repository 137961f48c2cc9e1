// points.csv of this folder (or settings.csv): four numeric columns and a text class column; the
// last 20 % of the rows are the test split. A data module: load(ctx) runs in every worker.
import { URL, fileURLToPath } from 'node:url';

export default {
  load({ helpers, settings }) {
    const path =
      typeof settings.csv === 'string'
        ? settings.csv
        : fileURLToPath(new URL('./points.csv', import.meta.url));
    const { train, test } = helpers.csvData({ path, label: 'class' });
    return { train, test };
  },
};
