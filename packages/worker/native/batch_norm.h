// Training-mode BatchNorm (+ ReLU) over the last axis, forward and backward, in place on the wasm
// heap: the native versions of src/kernels/batch-norm-relu.ts, bit for bit: the same passes, the
// same float64 sums, and the element-wise passes in float32 (16 lanes a vector where float64 gives
// 8), each operation rounded as the JS kernels round it (no FMA contraction: fp-contract=off).
// Compiled for AVX-512, AVX2 and plain x86-64 (GCC's target_clones picks at load time). Included
// by dnnl_conv.cc, whose addon exports it as batchNorm().
#pragma once
#include <node_api.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace bn {

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define BN_CLONES __attribute__((target_clones("avx512f", "avx2", "default"), optimize("O3", "fp-contract=off")))
#else
#define BN_CLONES
#endif

// x [rows × C] given as channel parts: part p holds channels [off_p, off_p + c_p) of every row, its
// own rows c_p wide (one part: x itself). A dense block's BatchNorm reads the block's parts where
// they are, and no concatenation of them is ever made (model/fuse-concat-parts.ts). The arithmetic
// per channel does not depend on the parts: the results are the same bits for any cut.
struct Parts {
  std::vector<const float*> x;
  std::vector<int64_t> c;
};

// x, γ, β → y [rows × C], batch mean, biased variance, 1/√(var + ε).
BN_CLONES void forwardParts(const Parts& parts, const float* __restrict gamma, const float* __restrict beta,
                            float* __restrict y, float* __restrict mean, float* __restrict var,
                            float* __restrict invStd, int64_t rows, int64_t C, double eps, bool relu) {
  std::vector<double> buf(3 * size_t(C), 0.0);
  // Separate, non-aliasing arrays: without __restrict the compiler keeps every sum in memory.
  double* __restrict shift = buf.data();
  double* __restrict s = shift + C;
  double* __restrict q = s + C;
  std::vector<float> fbuf(2 * size_t(C));
  float* __restrict scale = fbuf.data();
  float* __restrict mu = scale + C;
  const size_t P = parts.x.size();
  for (size_t p = 0, off = 0; p < P; off += size_t(parts.c[p]), p++)
    for (int64_t c = 0; c < parts.c[p]; c++) shift[off + size_t(c)] = parts.x[p][c];
  for (int64_t r = 0; r < rows; r++) {
    for (size_t p = 0, off = 0; p < P; off += size_t(parts.c[p]), p++) {
      const int64_t cp = parts.c[p];
      const float* __restrict xr = parts.x[p] + r * cp;
      const double* __restrict sh = shift + off;
      double* __restrict sp = s + off;
      double* __restrict qp = q + off;
      for (int64_t c = 0; c < cp; c++) {
        const double d = double(xr[c]) - sh[c];
        sp[c] += d;
        qp[c] += d * d;
      }
    }
  }
  for (int64_t c = 0; c < C; c++) {
    const double m = s[c] / double(rows);
    const double v = std::max(q[c] / double(rows) - m * m, 0.0);
    mean[c] = float(shift[c] + m);
    var[c] = float(v);
    invStd[c] = float(1.0 / std::sqrt(v + eps));
    scale[c] = float(double(gamma[c]) * double(invStd[c]));
    mu[c] = mean[c];
  }
  for (int64_t r = 0; r < rows; r++) {
    for (size_t p = 0, off = 0; p < P; off += size_t(parts.c[p]), p++) {
      const int64_t cp = parts.c[p];
      const float* __restrict xr = parts.x[p] + r * cp;
      float* __restrict yr = y + r * C + off;
      const float* __restrict mp = mu + off;
      const float* __restrict sc = scale + off;
      const float* __restrict bp = beta + off;
      // y = (x − μ)·s + β: no cancellation between large terms (x·s + (β − μ·s) has it in float32),
      // and exactly β where x = μ.
      if (relu) {
        // (v + |v|)/2 is max(v, 0) exactly, and +0 for v ≤ 0. std::max or a select compiled to a
        // branch here, which random signs mispredict: 20× slower on Gaussian data.
        for (int64_t c = 0; c < cp; c++) {
          const float v = (xr[c] - mp[c]) * sc[c] + bp[c];
          yr[c] = (v + std::fabs(v)) * 0.5f;
        }
      } else {
        for (int64_t c = 0; c < cp; c++) yr[c] = (xr[c] - mp[c]) * sc[c] + bp[c];
      }
    }
  }
}

