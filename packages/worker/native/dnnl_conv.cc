// Native convolutions for the wasm backend: oneDNN's conv forward (with bias and an optional ReLU),
// backward-data and backward-weights, computing in place on the wasm heap (the WebAssembly.Memory's
// ArrayBuffer, passed on every call because growing the heap replaces it) at the byte offsets of the
// tensors tfjs allocated there. Activations are NHWC and filters tfjs's HWIO, described to oneDNN as
// such (format tags nhwc and hwio), so activations are never reordered; the filter (small) is
// reordered to the layout the chosen implementation wants when that is not hwio. Primitives are
// cached by (op, shapes, strides, pads, bias, relu); one engine and one stream per process, one
// OpenMP thread (a worker is one core). Loaded by src/kernels/dnnl/dnnl-addon.ts; built by
// native/build.mjs. Design and measurements: docs/kernels.md, "oneDNN". Also exports the fused
// BatchNorm (+ ReLU) training kernels of batch_norm.h the copies of channels.h and
// MaxPoolGrad (pool.h).
#define NAPI_VERSION 8
#include <node_api.h>
#include <omp.h>

#include <array>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "batch_norm.h"
#include "channels.h"
#include "pool.h"
#include "reduce.h"
#include "elementwise.h"
#include "dnnl.hpp"

namespace {

using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;

enum Op { kForward = 0, kBackwardData = 1, kBackwardWeights = 2 };
// N, H, W, Ci, KH, KW, Co, OH, OW, sh, sw, pt, pl, pb, pr, bias (0|1), relu (0|1)
constexpr size_t kGeom = 17;
using Geom = std::array<int32_t, kGeom>;

// Page-aligned bytes, grown on demand: oneDNN's kernels run up to 30% slower on buffers that are
// not 64-byte aligned (measured on a backward-data conv, docs/kernels.md); std::vector gives 16.
class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  ~AlignedBuffer() { std::free(data_); }
  void reserve(size_t bytes) {
    if (bytes <= size_) return;
    const size_t rounded = (bytes + 4095) & ~size_t(4095);
    void* p = std::aligned_alloc(4096, rounded);
    if (p == nullptr) throw std::bad_alloc();
    std::free(data_);
    data_ = p;
    size_ = rounded;
  }
  void* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  void* data_ = nullptr;
  size_t size_ = 0;
};

struct Runtime {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
  AlignedBuffer scratch;  // one user scratchpad shared by every primitive (one thread)
};
Runtime* g_rt = nullptr;

struct Entry {
  dnnl::primitive prim;
  memory::desc src, wei, dst, bias;  // what the primitive takes (wei may be a blocked layout)
  memory::desc weiUser;              // hwio
  bool reorderWeights = false;
  dnnl::reorder weiReorder;          // hwio → wei (forward, backward-data) or wei → hwio (weights)
  AlignedBuffer weiBuf;              // the filter in the primitive's layout
  size_t scratchBytes = 0;
  std::string impl;
};
std::map<std::pair<int, Geom>, std::unique_ptr<Entry>> g_cache;

// TFJS_DDP_DNNL_WEIGHTS=hwio: give the primitive the filter in tfjs's layout instead of letting
// oneDNN choose (for measuring the reorder; docs/kernels.md).
bool forceHwio() {
  const char* v = std::getenv("TFJS_DDP_DNNL_WEIGHTS");
  return v != nullptr && std::strcmp(v, "hwio") == 0;
}

