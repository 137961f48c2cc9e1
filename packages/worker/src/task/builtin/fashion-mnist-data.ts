// The seed's data as a data module: Fashion-MNIST (the data package finds, downloads and verifies
// it), each batch resized to `resize`×`resize` and scaled to [0, 1] on the compute backend
// (train/input-pipeline.ts), with int32 class ids as labels. Settings: resize, data_dir, verify_data.
import { resolve } from 'node:path';
import {
  gatherImages,
  gatherLabels,
  loadFashionMnist,
  type DataDirOrigin,
  type FashionMnist,
  type FashionMnistSplit,
} from '@tfjs-ddp/data';
import { prepareBatch } from '../../train/input-pipeline';
import { defineData, type DataSplit, type TaskContext } from '../task-contract';

/**
 * How the user named `dir`: train reads TFJS_DDP_DATA_DIR as --data-dir, so the directory arrives as
 * the setting either way; the variable is named when it holds the same directory.
 */
function origin(dir: string, env: TaskContext['env']): DataDirOrigin {
  const fromEnv = env['TFJS_DDP_DATA_DIR'];
  return fromEnv !== undefined && fromEnv !== '' && resolve(fromEnv) === resolve(dir)
    ? 'TFJS_DDP_DATA_DIR'
    : '--data-dir';
}

function open(ctx: TaskContext): Promise<FashionMnist> {
  const { data_dir: dataDir, verify_data: verify } = ctx.settings;
  return loadFashionMnist({
    ...(typeof dataDir === 'string' ? { dataDir, dataDirFrom: origin(dataDir, ctx.env) } : {}),
    env: ctx.env,
    verify: verify !== false,
  });
}

export default defineData({
  async prepare(ctx) {
    await open(ctx);
  },
  async load(ctx) {
    const data = await open(ctx);
    const resize = typeof ctx.settings['resize'] === 'number' ? ctx.settings['resize'] : data.rows;
    const split = (s: FashionMnistSplit): DataSplit => ({
      size: s.count,
      batch(indices) {
        const b = prepareBatch(
          gatherImages(s, indices),
          gatherLabels(s, indices),
          data.rows,
          data.cols,
          resize,
        );
        return { xs: b.x, ys: b.y };
      },
    });
    return { train: split(data.train), test: split(data.test) };
  },
});