// dy [rows × C], x (parts), mean, 1/σ, γ, β → dx (one per part, as the parts are cut), dγ, dβ;
// through the ReLU when `relu`, whose mask (y > 0) is recomputed from x exactly as forward computed
// y (v = (x − μ)·s + β, y > 0 ⇔ v > 0), so y is not read and dy' is not stored: two passes over dy
// and x, and one write (22% faster than reading y and keeping dy' in dx, measured on 36,864 × 160).
// With acc[p] (else null), dx_p + acc_p: that part's gradient from its other consumers, added in the
// last pass.
BN_CLONES void backwardParts(const float* __restrict dy, const Parts& parts, const std::vector<const float*>& acc,
                             const std::vector<float*>& dx, const float* __restrict mean,
                             const float* __restrict invStd, const float* __restrict gamma,
                             const float* __restrict beta, float* __restrict dGamma, float* __restrict dBeta,
                             int64_t rows, int64_t C, bool relu) {
  std::vector<double> buf(3 * size_t(C), 0.0);
  double* __restrict sb = buf.data();
  double* __restrict sg = sb + C;
  double* __restrict mu = sg + C;
  std::vector<float> fbuf(6 * size_t(C));
  float* __restrict k = fbuf.data();
  float* __restrict a = k + C;
  float* __restrict t = a + C;
  float* __restrict muf = t + C;
  float* __restrict scale = muf + C;
  float* __restrict b = scale + C;
  for (int64_t c = 0; c < C; c++) {
    mu[c] = mean[c];
    muf[c] = mean[c];
    scale[c] = float(double(gamma[c]) * double(invStd[c]));  // forward's s, rounded as there
    b[c] = beta[c];
  }
  const size_t P = parts.x.size();
  for (int64_t r = 0; r < rows; r++) {
    for (size_t p = 0, off = 0; p < P; off += size_t(parts.c[p]), p++) {
      const int64_t cp = parts.c[p];
      const float* __restrict dyr = dy + r * C + off;
      const float* __restrict xr = parts.x[p] + r * cp;
      double* __restrict sbp = sb + off;
      double* __restrict sgp = sg + off;
      const double* __restrict mp = mu + off;
      if (relu) {
        const float* __restrict mfp = muf + off;
        const float* __restrict sc = scale + off;
        const float* __restrict bp = b + off;
        for (int64_t c = 0; c < cp; c++) {
          // dy·[v > 0] as a product (a select of dy became a branch, which random signs
          // mispredict), its factor a select of 1 or 0 in its own statement: GCC vectorizes that
          // for AVX2 and SSE; float(bool), or the select inside the product, only for AVX-512 (9×
          // slower on AVX2).
          const float m = (xr[c] - mfp[c]) * sc[c] + bp[c] > 0.0f ? 1.0f : 0.0f;
          const float v = dyr[c] * m;
          sbp[c] += v;
          sgp[c] += double(v) * (double(xr[c]) - mp[c]);
        }
      } else {
        for (int64_t c = 0; c < cp; c++) {
          sbp[c] += dyr[c];
          sgp[c] += double(dyr[c]) * (double(xr[c]) - mp[c]);
        }
      }
    }
  }
  const double n = double(rows);
  for (int64_t c = 0; c < C; c++) {
    const double is = invStd[c];
    const double kc = double(gamma[c]) * is;
    dBeta[c] = float(sb[c]);
    dGamma[c] = float(sg[c] * is);
    // dx = γ/σ · (dy' − dβ/n − x̂·dγ/n) = k·dy' + (a·(x − μ) + t), with t = −k·Σdy'/n.
    k[c] = float(kc);
    a[c] = float((-kc * is * sg[c] * is) / n);
    t[c] = float((-kc * sb[c]) / n);
  }
  for (int64_t r = 0; r < rows; r++) {
    for (size_t p = 0, off = 0; p < P; off += size_t(parts.c[p]), p++) {
      const int64_t cp = parts.c[p];
      const float* __restrict dyr = dy + r * C + off;
      const float* __restrict xr = parts.x[p] + r * cp;
      const float* __restrict ar = acc[p] == nullptr ? nullptr : acc[p] + r * cp;
      float* __restrict dxr = dx[p] + r * cp;
      const float* __restrict kp = k + off;
      const float* __restrict ap = a + off;
      const float* __restrict tp = t + off;
      const float* __restrict mfp = muf + off;
      const float* __restrict sc = scale + off;
      const float* __restrict bp = b + off;
      if (relu && ar != nullptr) {
        for (int64_t c = 0; c < cp; c++) {
          const float xm = xr[c] - mfp[c];
          const float m = xm * sc[c] + bp[c] > 0.0f ? 1.0f : 0.0f;
          const float d = dyr[c] * m;
          dxr[c] = (kp[c] * d + (ap[c] * xm + tp[c])) + ar[c];
        }
      } else if (relu) {
        for (int64_t c = 0; c < cp; c++) {
          const float xm = xr[c] - mfp[c];
          const float m = xm * sc[c] + bp[c] > 0.0f ? 1.0f : 0.0f;
          const float d = dyr[c] * m;
          dxr[c] = kp[c] * d + (ap[c] * xm + tp[c]);
        }
      } else if (ar != nullptr) {
        for (int64_t c = 0; c < cp; c++) dxr[c] = (kp[c] * dyr[c] + (ap[c] * (xr[c] - mfp[c]) + tp[c])) + ar[c];
      } else {
        for (int64_t c = 0; c < cp; c++) dxr[c] = kp[c] * dyr[c] + (ap[c] * (xr[c] - mfp[c]) + tp[c]);
      }
    }
  }
}

