// Pooling gradients in place on the wasm heap (NHWC), exported by dnnl_conv.cc's addon:
// maxPoolGrad routes each output's gradient to the first maximum of its window in row-major order
// (as tfjs-backend-cpu and src/kernels/max-pool-grad.ts do); avgPoolGrad spreads it over the
// window's in-bounds pixels times 1 / (KH·KW) (as tfjs' AvgPoolGrad kernels do). Compiled for
// AVX-512, AVX2 and plain x86-64 (GCC's target_clones picks at load time); the channel loops are
// branch-free so that they vectorize.
#pragma once
#include <node_api.h>

#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "heap_call.h"

namespace pool {

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define POOL_CLONES __attribute__((target_clones("avx512f", "avx2", "default"), optimize("O3")))
#else
#define POOL_CLONES
#endif

// geom: B, H, W, C, OH, OW, KH, KW, sh, sw, top, left. Offsets within one image fit int32 (the
// caller checks H·W·C < 2^31), which keeps the index lanes as wide as the value lanes.
POOL_CLONES void maxPoolGrad(const float* __restrict dy, const float* __restrict x, float* __restrict dx, const int32_t* g) {
  const int64_t B = g[0], H = g[1], W = g[2], C = g[3], OH = g[4], OW = g[5], KH = g[6], KW = g[7], sh = g[8],
                sw = g[9], top = g[10], left = g[11];
  std::memset(dx, 0, size_t(B * H * W * C) * 4);
  std::vector<float> bestBuf(C);
  std::vector<int32_t> atBuf(C);
  float* __restrict best = bestBuf.data();
  int32_t* __restrict at = atBuf.data();
  for (int64_t b = 0; b < B; b++) {
    const float* xb = x + b * H * W * C;
    float* dxb = dx + b * H * W * C;
    for (int64_t oh = 0; oh < OH; oh++) {
      const int64_t h0 = oh * sh - top;
      for (int64_t ow = 0; ow < OW; ow++) {
        const int64_t w0 = ow * sw - left;
        for (int64_t c = 0; c < C; c++) {
          best[c] = -std::numeric_limits<float>::infinity();
          at[c] = -1;
        }
        for (int64_t kh = 0; kh < KH; kh++) {
          const int64_t h = h0 + kh;
          if (h < 0 || h >= H) continue;
          for (int64_t kw = 0; kw < KW; kw++) {
            const int64_t w = w0 + kw;
            if (w < 0 || w >= W) continue;
            const int32_t base = int32_t((h * W + w) * C);
            const float* xr = xb + base;
            for (int64_t c = 0; c < C; c++) {
              const bool gt = xr[c] > best[c];
              best[c] = gt ? xr[c] : best[c];
              at[c] = gt ? base + int32_t(c) : at[c];
            }
          }
        }
        const float* gr = dy + ((b * OH + oh) * OW + ow) * C;
        for (int64_t c = 0; c < C; c++)
          if (at[c] >= 0) dxb[at[c]] += gr[c];
      }
    }
  }
}

// geom as maxPoolGrad's.
POOL_CLONES void avgPoolGrad(const float* __restrict dy, float* __restrict dx, const int32_t* g) {
  const int64_t B = g[0], H = g[1], W = g[2], C = g[3], OH = g[4], OW = g[5], KH = g[6], KW = g[7], sh = g[8],
                sw = g[9], top = g[10], left = g[11];
  std::memset(dx, 0, size_t(B * H * W * C) * 4);
  const float mult = float(1.0 / double(KH * KW));
  for (int64_t b = 0; b < B; b++)
    for (int64_t oh = 0; oh < OH; oh++)
      for (int64_t ow = 0; ow < OW; ow++) {
        const float* __restrict gr = dy + ((b * OH + oh) * OW + ow) * C;
        for (int64_t kh = 0; kh < KH; kh++) {
          const int64_t h = oh * sh - top + kh;
          if (h < 0 || h >= H) continue;
          for (int64_t kw = 0; kw < KW; kw++) {
            const int64_t w = ow * sw - left + kw;
            if (w < 0 || w >= W) continue;
            float* __restrict dr = dx + ((b * H + h) * W + w) * C;
            for (int64_t c = 0; c < C; c++) dr[c] += gr[c] * mult;
          }
        }
      }
}

// maxPoolGrad(heap, offsets [dy, x, dx], geom[12]) and avgPoolGrad(heap, offsets [dy, dx], geom[12]).
inline napi_value PoolGrad(napi_env env, napi_callback_info info, bool isMax) {
  const std::string name = isMax ? "maxPoolGrad" : "avgPoolGrad";
  heap::Call c;
  if (!heap::read(env, info, name, isMax ? 3 : 2, 12, c) || !heap::positive(env, c, name, 10)) return nullptr;
  const int32_t* g = c.geom;
  const size_t xn = size_t(g[0]) * g[1] * g[2] * g[3], yn = size_t(g[0]) * g[4] * g[5] * g[3];
  if (size_t(g[1]) * g[2] * g[3] > size_t(std::numeric_limits<int32_t>::max()))
    return heap::fail(env, name + ": an image of H·W·C ≥ 2^31 elements");
  const float* dy = heap::operand(env, c, name, 0, yn);
  if (dy == nullptr) return nullptr;
  if (isMax) {
    const float* x = heap::operand(env, c, name, 1, xn);
    float* dx = x == nullptr ? nullptr : heap::operand(env, c, name, 2, xn);
    if (dx != nullptr) maxPoolGrad(dy, x, dx, g);
  } else {
    float* dx = heap::operand(env, c, name, 1, xn);
    if (dx != nullptr) avgPoolGrad(dy, dx, g);
  }
  return nullptr;
}

inline napi_value MaxPoolGrad(napi_env env, napi_callback_info info) { return PoolGrad(env, info, true); }
inline napi_value AvgPoolGrad(napi_env env, napi_callback_info info) { return PoolGrad(env, info, false); }

}  // namespace pool
