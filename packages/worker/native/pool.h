// Pooling gradients in place on the wasm heap (NHWC), exported by dnnl_conv.cc's addon:
// maxPoolGrad routes each output's gradient to the first maximum of its window in row-major order
// (as tfjs-backend-cpu and src/kernels/max-pool-grad.ts do); avgPoolGrad spreads it over the
// window's in-bounds pixels times 1 / (KH·KW) (as tfjs' AvgPoolGrad kernels do). Compiled for
// AVX-512, AVX2 and plain x86-64 (GCC's target_clones picks at load time); the channel loops are
// branch-free so that they vectorize.
#pragma once
#include <node_api.h>

#include <algorithm>
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

// Max pooling over x zero-padded by (top, left, and whatever bottom and right OH and OW imply): the
// composite PadV2 → MaxPool (valid) in one pass, the padded tensor never made. A pad position's 0
// takes part in the max like any value. arg gets each output's window position (kh·KW + kw) of
// the first maximum in row-major order, as MaxPoolGrad over the padded tensor picks it.
POOL_CLONES void maxPoolZeroPad(const float* __restrict x, float* __restrict y, int32_t* __restrict arg,
                                const int32_t* g) {
  const int64_t B = g[0], H = g[1], W = g[2], C = g[3], OH = g[4], OW = g[5], KH = g[6], KW = g[7], sh = g[8],
                sw = g[9], top = g[10], left = g[11];
  // 16 channels at a time as two 8-lane GCC vectors (two AVX2 registers; SSE splits each in two),
  // their maximum and argmax held in registers over the whole window; the C mod 16 channels left
  // take the same steps one at a time. The same loop over channels with the maxima in y, re-read at
  // every tap, took 22 ms on the seed's stem at batch 64 on a Zen 3 core (AVX2): with C = 64 each
  // tap's loop is 8 vectors long, and the auto-vectorizer's set-up around it cost more than the
  // work. (16-lane vector types are scalarized in the AVX2 clone: slower still.)
  typedef float vf __attribute__((vector_size(32)));
  typedef int32_t vi __attribute__((vector_size(32)));
  constexpr int64_t L = 16;
  const int64_t blocked = C - C % L;
  for (int64_t b = 0; b < B; b++)
    for (int64_t oh = 0; oh < OH; oh++)
      for (int64_t ow = 0; ow < OW; ow++) {
        const int64_t o = ((b * OH + oh) * OW + ow) * C;
        for (int64_t c0 = 0; c0 < blocked; c0 += L) {
          vf best0 = vf{} - std::numeric_limits<float>::infinity(), best1 = best0;
          vi at0 = vi{}, at1 = vi{};
          for (int64_t kh = 0; kh < KH; kh++) {
            const int64_t h = oh * sh - top + kh;
            for (int64_t kw = 0; kw < KW; kw++) {
              const int64_t w = ow * sw - left + kw;
              vf v0 = vf{}, v1 = vf{};
              if (h >= 0 && h < H && w >= 0 && w < W) {
                const float* xr = x + ((b * H + h) * W + w) * C + c0;
                std::memcpy(&v0, xr, sizeof v0);
                std::memcpy(&v1, xr + 8, sizeof v1);
              }
              const vi tap = vi{} + int32_t(kh * KW + kw);
              const vi gt0 = v0 > best0, gt1 = v1 > best1;
              best0 = gt0 ? v0 : best0;
              best1 = gt1 ? v1 : best1;
              at0 = gt0 ? tap : at0;
              at1 = gt1 ? tap : at1;
            }
          }
          std::memcpy(y + o + c0, &best0, sizeof best0);
          std::memcpy(y + o + c0 + 8, &best1, sizeof best1);
          std::memcpy(arg + o + c0, &at0, sizeof at0);
          std::memcpy(arg + o + c0 + 8, &at1, sizeof at1);
        }
        for (int64_t c = blocked; c < C; c++) {
          float best = -std::numeric_limits<float>::infinity();
          int32_t at = 0;
          for (int64_t kh = 0; kh < KH; kh++) {
            const int64_t h = oh * sh - top + kh;
            for (int64_t kw = 0; kw < KW; kw++) {
              const int64_t w = ow * sw - left + kw;
              const float v = h >= 0 && h < H && w >= 0 && w < W ? x[((b * H + h) * W + w) * C + c] : 0.0f;
              if (v > best) {
                best = v;
                at = int32_t(kh * KW + kw);
              }
            }
          }
          y[o + c] = best;
          arg[o + c] = at;
        }
      }
}

