// MaxPoolGrad in place on the wasm heap (NHWC): routes each output's gradient to the first maximum
// of its window in row-major order, as tfjs-backend-cpu and src/kernels/max-pool-grad.ts do.
// Included by dnnl_conv.cc, whose addon exports it as maxPoolGrad().
#pragma once
#include <node_api.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

namespace pool {

// geom: B, H, W, C, OH, OW, KH, KW, sh, sw, top, left
inline void maxPoolGrad(const float* dy, const float* x, float* dx, const int32_t* g) {
  const int64_t B = g[0], H = g[1], W = g[2], C = g[3], OH = g[4], OW = g[5], KH = g[6], KW = g[7], sh = g[8],
                sw = g[9], top = g[10], left = g[11];
  std::memset(dx, 0, size_t(B * H * W * C) * 4);
  std::vector<float> best(C);
  std::vector<int64_t> at(C);
  for (int64_t b = 0; b < B; b++)
    for (int64_t oh = 0; oh < OH; oh++) {
      const int64_t h0 = oh * sh - top;
      for (int64_t ow = 0; ow < OW; ow++) {
        const int64_t w0 = ow * sw - left;
        std::fill(best.begin(), best.end(), -std::numeric_limits<float>::infinity());
        std::fill(at.begin(), at.end(), -1);
        for (int64_t kh = 0; kh < KH; kh++) {
          const int64_t h = h0 + kh;
          if (h < 0 || h >= H) continue;
          for (int64_t kw = 0; kw < KW; kw++) {
            const int64_t w = w0 + kw;
            if (w < 0 || w >= W) continue;
            const int64_t base = ((b * H + h) * W + w) * C;
            for (int64_t c = 0; c < C; c++) {
              const float v = x[base + c];
              if (v > best[c]) {
                best[c] = v;
                at[c] = base + c;
              }
            }
          }
        }
        const int64_t gBase = ((b * OH + oh) * OW + ow) * C;
        for (int64_t c = 0; c < C; c++)
          if (at[c] >= 0) dx[at[c]] += dy[gBase + c];
      }
    }
}

inline napi_value fail(napi_env env, const std::string& msg) {
  napi_throw_error(env, "E_DNNL", msg.c_str());
  return nullptr;
}

// maxPoolGrad(heap, dy, x, dx (byte offsets), geom: Int32Array[12])
inline napi_value MaxPoolGrad(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  void* heap = nullptr;
  size_t heapBytes = 0;
  double off[3] = {-1, -1, -1};
  napi_typedarray_type t;
  size_t n = 0;
  void* d = nullptr;
  bool ok = argc == 5 && napi_get_arraybuffer_info(env, argv[0], &heap, &heapBytes) == napi_ok;
  for (int i = 0; ok && i < 3; i++) ok = napi_get_value_double(env, argv[1 + i], &off[i]) == napi_ok;
  ok = ok && napi_get_typedarray_info(env, argv[4], &t, &n, &d, nullptr, nullptr) == napi_ok && t == napi_int32_array && n == 12;
  if (!ok) return fail(env, "maxPoolGrad(heap, dy, x, dx, geom): bad arguments");
  const int32_t* g = static_cast<const int32_t*>(d);
  for (int i = 0; i < 10; i++)
    if (g[i] <= 0) return fail(env, "maxPoolGrad: geom[" + std::to_string(i) + "] must be positive");
  const size_t xb = size_t(g[0]) * g[1] * g[2] * g[3] * 4, yb = size_t(g[0]) * g[4] * g[5] * g[3] * 4;
  const size_t bytes[3] = {yb, xb, xb};
  for (int i = 0; i < 3; i++)
    if (off[i] < 0 || off[i] + double(bytes[i]) > double(heapBytes) || size_t(off[i]) % 4 != 0)
      return fail(env, "maxPoolGrad: operand " + std::to_string(i) + " is outside the heap");
  uint8_t* base = static_cast<uint8_t*>(heap);
  maxPoolGrad(reinterpret_cast<const float*>(base + size_t(off[0])), reinterpret_cast<const float*>(base + size_t(off[1])),
              reinterpret_cast<float*>(base + size_t(off[2])), g);
  return nullptr;
}

}  // namespace pool
