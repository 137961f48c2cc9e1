// Generated sequences, the same on every host (a fixed seed): 12 steps of 2 features each; the class
// says whether the first feature's running sum ends above zero. ctx.helpers.arraySplit serves them.
function sequences(count, seed) {
  let s = seed >>> 0;
  const rand = () => (s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32 - 0.5;
  const x = new Float32Array(count * 12 * 2);
  const y = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    let sum = 0;
    for (let t = 0; t < 12; t++) {
      const a = rand();
      x[(i * 12 + t) * 2] = a;
      x[(i * 12 + t) * 2 + 1] = rand();
      sum += a;
    }
    y[i] = sum > 0 ? 1 : 0;
  }
  return { x, y };
}

export default {
  load({ helpers, settings }) {
    const n = Number(settings.sequences ?? 512);
    const train = sequences(n, 1);
    const test = sequences(Math.floor(n / 4), 2);
    return {
      train: helpers.arraySplit({ x: train.x, sampleShape: [12, 2], y: train.y }),
      test: helpers.arraySplit({ x: test.x, sampleShape: [12, 2], y: test.y }),
    };
  },
};