std::unique_ptr<Entry> build(int op, const Geom& g) {
  const memory::dim N = g[0], H = g[1], W = g[2], Ci = g[3], KH = g[4], KW = g[5], Co = g[6], OH = g[7],
                    OW = g[8];
  const memory::dims strides{g[9], g[10]}, padL{g[11], g[12]}, padR{g[13], g[14]};
  const bool bias = g[15] != 0, relu = g[16] != 0;
  auto& eng = g_rt->engine;
  auto e = std::make_unique<Entry>();
  e->src = memory::desc({N, Ci, H, W}, dt::f32, tag::nhwc);
  e->dst = memory::desc({N, Co, OH, OW}, dt::f32, tag::nhwc);
  e->weiUser = memory::desc({Co, Ci, KH, KW}, dt::f32, tag::hwio);
  const memory::desc weiAny = forceHwio() ? e->weiUser : memory::desc({Co, Ci, KH, KW}, dt::f32, tag::any);
  e->bias = bias ? memory::desc({Co}, dt::f32, tag::a) : memory::desc();
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  const auto algo = dnnl::algorithm::convolution_direct;
  const auto fwdDesc = dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, algo, e->src, weiAny,
                                                       e->bias, e->dst, strides, padL, padR);
  memory::desc chosen;
  if (op == kForward) {
    dnnl::primitive_attr fa = attr;
    if (relu) {
      dnnl::post_ops po;
      po.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
      fa.set_post_ops(po);
    }
    dnnl::convolution_forward::primitive_desc pd(fwdDesc, fa, eng);
    chosen = pd.weights_desc();
    e->scratchBytes = pd.scratchpad_desc().get_size();
    e->impl = pd.impl_info_str();
    e->prim = dnnl::convolution_forward(pd);
  } else {
    const auto hintDesc = dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, algo, e->src, weiAny,
                                                          e->dst, strides, padL, padR);
    dnnl::convolution_forward::primitive_desc hint(hintDesc, eng);
    if (op == kBackwardData) {
      const auto d = dnnl::convolution_backward_data::desc(algo, e->src, weiAny, e->dst, strides, padL, padR);
      dnnl::convolution_backward_data::primitive_desc pd(d, attr, eng, hint);
      chosen = pd.weights_desc();
      e->scratchBytes = pd.scratchpad_desc().get_size();
      e->impl = pd.impl_info_str();
      e->prim = dnnl::convolution_backward_data(pd);
    } else {
      // With bias: the bias gradient (Σ dY over batch and pixels) from the same primitive.
      const auto d = bias ? dnnl::convolution_backward_weights::desc(algo, e->src, weiAny, e->bias, e->dst, strides, padL, padR)
                          : dnnl::convolution_backward_weights::desc(algo, e->src, weiAny, e->dst, strides, padL, padR);
      dnnl::convolution_backward_weights::primitive_desc pd(d, attr, eng, hint);
      chosen = pd.diff_weights_desc();
      e->scratchBytes = pd.scratchpad_desc().get_size();
      e->impl = pd.impl_info_str();
      e->prim = dnnl::convolution_backward_weights(pd);
    }
  }
  e->wei = chosen;
  e->reorderWeights = chosen != e->weiUser;
  if (e->reorderWeights) {
    e->weiBuf.reserve(chosen.get_size());
    e->weiReorder = op == kBackwardWeights ? dnnl::reorder(dnnl::reorder::primitive_desc(eng, chosen, eng, e->weiUser))
                                           : dnnl::reorder(dnnl::reorder::primitive_desc(eng, e->weiUser, eng, chosen));
  }
  return e;
}

Entry& entryFor(int op, const Geom& g) {
  auto key = std::make_pair(op, g);
  auto it = g_cache.find(key);
  if (it != g_cache.end()) return *it->second;
  return *g_cache.emplace(key, build(op, g)).first->second;
}

