// A GRU over sequences of 12 steps × 2 features, then a softmax over 2 classes, trained with Adam.
export default {
  create({ tf, seed, settings }) {
    const init = (k) => tf.initializers.glorotUniform({ seed: seed * 10 + k });
    const model = tf.sequential({
      layers: [
        tf.layers.gru({
          inputShape: [12, 2],
          units: Number(settings.units ?? 16),
          kernelInitializer: init(1),
          recurrentInitializer: tf.initializers.orthogonal({ seed: seed * 10 + 2 }),
        }),
        tf.layers.dense({ units: 2, activation: 'softmax', kernelInitializer: init(3) }),
      ],
    });
    model.compile({ optimizer: tf.train.adam(0.01), loss: 'sparseCategoricalCrossentropy' });
    return model;
  },
};
