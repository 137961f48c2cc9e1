// An MLP with BatchNormalization + ReLU for the 4-feature CSV of this folder (3 classes), trained
// with Adam. A model module: tfjs-ddp imports it in every worker and calls create(ctx).
export default {
  create({ tf, seed, settings }) {
    const init = (k) => tf.initializers.heNormal({ seed: seed * 10 + k });
    const model = tf.sequential({
      layers: [
        tf.layers.dense({
          inputShape: [4],
          units: Number(settings.hidden ?? 32),
          kernelInitializer: init(1),
        }),
        tf.layers.batchNormalization(),
        tf.layers.reLU(),
        tf.layers.dense({ units: 3, activation: 'softmax', kernelInitializer: init(2) }),
      ],
    });
    model.compile({
      optimizer: tf.train.adam(Number(settings.lr ?? 0.01)),
      loss: 'sparseCategoricalCrossentropy',
    });
    return model;
  },
};