// Runs one conv in place: p[0..2] are byte offsets in the heap (forward: x, filter, y, bias;
// backward-data: dy, filter, dx; backward-weights: x, dy, dw, and with bias dB).
void run(int op, const Geom& g, uint8_t* heap, const std::vector<double>& p) {
  Entry& e = entryFor(op, g);
  auto& eng = g_rt->engine;
  auto& s = g_rt->stream;
  g_rt->scratch.reserve(e.scratchBytes);
  auto at = [&](size_t i) { return static_cast<void*>(heap + static_cast<size_t>(p[i])); };
  memory scratch(memory::desc({static_cast<memory::dim>(e.scratchBytes)}, dt::u8, tag::a), eng,
                 g_rt->scratch.data());
  if (op == kForward || op == kBackwardData) {
    memory weiUser(e.weiUser, eng, at(1));
    memory wei = weiUser;
    if (e.reorderWeights) {
      wei = memory(e.wei, eng, e.weiBuf.data());
      e.weiReorder.execute(s, weiUser, wei);
    }
    if (op == kForward) {
      std::unordered_map<int, memory> args{{DNNL_ARG_SRC, memory(e.src, eng, at(0))},
                                           {DNNL_ARG_WEIGHTS, wei},
                                           {DNNL_ARG_DST, memory(e.dst, eng, at(2))},
                                           {DNNL_ARG_SCRATCHPAD, scratch}};
      if (g[15] != 0) args.emplace(DNNL_ARG_BIAS, memory(e.bias, eng, at(3)));
      e.prim.execute(s, args);
    } else {
      e.prim.execute(s, {{DNNL_ARG_DIFF_DST, memory(e.dst, eng, at(0))},
                         {DNNL_ARG_WEIGHTS, wei},
                         {DNNL_ARG_DIFF_SRC, memory(e.src, eng, at(2))},
                         {DNNL_ARG_SCRATCHPAD, scratch}});
    }
  } else {
    memory dwUser(e.weiUser, eng, at(2));
    memory dw = e.reorderWeights ? memory(e.wei, eng, e.weiBuf.data()) : dwUser;
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, memory(e.src, eng, at(0))},
                                         {DNNL_ARG_DIFF_DST, memory(e.dst, eng, at(1))},
                                         {DNNL_ARG_DIFF_WEIGHTS, dw},
                                         {DNNL_ARG_SCRATCHPAD, scratch}};
    if (g[15] != 0) args.emplace(DNNL_ARG_DIFF_BIAS, memory(e.bias, eng, at(3)));
    e.prim.execute(s, args);
    if (e.reorderWeights) e.weiReorder.execute(s, dw, dwUser);
  }
  s.wait();
}

// ---- N-API glue ------------------------------------------------------------------------------

napi_value throwError(napi_env env, const std::string& msg) {
  napi_throw_error(env, "E_DNNL", msg.c_str());
  return nullptr;
}

// Bytes each operand spans: elements × 4, for the bounds check against the heap.
std::vector<size_t> operandBytes(int op, const Geom& g) {
  const size_t x = size_t(g[0]) * g[1] * g[2] * g[3], w = size_t(g[4]) * g[5] * g[3] * g[6],
               y = size_t(g[0]) * g[7] * g[8] * g[6];
  if (op == kForward && g[15] != 0) return {x * 4, w * 4, y * 4, size_t(g[6]) * 4};
  if (op == kForward) return {x * 4, w * 4, y * 4};
  if (op == kBackwardData) return {y * 4, w * 4, x * 4};
  if (g[15] != 0) return {x * 4, y * 4, w * 4, size_t(g[6]) * 4};
  return {x * 4, y * 4, w * 4};
}

// conv(op, heap: ArrayBuffer, offsets: Float64Array, geom: Int32Array): undefined
napi_value Conv(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  int32_t op = -1;
  if (argc != 4 || napi_get_value_int32(env, argv[0], &op) != napi_ok || op < 0 || op > 2)
    return throwError(env, "conv(op 0|1|2, heap, offsets, geom): bad arguments");
  void* heap = nullptr;
  size_t heapBytes = 0;
  if (napi_get_arraybuffer_info(env, argv[1], &heap, &heapBytes) != napi_ok)
    return throwError(env, "conv: heap must be an ArrayBuffer");
  napi_typedarray_type t1, t2;
  size_t n1 = 0, n2 = 0;
  void *d1 = nullptr, *d2 = nullptr;
  if (napi_get_typedarray_info(env, argv[2], &t1, &n1, &d1, nullptr, nullptr) != napi_ok || t1 != napi_float64_array ||
      napi_get_typedarray_info(env, argv[3], &t2, &n2, &d2, nullptr, nullptr) != napi_ok || t2 != napi_int32_array ||
      n2 != kGeom)
    return throwError(env, "conv: offsets must be a Float64Array and geom an Int32Array of 17");
  Geom g;
  std::memcpy(g.data(), d2, sizeof(g));
  for (size_t i = 0; i < 11; i++)
    if (g[i] <= 0) return throwError(env, "conv: geom[" + std::to_string(i) + "] must be positive");
  const std::vector<double> offsets(static_cast<double*>(d1), static_cast<double*>(d1) + n1);
  const auto bytes = operandBytes(op, g);
  if (offsets.size() < bytes.size()) return throwError(env, "conv: too few offsets");
  for (size_t i = 0; i < bytes.size(); i++) {
    if (offsets[i] < 0 || offsets[i] + double(bytes[i]) > double(heapBytes) || size_t(offsets[i]) % 4 != 0)
      return throwError(env, "conv: operand " + std::to_string(i) + " at " + std::to_string(offsets[i]) +
                                 " (" + std::to_string(bytes[i]) + " bytes) is outside the heap of " +
                                 std::to_string(heapBytes) + " bytes");
  }
  try {
    run(op, g, static_cast<uint8_t*>(heap), offsets);
  } catch (const dnnl::error& e) {
    return throwError(env, std::string("oneDNN: ") + e.what() + " (status " + std::to_string(int(e.status)) + ")");
  } catch (const std::exception& e) {
    return throwError(env, e.what());
  }
  return nullptr;
}

