// images/train and images/test of this folder (or settings.images): one sub-folder per class, PNG
// files, read by ctx.helpers.imageFolder when a batch asks for them.
import { URL, fileURLToPath } from 'node:url';

export default {
  load({ helpers, settings }) {
    const root =
      typeof settings.images === 'string'
        ? settings.images
        : fileURLToPath(new URL('./images', import.meta.url));
    const { train, test } = helpers.imageFolder({
      train: `${root}/train`,
      test: `${root}/test`,
      size: [16, 16],
      channels: 3,
    });
    return { train, test };
  },
};
