// Split and concat along the last (channel) axis, and slices, in place on the wasm heap. Split: the gradient of every concat of a
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
// x [rows × Σsizes] (byte offset) → outs[i] [rows × sizes[i]] (byte offsets), float32;
// joinChannels, same arguments: the parts outs[i] → x (a concat along the last axis).
inline napi_value SplitOrJoin(napi_env env, napi_callback_info info, bool join) {
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
  if (join) {
    // The reverse: outs are the parts, x the whole.
    float* xw = const_cast<float*>(x);
    for (int64_t r = 0; r < rows; r++) {
      for (size_t i = 0; i < n1; i++) {
        const size_t s = size_t(sizes[i]);
        std::memcpy(xw, o[i] + size_t(r) * s, s * 4);
        xw += s;
      }
    }
    return nullptr;
  }
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

inline napi_value SplitChannels(napi_env env, napi_callback_info info) { return SplitOrJoin(env, info, false); }
inline napi_value JoinChannels(napi_env env, napi_callback_info info) { return SplitOrJoin(env, info, true); }

}  // namespace channels

namespace channels {

// slice4(heap, x, y, shape: Int32Array[4], begin: Int32Array[4], size: Int32Array[4]): y = x[begin : begin + size]
// of a 4-D float32 tensor (lower ranks padded with leading 1s), copying each contiguous run once.
inline napi_value Slice4(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  void* heap = nullptr;
  size_t heapBytes = 0;
  double xOff = -1, yOff = -1;
  const int32_t* v[3] = {nullptr, nullptr, nullptr};
  bool ok = argc == 6 && napi_get_arraybuffer_info(env, argv[0], &heap, &heapBytes) == napi_ok &&
            napi_get_value_double(env, argv[1], &xOff) == napi_ok && napi_get_value_double(env, argv[2], &yOff) == napi_ok;
  for (int i = 0; ok && i < 3; i++) {
    napi_typedarray_type t;
    size_t n = 0;
    void* d = nullptr;
    ok = napi_get_typedarray_info(env, argv[3 + i], &t, &n, &d, nullptr, nullptr) == napi_ok && t == napi_int32_array && n == 4;
    v[i] = static_cast<const int32_t*>(d);
  }
  if (!ok) return fail(env, "slice4(heap, x, y, shape, begin, size): bad arguments");
  const int32_t *shape = v[0], *begin = v[1], *size = v[2];
  for (int i = 0; i < 4; i++)
    if (shape[i] <= 0 || begin[i] < 0 || size[i] <= 0 || begin[i] + size[i] > shape[i])
      return fail(env, "slice4: the slice is outside the tensor");
  const size_t xn = size_t(shape[0]) * shape[1] * shape[2] * shape[3];
  const size_t yn = size_t(size[0]) * size[1] * size[2] * size[3];
  auto inside = [&](double off, size_t bytes) {
    return off >= 0 && off + double(bytes) <= double(heapBytes) && size_t(off) % 4 == 0;
  };
  if (!inside(xOff, xn * 4) || !inside(yOff, yn * 4)) return fail(env, "slice4: an operand is outside the heap");
  uint8_t* base = static_cast<uint8_t*>(heap);
  const float* x = reinterpret_cast<const float*>(base + size_t(xOff));
  float* y = reinterpret_cast<float*>(base + size_t(yOff));
  const size_t W = shape[2], C = shape[3];
  // Whole rows of channels are contiguous across w: one run per (n, h) then.
  const bool fullC = begin[3] == 0 && size[3] == shape[3];
  const size_t run = fullC ? size_t(size[2]) * C : size_t(size[3]);
  for (int32_t n = 0; n < size[0]; n++)
    for (int32_t h = 0; h < size[1]; h++) {
      const size_t row = ((size_t(begin[0] + n) * shape[1] + size_t(begin[1] + h)) * W + begin[2]) * C + begin[3];
      if (fullC) {
        std::memcpy(y, x + row, run * 4);
        y += run;
      } else {
        for (int32_t w = 0; w < size[2]; w++, y += run) std::memcpy(y, x + row + size_t(w) * C, run * 4);
      }
    }
  return nullptr;
}

}  // namespace channels