// impl(op, geom): the implementation oneDNN chose for that conv (e.g. "brg:avx512_core").
napi_value Impl(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  int32_t op = -1;
  napi_typedarray_type t;
  size_t n = 0;
  void* d = nullptr;
  if (argc != 2 || napi_get_value_int32(env, argv[0], &op) != napi_ok || op < 0 || op > 2 ||
      napi_get_typedarray_info(env, argv[1], &t, &n, &d, nullptr, nullptr) != napi_ok || t != napi_int32_array ||
      n != kGeom)
    return throwError(env, "impl(op, geom): bad arguments");
  Geom g;
  std::memcpy(g.data(), d, sizeof(g));
  try {
    Entry& e = entryFor(op, g);
    std::string s = e.impl + (e.reorderWeights ? " +weights reorder" : "");
    napi_value out;
    napi_create_string_utf8(env, s.c_str(), s.size(), &out);
    return out;
  } catch (const dnnl::error& e) {
    return throwError(env, std::string("oneDNN: ") + e.what());
  }
}

// stats(): { primitives, scratchpadBytes, weightBytes } — the native memory outside the wasm heap.
napi_value Stats(napi_env env, napi_callback_info) {
  size_t weights = 0;
  for (const auto& kv : g_cache) weights += kv.second->weiBuf.size();
  napi_value out, v;
  napi_create_object(env, &out);
  napi_create_double(env, double(g_cache.size()), &v);
  napi_set_named_property(env, out, "primitives", v);
  napi_create_double(env, double(g_rt->scratch.size()), &v);
  napi_set_named_property(env, out, "scratchpadBytes", v);
  napi_create_double(env, double(weights), &v);
  napi_set_named_property(env, out, "weightBytes", v);
  return out;
}

napi_value Init(napi_env env, napi_value exports) {
  // One thread per worker: a worker process is one core (the OpenMP runtime of Debian's libdnnl).
  omp_set_num_threads(1);
  // Once per process. Not thread-safe (nor is the cache): tfjs runs kernels on its one JS thread.
  if (g_rt == nullptr) g_rt = new Runtime();
  const dnnl_version_t* v = dnnl_version();
  const std::string version = std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch);
  const std::pair<const char*, napi_callback> functions[] = {
      {"conv", Conv},
      {"impl", Impl},
      {"stats", Stats},
      {"batchNorm", bn::BatchNorm},
      {"splitChannels", channels::SplitChannels},
      {"joinChannels", channels::JoinChannels},
      {"slice4", channels::Slice4},
      {"maxPoolGrad", pool::MaxPoolGrad},
      {"avgPoolGrad", pool::AvgPoolGrad},
      {"maxPoolZeroPad", pool::MaxPoolZeroPad},
      {"maxPoolZeroPadGrad", pool::MaxPoolZeroPadGrad},
      {"channelSum", reduce::ChannelSum},
      {"add4", elementwise::Add4},
      {"equal4", elementwise::Equal4},
      {"pad4", elementwise::Pad4},
  };
  for (const auto& [name, fn] : functions) {
    napi_value f;
    napi_create_function(env, name, NAPI_AUTO_LENGTH, fn, nullptr, &f);
    napi_set_named_property(env, exports, name, f);
  }
  napi_value ver, threads;
  napi_create_string_utf8(env, version.c_str(), version.size(), &ver);
  napi_create_int32(env, omp_get_max_threads(), &threads);
  napi_set_named_property(env, exports, "version", ver);
  napi_set_named_property(env, exports, "threads", threads);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
