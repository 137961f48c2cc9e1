// Public surface of @tfjs-ddp/data: IDX files, Fashion-MNIST sources (dir, cache, Debian package,
// verified download), the sample order / shard plan, and a synthetic dataset for tests. Typed arrays
// out; no tfjs here.
export {
  IDX_MAGIC_IMAGES,
  IDX_MAGIC_LABELS,
  IDX_TYPE_UINT8,
  IDX_TYPES,
  idxValues,
  isGzip,
  parseIdx,
  readIdx,
  readIdxBytes,
  readIdxBytesSync,
  readIdxSync,
} from './idx-reader';
export type { IdxReadOptions, IdxTensor, IdxValues } from './idx-reader';
export { encodeIdx, writeIdx } from './idx-writer';
export type { WriteIdxOptions } from './idx-writer';
export { checkSha256, sha256Hex } from './checksum';
export { downloadIdx } from './download';
export type { DownloadIdxOptions, FetchLike, FetchResponseLike } from './download';
export {
  DEBIAN_FASHION_MNIST_DIR,
  FASHION_MNIST_BASE_URL,
  FASHION_MNIST_BYTES,
  FASHION_MNIST_FILES,
  FASHION_MNIST_NAMES,
  FASHION_MNIST_SHA256,
} from './fashion-mnist-files';
export type { FashionMnistFile, Sha256Map } from './fashion-mnist-files';
export { findFashionMnistFiles, resolveDataSources } from './data-sources';
export type { DataDirOrigin, DataSourceOptions, DataSources, FoundFiles } from './data-sources';
export { FASHION_MNIST_CLASSES, loadFashionMnist } from './fashion-mnist';
export type { FashionMnist, FashionMnistSplit, LoadFashionMnistOptions } from './fashion-mnist';
export { epochOrder, evalShards, globalBatches, splitBatch, splitCounts, stepsPerEpoch } from './sampler';
export type { Shard } from './sampler';
export { gatherImages, gatherLabels } from './gather';
export { syntheticSplit, writeSyntheticFashionMnist } from './synthetic';
export type { SyntheticOptions } from './synthetic';
