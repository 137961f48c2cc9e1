// Split along the last (channel) axis, in place on the wasm heap: the gradient of every concat of a
// DenseNet block (SplitV of dy into the block's inputs). tfjs-backend-wasm runs SplitV as one
// general Slice per output; here one pass over the rows copies each row's channel ranges.
// Included by dnnl_conv.cc, whose addon exports it as splitChannels().
#pragma once
#include <node_api.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace channels {

inline napi_value fail(napi_env env, const std::string& msg) {
  napi_throw_error(env, "E_DNNL", msg.c_str());
  return nullptr;
}

// splitChannels(heap: ArrayBuffer, x: number, outs: Float64Array, sizes: Int32Array, rows: number):
// x [rows × Σsizes] (byte offset) → outs[i] [rows × sizes[i]] (byte offsets), float32.
inline napi_value SplitChannels(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  void* heap = nullptr;
  size_t heapBytes = 0;
  double xOff = -1;
  int64_t rows = 0;
  napi_typedarray_type t1, t2;
  size_t n1 = 0, n2 = 0;
  void *d1 = nullptr, *d2 = nullptr;
  if (argc != 5 || napi_get_arraybuffer_info(env, argv[0], &heap, &heapBytes) != napi_ok ||
      napi_get_value_double(env, argv[1], &xOff) != napi_ok ||
      napi_get_typedarray_info(env, argv[2], &t1, &n1, &d1, nullptr, nullptr) != napi_ok || t1 != napi_float64_array ||
      napi_get_typedarray_info(env, argv[3], &t2, &n2, &d2, nullptr, nullptr) != napi_ok || t2 != napi_int32_array ||
      n1 != n2 || n1 == 0 || napi_get_value_int64(env, argv[4], &rows) != napi_ok || rows <= 0)
    return fail(env, "splitChannels(heap, x, outs, sizes, rows): bad arguments");
  const double* outs = static_cast<const double*>(d1);
  const int32_t* sizes = static_cast<const int32_t*>(d2);
  size_t C = 0;
  for (size_t i = 0; i < n2; i++) {
    if (sizes[i] < 0) return fail(env, "splitChannels: negative size");
    C += size_t(sizes[i]);
  }
  auto inside = [&](double off, size_t bytes) {
    return off >= 0 && off + double(bytes) <= double(heapBytes) && size_t(off) % 4 == 0;
  };
  if (!inside(xOff, size_t(rows) * C * 4)) return fail(env, "splitChannels: x is outside the heap");
  for (size_t i = 0; i < n1; i++)
    if (!inside(outs[i], size_t(rows) * size_t(sizes[i]) * 4))
      return fail(env, "splitChannels: output " + std::to_string(i) + " is outside the heap");
  uint8_t* base = static_cast<uint8_t*>(heap);
  const float* x = reinterpret_cast<const float*>(base + size_t(xOff));
  std::vector<float*> o(n1);
  for (size_t i = 0; i < n1; i++) o[i] = reinterpret_cast<float*>(base + size_t(outs[i]));
  for (int64_t r = 0; r < rows; r++) {
    const float* xr = x + size_t(r) * C;
    for (size_t i = 0; i < n1; i++) {
      const size_t s = size_t(sizes[i]);
      std::memcpy(o[i] + size_t(r) * s, xr, s * 4);
      xr += s;
    }
  }
  return nullptr;
}

}  // namespace channels