// maxPoolZeroPad's gradient: each input pixel gathers dy from the windows (at most
// ⌈KH/sh⌉·⌈KW/sw⌉) whose first maximum it was, in the order MaxPoolGrad scatters them, so the
// sums are MaxPoolGrad's over the padded tensor then sliced, bit for bit; gradients that went to a
// pad position are dropped with it. Writes dx once: no zeroing pass, no scatter.
POOL_CLONES void maxPoolZeroPadGrad(const float* __restrict dy, const int32_t* __restrict arg, float* __restrict dx,
                                    const int32_t* g) {
  const int64_t B = g[0], H = g[1], W = g[2], C = g[3], OH = g[4], OW = g[5], KH = g[6], KW = g[7], sh = g[8],
                sw = g[9], top = g[10], left = g[11];
  // The windows covering padded coordinate p (stride s, size K): o from ⌈(p − K + 1)/s⌉ to ⌊p/s⌋.
  auto first = [](int64_t p, int64_t K, int64_t s) { return p - K + 1 <= 0 ? int64_t(0) : (p - K + s) / s; };
  for (int64_t b = 0; b < B; b++)
    for (int64_t h = 0; h < H; h++) {
      const int64_t ph = h + top, oh0 = first(ph, KH, sh), oh1 = std::min(OH - 1, ph / sh);
      for (int64_t w = 0; w < W; w++) {
        const int64_t pw = w + left, ow0 = first(pw, KW, sw), ow1 = std::min(OW - 1, pw / sw);
        float* __restrict dr = dx + ((b * H + h) * W + w) * C;
        for (int64_t c = 0; c < C; c++) dr[c] = 0.0f;
        for (int64_t oh = oh0; oh <= oh1; oh++)
          for (int64_t ow = ow0; ow <= ow1; ow++) {
            const int32_t tap = int32_t((ph - oh * sh) * KW + (pw - ow * sw));
            const int64_t o = ((b * OH + oh) * OW + ow) * C;
            const float* __restrict gr = dy + o;
            const int32_t* __restrict ar = arg + o;
            for (int64_t c = 0; c < C; c++) dr[c] += ar[c] == tap ? gr[c] : 0.0f;
          }
      }
    }
}

// maxPoolZeroPad(heap, offsets [x, y, arg], geom[12]) and maxPoolZeroPadGrad(heap, offsets
// [dy, arg, dx], geom[12]); geom as maxPoolGrad's, top and left being the zero padding.
inline napi_value ZeroPadPool(napi_env env, napi_callback_info info, bool grad) {
  const std::string name = grad ? "maxPoolZeroPadGrad" : "maxPoolZeroPad";
  heap::Call c;
  if (!heap::read(env, info, name, 3, 12, c) || !heap::positive(env, c, name, 10)) return nullptr;
  const int32_t* g = c.geom;
  if (g[10] < 0 || g[11] < 0) return heap::fail(env, name + ": negative padding");
  const size_t xn = size_t(g[0]) * g[1] * g[2] * g[3], yn = size_t(g[0]) * g[4] * g[5] * g[3];
  const float* a = heap::operand(env, c, name, 0, grad ? yn : xn);
  float* b = a == nullptr ? nullptr : heap::operand(env, c, name, 1, yn);
  float* d = b == nullptr ? nullptr : heap::operand(env, c, name, 2, grad ? xn : yn);
  if (d == nullptr) return nullptr;
  if (grad)
    maxPoolZeroPadGrad(a, reinterpret_cast<const int32_t*>(b), d, g);
  else
    maxPoolZeroPad(a, b, reinterpret_cast<int32_t*>(d), g);
  return nullptr;
}

inline napi_value MaxPoolZeroPad(napi_env env, napi_callback_info info) { return ZeroPadPool(env, info, false); }
inline napi_value MaxPoolZeroPadGrad(napi_env env, napi_callback_info info) { return ZeroPadPool(env, info, true); }

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
