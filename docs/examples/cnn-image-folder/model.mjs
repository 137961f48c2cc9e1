// A small CNN for the 16×16 RGB images of this folder (3 classes): two conv → BatchNormalization →
// ReLU blocks, global average pooling, softmax; SGD with momentum.
export default {
  create({ tf, seed }) {
    const init = (k) => tf.initializers.heNormal({ seed: seed * 10 + k });
    const block = (filters, k) => [
      tf.layers.conv2d({
        filters,
        kernelSize: 3,
        padding: 'same',
        useBias: false,
        kernelInitializer: init(k),
      }),
      tf.layers.batchNormalization(),
      tf.layers.reLU(),
    ];
    const model = tf.sequential({
      layers: [
        tf.layers.inputLayer({ inputShape: [16, 16, 3] }),
        ...block(8, 1),
        tf.layers.maxPooling2d({ poolSize: 2 }),
        ...block(16, 2),
        tf.layers.globalAveragePooling2d({}),
        tf.layers.dense({ units: 3, activation: 'softmax', kernelInitializer: init(3) }),
      ],
    });
    model.compile({ optimizer: tf.train.momentum(0.05, 0.9), loss: 'sparseCategoricalCrossentropy' });
    return model;
  },
};
