// Silent data corruption, injected: one flipped exponent bit (TFJS_DDP_INJECT_BITFLIP in a gradient,
// TFJS_DDP_INJECT_WEIGHT_BITFLIP in a weight), for the drills and tests of the audit (sdc-audit.ts).

/**
 * Flips an exponent bit of one element, as a faulty ALU or memory cell might. The default, the most
 * significant (bit 30), makes the first element with 0 < |x| < 1 x · 2^128: still finite, so no NaN
 * check sees it (element 0 when there is none). Returns the index.
 */
export function flipExponentBit(values: Float32Array, bit = 30): number {
  let at = values.findIndex((v) => v !== 0 && Math.abs(v) < 1);
  if (at < 0) at = 0;
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  bits[at] = bits[at]! ^ (1 << bit);
  return at;
}
