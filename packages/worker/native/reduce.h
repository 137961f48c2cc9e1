// Sums over every axis but the last, in place on the wasm heap: y[c] = Σ_r x[r·C + c], with
// float64 sums. This is the bias gradient of every convolution and dense layer (tfjs' Sum over
// axes 0..rank−2), which the stock wasm Sum does by transposing the tensor first. Exported by
// dnnl_conv.cc's addon as channelSum(heap, offsets [x, y], geom [rows, C]).
#pragma once
#include <node_api.h>

#include <cstdint>
#include <vector>

#include "heap_call.h"

namespace reduce {

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define REDUCE_CLONES __attribute__((target_clones("avx512f", "avx2", "default"), optimize("O3")))
#else
#define REDUCE_CLONES
#endif

REDUCE_CLONES void channelSum(const float* __restrict x, float* __restrict y, int64_t rows, int64_t C) {
  std::vector<double> buf(size_t(C), 0.0);
  double* __restrict s = buf.data();
  for (int64_t r = 0; r < rows; r++) {
    const float* xr = x + r * C;
    for (int64_t c = 0; c < C; c++) s[c] += double(xr[c]);
  }
  for (int64_t c = 0; c < C; c++) y[c] = float(s[c]);
}

inline napi_value ChannelSum(napi_env env, napi_callback_info info) {
  heap::Call c;
  if (!heap::read(env, info, "channelSum", 2, 2, c) || !heap::positive(env, c, "channelSum", 2)) return nullptr;
  const int64_t rows = c.geom[0], C = c.geom[1];
  const float* x = heap::operand(env, c, "channelSum", 0, size_t(rows) * size_t(C));
  float* y = x == nullptr ? nullptr : heap::operand(env, c, "channelSum", 1, size_t(C));
  if (y != nullptr) channelSum(x, y, rows, C);
  return nullptr;
}

}  // namespace reduce
