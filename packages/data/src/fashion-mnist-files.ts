// The four Fashion-MNIST files: names, upstream location, and the SHA-256 and size of their
// decompressed bytes. Hashes are of the IDX bytes, not the .gz: the .gz differs between mirrors (the
// Debian package's .gz files have other MD5s than the upstream README lists, same content inside).

/** Which of the four files. */
export type FashionMnistFile = 'trainImages' | 'trainLabels' | 'testImages' | 'testLabels';

/** Expected SHA-256 (hex) of each file's decompressed IDX bytes. */
export type Sha256Map = Record<FashionMnistFile, string>;

/** File base names as published (each may sit on disk as `<name>` or `<name>.gz`). */
export const FASHION_MNIST_NAMES: Readonly<Record<FashionMnistFile, string>> = {
  trainImages: 'train-images-idx3-ubyte',
  trainLabels: 'train-labels-idx1-ubyte',
  testImages: 't10k-images-idx3-ubyte',
  testLabels: 't10k-labels-idx1-ubyte',
};

/** The four keys, in a fixed order. */
export const FASHION_MNIST_FILES: readonly FashionMnistFile[] = [
  'trainImages',
  'trainLabels',
  'testImages',
  'testLabels',
];

/** SHA-256 of the canonical decompressed files (verified against /usr/share/datasets/fashion-mnist). */
export const FASHION_MNIST_SHA256: Readonly<Sha256Map> = {
  trainImages: 'c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888',
  trainLabels: 'bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9',
  testImages: '5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b',
  testLabels: '0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34',
};

/** Decompressed sizes in bytes of the canonical files. */
export const FASHION_MNIST_BYTES: Readonly<Record<FashionMnistFile, number>> = {
  trainImages: 47_040_016,
  trainLabels: 60_008,
  testImages: 7_840_016,
  testLabels: 10_008,
};

/** Upstream download location (README "Get the Data"); files are `<base><name>.gz`. */
export const FASHION_MNIST_BASE_URL = 'http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/';

/** Where Debian's `dataset-fashion-mnist` package installs the .gz files. */
export const DEBIAN_FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

/** The next step printed when no dataset can be found or downloaded. */
export const INSTALL_HINT =
  'install the Debian package (apt-get install dataset-fashion-mnist), or pass --data-dir <dir with the 4 IDX files>';