// One part: x itself.
inline void forward(const float* x, const float* gamma, const float* beta, float* y, float* mean, float* var,
                    float* invStd, int64_t rows, int64_t C, double eps, bool relu) {
  forwardParts(Parts{{x}, {C}}, gamma, beta, y, mean, var, invStd, rows, C, eps, relu);
}

inline void backward(const float* dy, const float* x, const float* mean, const float* invStd, const float* gamma,
                     const float* beta, const float* acc, float* dx, float* dGamma, float* dBeta, int64_t rows,
                     int64_t C, bool relu) {
  backwardParts(dy, Parts{{x}, {C}}, {acc}, {dx}, mean, invStd, gamma, beta, dGamma, dBeta, rows, C, relu);
}

inline napi_value fail(napi_env env, const std::string& msg) {
  napi_throw_error(env, "E_DNNL", msg.c_str());
  return nullptr;
}

// batchNorm(op 0..4, heap: ArrayBuffer, offsets: Float64Array, rows, C, eps, relu[, parts: Int32Array]):
// undefined. Offsets in bytes; forward (0): x, γ, β, y, mean, var, invStd; backward (1): dy, x, β,
// mean, invStd, γ, dx, dγ, dβ; backward adding acc (2): dy, x, β, mean, invStd, γ, acc, dx, dγ, dβ.
// With x in parts of `parts` channels each (n parts): forward (3): γ, β, y, mean, var, invStd, then
// the n parts; backward (4): dy, β, mean, invStd, γ, dγ, dβ, then the n parts, their n dx, and n
// acc (−1: none). Every operand is checked to lie inside the heap.
inline napi_value BatchNorm(napi_env env, napi_callback_info info) {
  size_t argc = 8;
  napi_value argv[8];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  int32_t op = -1;
  int64_t rows = 0, C = 0;
  double eps = 0;
  bool relu = false;
  void* heap = nullptr;
  size_t heapBytes = 0;
  napi_typedarray_type t;
  size_t n = 0;
  void* o = nullptr;
  if ((argc != 7 && argc != 8) || napi_get_value_int32(env, argv[0], &op) != napi_ok || op < 0 || op > 4 ||
      napi_get_arraybuffer_info(env, argv[1], &heap, &heapBytes) != napi_ok ||
      napi_get_typedarray_info(env, argv[2], &t, &n, &o, nullptr, nullptr) != napi_ok || t != napi_float64_array ||
      napi_get_value_int64(env, argv[3], &rows) != napi_ok || napi_get_value_int64(env, argv[4], &C) != napi_ok ||
      napi_get_value_double(env, argv[5], &eps) != napi_ok || napi_get_value_bool(env, argv[6], &relu) != napi_ok ||
      rows <= 0 || C <= 0 || (op >= 3) != (argc == 8))
    return fail(env, "batchNorm(op 0..4, heap, offsets, rows, C, eps, relu[, parts]): bad arguments");
  std::vector<int64_t> cs;
  if (op >= 3) {
    size_t np = 0;
    void* d = nullptr;
    if (napi_get_typedarray_info(env, argv[7], &t, &np, &d, nullptr, nullptr) != napi_ok || t != napi_int32_array ||
        np == 0)
      return fail(env, "batchNorm: parts must be a non-empty Int32Array of channel counts");
    int64_t sum = 0;
    for (size_t i = 0; i < np; i++) {
      const int32_t c = static_cast<const int32_t*>(d)[i];
      if (c <= 0) return fail(env, "batchNorm: a part has no channels");
      cs.push_back(c);
      sum += c;
    }
    if (sum != C) return fail(env, "batchNorm: the parts' channels do not add up to C");
  }
  const size_t P = cs.size();
  const size_t big = size_t(rows) * size_t(C) * 4, small = size_t(C) * 4;
  std::vector<size_t> bytes;
  if (op == 0) bytes = {big, small, small, big, small, small, small};
  else if (op == 1) bytes = {big, big, small, small, small, small, big, small, small};
  else if (op == 2) bytes = {big, big, small, small, small, small, big, big, small, small};
  else if (op == 3) bytes = {small, small, big, small, small, small};
  else bytes = {big, small, small, small, small, small, small};
  const size_t partGroups = op == 3 ? 1 : op == 4 ? 3 : 0;
  for (size_t g = 0; g < partGroups; g++)
    for (size_t i = 0; i < P; i++) bytes.push_back(size_t(rows) * size_t(cs[i]) * 4);
  const double* off = static_cast<const double*>(o);
  if (n != bytes.size()) return fail(env, "batchNorm: " + std::to_string(bytes.size()) + " offsets expected");
  std::vector<float*> p(n, nullptr);
  for (size_t i = 0; i < n; i++) {
    // op 4's acc offsets (the last P) may be −1: no acc for that part.
    if (op == 4 && i >= n - P && off[i] == -1) continue;
    if (off[i] < 0 || off[i] + double(bytes[i]) > double(heapBytes) || size_t(off[i]) % 4 != 0)
      return fail(env, "batchNorm: operand " + std::to_string(i) + " is outside the heap");
    p[i] = reinterpret_cast<float*>(static_cast<uint8_t*>(heap) + size_t(off[i]));
  }
  if (op == 0)
    forward(p[0], p[1], p[2], p[3], p[4], p[5], p[6], rows, C, eps, relu);
  else if (op == 1)
    backward(p[0], p[1], p[3], p[4], p[5], p[2], nullptr, p[6], p[7], p[8], rows, C, relu);
  else if (op == 2)
    backward(p[0], p[1], p[3], p[4], p[5], p[2], p[6], p[7], p[8], p[9], rows, C, relu);
  else if (op == 3)
    forwardParts(Parts{{p.begin() + 6, p.end()}, cs}, p[0], p[1], p[2], p[3], p[4], p[5], rows, C, eps, relu);
  else
    backwardParts(p[0], Parts{{p.begin() + 7, p.begin() + 7 + P}, cs}, {p.begin() + 7 + 2 * P, p.end()},
                  {p.begin() + 7 + P, p.begin() + 7 + 2 * P}, p[2], p[3], p[4], p[1], p[5], p[6], rows, C, relu);
  return nullptr;
}

}  // namespace bn
