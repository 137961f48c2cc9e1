// The fused BatchNorm kernels' per-channel steps, shared by the JS loops (batch-norm-relu.ts) and
// the wasm SIMD kernels (simd/batch-norm-simd.ts) so that both compute them alike.

/** The forward's per-channel step between its two passes: batch mean, biased variance, 1/σ, γ/σ. */
export function trainChannels(
  rows: number,
  epsilon: number,
  c: Record<'shift' | 's' | 'q', Float64Array> &
    Record<'gamma' | 'mean' | 'variance' | 'invStd' | 'scale', Float32Array>,
): void {
  for (let i = 0; i < c.shift.length; i++) {
    const m = c.s[i]! / rows;
    const v = Math.max(c.q[i]! / rows - m * m, 0);
    c.mean[i] = c.shift[i]! + m;
    c.variance[i] = v;
    c.invStd[i] = 1 / Math.sqrt(v + epsilon);
    c.scale[i] = c.gamma[i]! * c.invStd[i]!;
  }
}

/**
 * The backward's per-channel step: dβ, dγ and the coefficients of dx = k·dy' + (a·(x − μ) + t), with
 * x̂ = (x − μ)/σ, dx = γ/σ · (dy' − dβ/n − x̂·dγ/n), so k = γ/σ, a = −k·dγ/(σ·n), t = −k·dβ/n.
 */
export function gradChannels(
  rows: number,
  c: Record<'sb' | 'sg', Float64Array> &
    Record<'gamma' | 'invStd' | 'dGamma' | 'dBeta' | 'k' | 'a' | 't', Float32Array>,
): void {
  for (let i = 0; i < c.sb.length; i++) {
    const kc = c.gamma[i]! * c.invStd[i]!;
    c.dBeta[i] = c.sb[i]!;
    c.dGamma[i] = c.sg[i]! * c.invStd[i]!;
    c.k[i] = kc;
    c.a[i] = (-kc * c.invStd[i]! * c.sg[i]! * c.invStd[i]!) / rows;
    c.t[i] = (-kc * c.sb[i]!) / rows;
  }
}
