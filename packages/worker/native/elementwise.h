// Element-wise kernels in place on the wasm heap, exported by dnnl_conv.cc's addon, for what the
// stock wasm kernels do slowly in a training step (src/kernels/native-elementwise.ts):
//   add4   a + b of float32 tensors of up to 4 axes with broadcasting (the gradient sums of every
//          tensor read twice, the bias adds); XNNPACK's wasm SIMD add runs at about half the speed;
//   equal4 a == b with broadcasting → bool (the max-pooling gradient's mask; the stock wasm kernel
//          takes 70 ns per element when b is broadcast);
//   pad4   a constant pad of a float32 tensor of up to 4 axes (the stock kernel: 12 ns per element).
// Shapes come padded to 4 axes; a broadcast axis has size 1 in a or b. Compiled for AVX-512, AVX2
// and plain x86-64 (GCC's target_clones picks at load time).
#pragma once
#include <node_api.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "heap_call.h"

namespace elementwise {

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define EW_CLONES __attribute__((target_clones("avx512f", "avx2", "default"), optimize("O3")))
#else
#define EW_CLONES
#endif

/** Row-major strides of a 4-axis shape, 0 where the axis is broadcast (size 1 against out > 1). */
inline void strides(const int32_t* shape, const int32_t* out, int64_t* s) {
  int64_t k = 1;
  for (int i = 3; i >= 0; i--) {
    s[i] = shape[i] == 1 && out[i] != 1 ? 0 : k;
    k *= shape[i];
  }
}

// The innermost axis is either contiguous (stride 1) or broadcast (stride 0) in each operand.
template <typename Out, typename Op>
EW_CLONES void binary4(const float* __restrict a, const float* __restrict b, Out* __restrict y, const int32_t* as,
                       const int32_t* bs, const int32_t* os, Op op) {
  int64_t sa[4], sb[4];
  strides(as, os, sa);
  strides(bs, os, sb);
  const int64_t n3 = os[3];
  for (int64_t i0 = 0; i0 < os[0]; i0++)
    for (int64_t i1 = 0; i1 < os[1]; i1++)
      for (int64_t i2 = 0; i2 < os[2]; i2++) {
        const float* ar = a + i0 * sa[0] + i1 * sa[1] + i2 * sa[2];
        const float* br = b + i0 * sb[0] + i1 * sb[1] + i2 * sb[2];
        Out* yr = y + ((i0 * os[1] + i1) * os[2] + i2) * n3;
        if (sa[3] == 1 && sb[3] == 1)
          for (int64_t j = 0; j < n3; j++) yr[j] = op(ar[j], br[j]);
        else if (sa[3] == 1)
          for (int64_t j = 0; j < n3; j++) yr[j] = op(ar[j], br[0]);
        else if (sb[3] == 1)
          for (int64_t j = 0; j < n3; j++) yr[j] = op(ar[0], br[j]);
        else
          for (int64_t j = 0; j < n3; j++) yr[j] = op(ar[0], br[0]);
      }
}

EW_CLONES void pad4(const float* __restrict x, float* __restrict y, const int32_t* xs, const int32_t* before,
                    const int32_t* ys, float value) {
  const int64_t yn = int64_t(ys[0]) * ys[1] * ys[2] * ys[3];
  if (value == 0.0f && !std::signbit(value))
    std::memset(y, 0, size_t(yn) * 4);
  else
    std::fill(y, y + yn, value);
  // Without padding on the last axis, a whole row (W·C) of x is one contiguous run in y.
  const bool wholeRows = before[3] == 0 && ys[3] == xs[3];
  const size_t run = wholeRows ? size_t(xs[2]) * xs[3] : size_t(xs[3]);
  const int64_t n2 = wholeRows ? 1 : xs[2];
  for (int64_t i0 = 0; i0 < xs[0]; i0++)
    for (int64_t i1 = 0; i1 < xs[1]; i1++)
      for (int64_t i2 = 0; i2 < n2; i2++) {
        const float* xr = x + ((i0 * xs[1] + i1) * xs[2] + i2) * xs[3];
        float* yr = y + (((i0 + before[0]) * ys[1] + i1 + before[1]) * ys[2] + i2 + before[2]) * ys[3] + before[3];
        std::memcpy(yr, xr, run * 4);
      }
}

inline size_t count(const int32_t* s) { return size_t(s[0]) * s[1] * s[2] * s[3]; }

// add4 / equal4(heap, offsets [a, b, y], geom [aShape(4), bShape(4), yShape(4)]).
inline napi_value Binary(napi_env env, napi_callback_info info, bool isAdd) {
  const std::string name = isAdd ? "add4" : "equal4";
  heap::Call c;
  if (!heap::read(env, info, name, 3, 12, c) || !heap::positive(env, c, name, 12)) return nullptr;
  const int32_t *as = c.geom, *bs = c.geom + 4, *os = c.geom + 8;
  for (int i = 0; i < 4; i++)
    if ((as[i] != os[i] && as[i] != 1) || (bs[i] != os[i] && bs[i] != 1) || os[i] != std::max(as[i], bs[i]))
      return heap::fail(env, name + ": the shapes do not broadcast to the output's");
  const float* a = heap::operand(env, c, name, 0, count(as));
  const float* b = a == nullptr ? nullptr : heap::operand(env, c, name, 1, count(bs));
  if (b == nullptr) return nullptr;
  if (isAdd) {
    float* y = heap::operand(env, c, name, 2, count(os));
    if (y != nullptr) binary4(a, b, y, as, bs, os, [](float p, float q) { return p + q; });
  } else {
    // A bool output is one byte per element: check it as a quarter of as many floats, rounded up.
    float* y = heap::operand(env, c, name, 2, (count(os) + 3) / 4);
    if (y != nullptr)
      binary4(a, b, reinterpret_cast<uint8_t*>(y), as, bs, os, [](float p, float q) { return uint8_t(p == q); });
  }
  return nullptr;
}

inline napi_value Add4(napi_env env, napi_callback_info info) { return Binary(env, info, true); }
inline napi_value Equal4(napi_env env, napi_callback_info info) { return Binary(env, info, false); }

// pad4(heap, offsets [x, y], geom [xShape(4), before(4), yShape(4), value as float bits]).
inline napi_value Pad4(napi_env env, napi_callback_info info) {
  heap::Call c;
  if (!heap::read(env, info, "pad4", 2, 13, c) || !heap::positive(env, c, "pad4", 4)) return nullptr;
  const int32_t *xs = c.geom, *before = c.geom + 4, *ys = c.geom + 8;
  for (int i = 0; i < 4; i++)
    if (before[i] < 0 || ys[i] < xs[i] + before[i]) return heap::fail(env, "pad4: the padding does not fit the output");
  float value;
  std::memcpy(&value, c.geom + 12, 4);
  const float* x = heap::operand(env, c, "pad4", 0, count(xs));
  float* y = x == nullptr ? nullptr : heap::operand(env, c, "pad4", 1, count(ys));
  if (y != nullptr) pad4(x, y, xs, before, ys, value);
  return nullptr;
}

}  // namespace elementwise
