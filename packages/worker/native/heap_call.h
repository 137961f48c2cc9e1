// The calling convention of the addon's simpler heap kernels, checked in one place:
// name(heap: ArrayBuffer, offsets: Float64Array, geom: Int32Array). Offsets are byte offsets of
// the operands in the wasm heap; geom holds the shape numbers. Every operand is checked to lie
// inside the heap, aligned, before a kernel touches it. Included by pool.h and reduce.h.
#pragma once
#include <node_api.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace heap {

inline napi_value fail(napi_env env, const std::string& msg) {
  napi_throw_error(env, "E_DNNL", msg.c_str());
  return nullptr;
}

/** One call's arguments, read and checked by read(). */
struct Call {
  uint8_t* base = nullptr;
  size_t bytes = 0;
  const double* off = nullptr;
  size_t nOff = 0;
  const int32_t* geom = nullptr;
  size_t nGeom = 0;
};

/** Reads (heap, offsets[nOff], geom[nGeom]) into c; false, with a JS error thrown, otherwise. */
inline bool read(napi_env env, napi_callback_info info, const std::string& name, size_t nOff, size_t nGeom, Call& c) {
  size_t argc = 3;
  napi_value argv[3];
  napi_typedarray_type t1, t2;
  void *heap = nullptr, *o = nullptr, *g = nullptr;
  bool ok = napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) == napi_ok && argc == 3 &&
            napi_get_arraybuffer_info(env, argv[0], &heap, &c.bytes) == napi_ok &&
            napi_get_typedarray_info(env, argv[1], &t1, &c.nOff, &o, nullptr, nullptr) == napi_ok &&
            napi_get_typedarray_info(env, argv[2], &t2, &c.nGeom, &g, nullptr, nullptr) == napi_ok &&
            t1 == napi_float64_array && t2 == napi_int32_array && c.nOff == nOff && c.nGeom == nGeom;
  if (!ok) {
    fail(env, name + "(heap: ArrayBuffer, offsets: Float64Array[" + std::to_string(nOff) + "], geom: Int32Array[" +
                  std::to_string(nGeom) + "]): bad arguments");
    return false;
  }
  c.base = static_cast<uint8_t*>(heap);
  c.off = static_cast<const double*>(o);
  c.geom = static_cast<const int32_t*>(g);
  return true;
}

/** geom[0..n) are all positive; false, with a JS error thrown, otherwise. */
inline bool positive(napi_env env, const Call& c, const std::string& name, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (c.geom[i] <= 0) {
      fail(env, name + ": geom[" + std::to_string(i) + "] must be positive");
      return false;
    }
  return true;
}

/** Operand i as `floats` floats inside the heap; nullptr, with a JS error thrown, otherwise. */
inline float* operand(napi_env env, const Call& c, const std::string& name, size_t i, size_t floats) {
  const double off = c.off[i];
  if (!(off >= 0) || off + double(floats) * 4 > double(c.bytes) || size_t(off) % 4 != 0) {
    fail(env, name + ": operand " + std::to_string(i) + " is outside the heap");
    return nullptr;
  }
  return reinterpret_cast<float*>(c.base + size_t(off));
}

}  // namespace heap
