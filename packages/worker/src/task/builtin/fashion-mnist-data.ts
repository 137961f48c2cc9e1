// The seed's data as a data module: Fashion-MNIST (the data package finds, downloads and verifies
// it), each batch resized to `resize`×`resize` and scaled to [0, 1] on the compute backend
// (train/input-pipeline.ts), with int32 class ids as labels. Settings: resize, data_dir, verify_data.
import {
  gatherImages,
  gatherLabels,
  loadFashionMnist,
  type FashionMnist,
  type FashionMnistSplit,
} from '@tfjs-ddp/data';
import { prepareBatch } from '../../train/input-pipeline';
import { defineData, type DataSplit, type TaskContext } from '../task-contract';

function open(ctx: TaskContext): Promise<FashionMnist> {
  const { data_dir: dataDir, verify_data: verify } = ctx.settings;
  return loadFashionMnist({
    ...(typeof dataDir === 'string' ? { dataDir } : {}),
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
