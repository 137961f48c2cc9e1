// The native data plane: ZeroMQ PUSH/PULL sockets of the system's libzmq driven from C++, and the
// ring all-reduce run on a libuv pool thread with them. Same algorithm and the same wire frames as
// src/allreduce/ring-allreduce.ts ([25-byte header, float32 payload]), so native and JavaScript ranks
// can share a ring. What it saves over zeromq.js (docs/benchmarks.md, "All-reduce"): received chunks
// are reduced and forwarded straight from libzmq's message (no JavaScript Buffer, no external-memory
// GC), forwarded chunks are moved, not copied, and a received message's memory is freed as soon as it
// has been used, so glibc hands the same pages back for the next one (see tuneMalloc). Loaded, when
// built, by src/transport/zmq/native-data-plane.ts; built by native/build.mjs.
//
// Threads: a socket is used by one thread at a time (each Sock has a mutex, held for a whole
// operation); waits are zmq_poll slices of at most kSliceMs so that close() interrupts them.
#define NAPI_VERSION 8
#include <malloc.h>
#include <node_api.h>
#include <zmq.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

#include "zmq_guard.h"
#include "zmq_links.h"

namespace {

constexpr int kSliceMs = 50;
constexpr size_t kHeaderBytes = 25;
void* g_ctx = nullptr;
std::atomic<int> g_open{0};
guard::Guard* g_guard = nullptr;  // started by the first CURVE socket (main thread only)

int64_t nowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// The monotonic clock in fractional ms: CLOCK_MONOTONIC, the clock of Node's process.hrtime (for
// the timeline, which the JavaScript side converts to performance.now()).
double monotonicMs() {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// A JavaScript buffer that libzmq may still read (sent in place): its ArrayBuffer stays referenced
// until libzmq has released every message made from it.
struct Pin {
  std::atomic<int> count{0};
  napi_ref ref = nullptr;
};
std::vector<Pin*> g_pins;  // main thread only

void unpin(void*, void* hint) { static_cast<Pin*>(hint)->count.fetch_sub(1); }

void sweepPins(napi_env env) {
  auto keep = g_pins.begin();
  for (Pin* p : g_pins) {
    if (p->count.load() == 0) {
      napi_delete_reference(env, p->ref);
      delete p;
    } else {
      *keep++ = p;
    }
  }
  g_pins.erase(keep, g_pins.end());
}

struct Sock {
  void* s = nullptr;
  std::mutex m;
  std::atomic<bool> closing{false};
  bool closed = false;  // under m
  std::string endpoint;
  std::shared_ptr<guard::Counters> counters;  // bound CURVE sockets: what the guard counted
};

struct Failure {
  std::string code;  // E_TIMEOUT, E_CLOSED, E_PROTOCOL, E_ZMQ
  std::string message;
  // E_TIMEOUT / E_PROTOCOL in an all-reduce: where.
  int t = -1;
  int64_t chunk = -1;
  int segment = -1;
  bool sending = false;
  // E_PROTOCOL: what arrived.
  std::vector<std::vector<uint8_t>> heads;  // every frame but the last, and the last if small
  int64_t lastBytes = -1;
};

// ---------- napi helpers ----------

#define CHECK(call)                                               \
  do {                                                            \
    if ((call) != napi_ok) {                                      \
      napi_throw_error(env, "E_INTERNAL", "N-API call failed: " #call); \
      return nullptr;                                             \
    }                                                             \
  } while (0)

napi_value makeString(napi_env env, const std::string& s) {
  napi_value v;
  napi_create_string_utf8(env, s.c_str(), s.size(), &v);
  return v;
}

void setNumber(napi_env env, napi_value obj, const char* key, double x) {
  napi_value v;
  napi_create_double(env, x, &v);
  napi_set_named_property(env, obj, key, v);
}

napi_value failureToError(napi_env env, const Failure& f) {
  napi_value err;
  napi_create_error(env, makeString(env, f.code), makeString(env, f.message), &err);
  napi_set_named_property(env, err, "code", makeString(env, f.code));
  setNumber(env, err, "ringStep", f.t);
  setNumber(env, err, "chunk", static_cast<double>(f.chunk));
  setNumber(env, err, "segment", f.segment);
  napi_value b;
  napi_get_boolean(env, f.sending, &b);
  napi_set_named_property(env, err, "sending", b);
  if (f.code == "E_PROTOCOL") {
    napi_value arr;
    napi_create_array_with_length(env, f.heads.size(), &arr);
    for (size_t i = 0; i < f.heads.size(); i++) {
      napi_value buf;
      void* data;
      napi_create_buffer_copy(env, f.heads[i].size(), f.heads[i].data(), &data, &buf);
      napi_set_element(env, arr, i, buf);
    }
    napi_set_named_property(env, err, "frames", arr);
    setNumber(env, err, "lastBytes", static_cast<double>(f.lastBytes));
  }
  return err;
}

Sock* getSock(napi_env env, napi_value v) {
  void* p = nullptr;
  if (napi_get_value_external(env, v, &p) != napi_ok || p == nullptr) {
    napi_throw_type_error(env, "E_INTERNAL", "expected a native socket handle");
    return nullptr;
  }
  return static_cast<Sock*>(p);
}

// The external that JavaScript holds. Closing is explicit (close()); a handle collected unclosed
// closes its socket without lingering.
void finalizeSock(napi_env, void* data, void*) {
  auto* s = static_cast<Sock*>(data);
  std::lock_guard<std::mutex> lock(s->m);
  if (!s->closed) {
    int zero = 0;
    zmq_setsockopt(s->s, ZMQ_LINGER, &zero, sizeof zero);
    zmq_close(s->s);
    g_open.fetch_sub(1);
  }
  // Not deleted while an operation could still hold it: operations keep a reference to the handle.
  delete s;
}

// ---------- async operations ----------

struct Op {
  napi_async_work work = nullptr;
  napi_deferred deferred = nullptr;
  std::vector<napi_ref> keep;  // handles and buffers kept alive while the operation runs
  Failure failure;
  bool failed = false;
  virtual ~Op() = default;
  // On the pool thread. False when it failed (failure says why).
  virtual bool run() = 0;
  virtual napi_value value(napi_env env) {
    napi_value u;
    napi_get_undefined(env, &u);
    return u;
  }
  virtual void done(napi_env) {}
  bool fail(const std::string& code, const std::string& message) {
    failed = true;
    failure.code = code;
    failure.message = message;
    return false;
  }
  // A libzmq call failed: errno says why (a terminated context or closed socket is E_CLOSED).
  bool failZmq(const char* what) {
    return fail(errno == ETERM || errno == ENOTSOCK ? "E_CLOSED" : "E_ZMQ",
                std::string(what) + ": " + zmq_strerror(errno));
  }
};

void execute(napi_env, void* data) { static_cast<Op*>(data)->run(); }

void complete(napi_env env, napi_status, void* data) {
  auto* op = static_cast<Op*>(data);
  op->done(env);
  if (op->failed) {
    napi_reject_deferred(env, op->deferred, failureToError(env, op->failure));
  } else {
    napi_resolve_deferred(env, op->deferred, op->value(env));
  }
  for (napi_ref r : op->keep) napi_delete_reference(env, r);
  napi_delete_async_work(env, op->work);
  delete op;
  sweepPins(env);
}

napi_value start(napi_env env, Op* op, const char* name) {
  napi_value promise, resource;
  CHECK(napi_create_promise(env, &op->deferred, &promise));
  CHECK(napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &resource));
  CHECK(napi_create_async_work(env, nullptr, resource, execute, complete, op, &op->work));
  CHECK(napi_queue_async_work(env, op->work));
  return promise;
}

void keepAlive(napi_env env, Op* op, napi_value v) {
  napi_ref r;
  napi_create_reference(env, v, 1, &r);
  op->keep.push_back(r);
}

// Waits until any item is ready, at most until deadline (−1: no limit), in slices so that a close()
// of any of `socks` interrupts. 1 ready, 0 deadline passed, −1 closing, −2 zmq error (errno set).
int pollSlices(zmq_pollitem_t* items, int count, int64_t deadline, Sock* a, Sock* b = nullptr) {
  for (;;) {
    if (a->closing.load() || (b != nullptr && b->closing.load())) return -1;
    int64_t left = deadline < 0 ? kSliceMs : deadline - nowMs();
    if (left <= 0) return 0;
    int rc = zmq_poll(items, count, static_cast<long>(std::min<int64_t>(left, kSliceMs)));
    if (rc > 0) return 1;
    if (rc < 0 && errno != EINTR) return -2;
  }
}

// Receives every part of the message that is ready on `s` (ZMQ_DONTWAIT) into `parts`; false on a
// libzmq error. The caller closes the parts, received or not.
bool recvParts(void* s, std::vector<zmq_msg_t>& parts) {
  for (int more = 1; more;) {
    parts.emplace_back();
    zmq_msg_init(&parts.back());
    if (zmq_msg_recv(&parts.back(), s, ZMQ_DONTWAIT) < 0) return false;
    more = zmq_msg_more(&parts.back());
  }
  return true;
}

// ---------- recv / send / close ----------

struct RecvOp : Op {
  Sock* sock;
  int64_t timeoutMs;
  std::vector<zmq_msg_t> parts;
  bool run() override {
    std::lock_guard<std::mutex> lock(sock->m);
    if (sock->closed) return fail("E_CLOSED", "closed");
    zmq_pollitem_t item = {sock->s, 0, ZMQ_POLLIN, 0};
    int rc = pollSlices(&item, 1, nowMs() + timeoutMs, sock);
    if (rc == 0) return fail("E_TIMEOUT", "timeout");
    if (rc == -1) return fail("E_CLOSED", "closed");
    if (rc == -2) return failZmq("zmq_poll");
    return recvParts(sock->s, parts) || failZmq("zmq_msg_recv");
  }
  napi_value value(napi_env env) override {
    napi_value arr;
    napi_create_array_with_length(env, parts.size(), &arr);
    for (size_t i = 0; i < parts.size(); i++) {
      napi_value buf;
      void* data;
      napi_create_buffer_copy(env, zmq_msg_size(&parts[i]), zmq_msg_data(&parts[i]), &data, &buf);
      napi_set_element(env, arr, i, buf);
    }
    return arr;
  }
  ~RecvOp() override {
    for (auto& m : parts) zmq_msg_close(&m);
  }
};

// A ring chunk waiting to be handed to libzmq: its header, and its payload moved into a message.
struct Outgoing {
  uint8_t head[kHeaderBytes];
  zmq_msg_t body;
};

struct SendOp : Op {
  Sock* sock;
  std::vector<zmq_msg_t> parts;  // copies, made on the main thread
  size_t sent = 0;
  bool run() override {
    std::lock_guard<std::mutex> lock(sock->m);
    if (sock->closed) return fail("E_CLOSED", "closed");
    while (sent < parts.size()) {
      int flags = ZMQ_DONTWAIT | (sent + 1 < parts.size() ? ZMQ_SNDMORE : 0);
      if (zmq_msg_send(&parts[sent], sock->s, flags) >= 0) {
        sent++;
        continue;
      }
      if (errno != EAGAIN || sent > 0) return failZmq("zmq_msg_send");
      zmq_pollitem_t item = {sock->s, 0, ZMQ_POLLOUT, 0};
      int rc = pollSlices(&item, 1, -1, sock);
      if (rc == -1) return fail("E_CLOSED", "closed");
      if (rc == -2) return failZmq("zmq_poll");
    }
    return true;
  }
  ~SendOp() override {
    for (size_t i = sent; i < parts.size(); i++) zmq_msg_close(&parts[i]);
  }
};

struct CloseOp : Op {
  Sock* sock;
  bool discard = false;  // linger 0: drop what is still queued instead of flushing it
  bool run() override {
    std::lock_guard<std::mutex> lock(sock->m);
    if (sock->closed) return true;
    if (discard) {
      const int zero = 0;
      zmq_setsockopt(sock->s, ZMQ_LINGER, &zero, sizeof zero);
    }
    zmq_close(sock->s);
    sock->closed = true;
    g_open.fetch_sub(1);
    return true;
  }
};

// ---------- the ring all-reduce ----------

struct Span {
  size_t off, len;
};
Span segmentSpan(size_t length, int n, int i) {
  size_t base = length / n, extra = length % n;
  return {i * base + std::min<size_t>(i, extra), base + (static_cast<size_t>(i) < extra ? 1 : 0)};
}
size_t chunkCount(size_t segLen, size_t chunk) { return std::max<size_t>(1, (segLen + chunk - 1) / chunk); }
Span chunkSpan(Span seg, size_t chunk, size_t c) {
  size_t count = chunkCount(seg.len, chunk), base = seg.len / count, extra = seg.len % count;
  return {seg.off + c * base + std::min(c, extra), base + (c < extra ? 1 : 0)};
}
int sendSegment(int rank, int n, int t) { return (((rank - t) % n) + n) % n; }

template <typename T>
void put(uint8_t* p, T v) {
  std::memcpy(p, &v, sizeof v);
}
template <typename T>
T get(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

struct AllReduceOp : Op {
  Sock* in;
  Sock* out;
  float* buf;
  size_t length;
  int rank, n, version;
  uint32_t step;
  int64_t timeoutMs;
  size_t chunk;
  Pin* pin;
  std::deque<Outgoing> queue;
  // When the ring started, its first chunk arrived, its reduce-scatter ended and it ended
  // (monotonicMs; −1: not reached). Resolved as an array, for the run's timeline.
  double times[4] = {-1, -1, -1, -1};

  void header(uint8_t* h, int t, int segment, uint32_t c, uint32_t count) const {
    std::memcpy(h, "TDDP", 4);
    h[4] = static_cast<uint8_t>(version);
    h[5] = 1;  // RingChunk
    put<uint16_t>(h + 6, static_cast<uint16_t>(rank));
    put<uint32_t>(h + 8, step);
    h[12] = t < n - 1 ? 0 : 1;
    put<uint16_t>(h + 13, static_cast<uint16_t>(t < n - 1 ? t : t - (n - 1)));
    put<uint16_t>(h + 15, static_cast<uint16_t>(segment));
    put<uint32_t>(h + 17, c);
    put<uint32_t>(h + 21, count);
  }

  void enqueue(int t, int segment, uint32_t c, zmq_msg_t* body) {
    queue.emplace_back();
    Outgoing& o = queue.back();
    header(o.head, t, segment, c, static_cast<uint32_t>(zmq_msg_size(body) / 4));
    zmq_msg_init(&o.body);
    zmq_msg_move(&o.body, body);
  }

  // 1 when the queue is empty, 0 when libzmq's queue is full, −2 on a zmq error.
  int flush() {
    while (!queue.empty()) {
      Outgoing& o = queue.front();
      if (zmq_send(out->s, o.head, kHeaderBytes, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) {
        return errno == EAGAIN ? 0 : -2;
      }
      // The high-water mark counts whole messages: once the header is taken, so is the body.
      if (zmq_msg_send(&o.body, out->s, ZMQ_DONTWAIT) < 0) return -2;
      queue.pop_front();
    }
    return 1;
  }

  bool timeout(int t, int segment, size_t c, bool sending) {
    failure.t = t;
    failure.segment = segment;
    failure.chunk = static_cast<int64_t>(c);
    failure.sending = sending;
    return fail("E_TIMEOUT", "timeout");
  }

  bool check(const std::vector<zmq_msg_t>& parts, int t, int segment, uint32_t c, size_t count) {
    bool ok = parts.size() == 2 && zmq_msg_size(&parts[0]) == kHeaderBytes &&
              zmq_msg_size(&parts[1]) == count * 4;
    if (ok) {
      uint8_t want[kHeaderBytes];
      header(want, t, segment, c, static_cast<uint32_t>(count));
      put<uint16_t>(want + 6, static_cast<uint16_t>((rank + n - 1) % n));  // from the left neighbour
      ok = std::memcmp(want, zmq_msg_data(const_cast<zmq_msg_t*>(&parts[0])), kHeaderBytes) == 0;
    }
    if (ok) return true;
    failure.t = t;
    failure.segment = segment;
    failure.chunk = c;
    for (size_t i = 0; i < parts.size(); i++) {
      auto* d = static_cast<const uint8_t*>(zmq_msg_data(const_cast<zmq_msg_t*>(&parts[i])));
      size_t sz = zmq_msg_size(&parts[i]);
      if (i + 1 == parts.size() && parts.size() > 1) {
        failure.lastBytes = static_cast<int64_t>(sz);
      } else {
        failure.heads.emplace_back(d, d + std::min<size_t>(sz, 4096));
      }
    }
    return fail("E_PROTOCOL", "unexpected frame");
  }

  bool ring() {
    const int steps = 2 * (n - 1);
    {
      int segment = sendSegment(rank, n, 0);
      Span first = segmentSpan(length, n, segment);
      for (size_t c = 0; c < chunkCount(first.len, chunk); c++) {
        Span sp = chunkSpan(first, chunk, c);
        zmq_msg_t m;
        pin->count.fetch_add(1);
        // In place: safe by the ring's causality, as argued in ring-allreduce.ts.
        zmq_msg_init_data(&m, buf + sp.off, sp.len * 4, unpin, pin);
        enqueue(0, segment, static_cast<uint32_t>(c), &m);
      }
    }
    for (int t = 0; t < steps; t++) {
      const int segment = sendSegment(rank, n, t + 1);
      const Span seg = segmentSpan(length, n, segment);
      for (size_t c = 0; c < chunkCount(seg.len, chunk); c++) {
        const Span sp = chunkSpan(seg, chunk, c);
        const int64_t deadline = nowMs() + timeoutMs;
        for (;;) {
          int f = flush();
          if (f == -2) return failZmq("zmq_send");
          zmq_pollitem_t items[2] = {{in->s, 0, ZMQ_POLLIN, 0}, {out->s, 0, ZMQ_POLLOUT, 0}};
          int rc = pollSlices(items, f == 1 ? 1 : 2, deadline, in, out);
          if (rc == 0) return timeout(t, segment, c, false);
          if (rc == -1) return fail("E_CLOSED", "closed");
          if (rc == -2) return failZmq("zmq_poll");
          if (items[0].revents & ZMQ_POLLIN) break;
        }
        if (times[1] < 0) times[1] = monotonicMs();
        std::vector<zmq_msg_t> parts;
        parts.reserve(2);
        const bool ok = recvParts(in->s, parts)
                            ? check(parts, t, segment, static_cast<uint32_t>(c), sp.len)
                            : failZmq("zmq_msg_recv");
        if (ok) {
          zmq_msg_t& body = parts[1];
          float* dst = buf + sp.off;
          const size_t k = sp.len;
          auto* raw = static_cast<uint8_t*>(zmq_msg_data(&body));
          if (reinterpret_cast<uintptr_t>(raw) % alignof(float) != 0) {
            // Never seen (libzmq allocates message bodies with malloc); stay correct anyway.
            zmq_msg_t aligned;
            zmq_msg_init_size(&aligned, k * 4);
            std::memcpy(zmq_msg_data(&aligned), raw, k * 4);
            zmq_msg_close(&body);
            zmq_msg_init(&body);
            zmq_msg_move(&body, &aligned);
          }
          float* src = static_cast<float*>(zmq_msg_data(&body));
          // Reduce-scatter: incoming += ours; its last step also writes the final sum to buf;
          // all-gather copies it. The same IEEE additions, in the same order, as addInto.
          if (t < n - 2) {
            for (size_t i = 0; i < k; i++) src[i] += dst[i];
          } else if (t == n - 2) {
            for (size_t i = 0; i < k; i++) dst[i] = src[i] += dst[i];
          } else {
            if (k > 0) std::memcpy(dst, src, k * 4);
          }
          if (t + 1 < steps) enqueue(t + 1, segment, static_cast<uint32_t>(c), &body);
        }
        for (auto& m : parts) zmq_msg_close(&m);
        if (!ok) return false;
      }
      if (t == n - 2) times[2] = monotonicMs();
    }
    const int64_t deadline = nowMs() + timeoutMs;
    for (;;) {
      int f = flush();
      if (f == 1) return true;
      if (f == -2) return failZmq("zmq_send");
      zmq_pollitem_t item = {out->s, 0, ZMQ_POLLOUT, 0};
      int rc = pollSlices(&item, 1, deadline, in, out);
      if (rc == 0) return timeout(steps - 1, sendSegment(rank, n, steps - 1), 0, true);
      if (rc == -1) return fail("E_CLOSED", "closed");
      if (rc == -2) return failZmq("zmq_poll");
    }
  }

  bool run() override {
    std::scoped_lock lock(in->m, out->m);
    if (in->closed || out->closed) return fail("E_CLOSED", "closed");
    times[0] = monotonicMs();
    const bool ok = ring();
    times[3] = monotonicMs();
    for (auto& o : queue) zmq_msg_close(&o.body);  // unsent after a failure (unpins in-place ones)
    queue.clear();
    return ok;
  }

  void done(napi_env) override { g_pins.push_back(pin); }

  napi_value value(napi_env env) override {
    napi_value a;
    napi_create_array_with_length(env, 4, &a);
    for (uint32_t i = 0; i < 4; i++) {
      napi_value v;
      napi_create_double(env, times[i], &v);
      napi_set_element(env, a, i, v);
    }
    return a;
  }
};

// ---------- exported functions ----------

bool getArgs(napi_env env, napi_callback_info info, size_t want, napi_value* argv) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc < want) {
    napi_throw_type_error(env, "E_INTERNAL", "too few arguments");
    return false;
  }
  return true;
}

int64_t getInt(napi_env env, napi_value v) {
  int64_t x = 0;
  napi_get_value_int64(env, v, &x);
  return x;
}

std::string getString(napi_env env, napi_value v) {
  size_t len = 0;
  napi_get_value_string_utf8(env, v, nullptr, 0, &len);
  std::string s(len, '\0');
  napi_get_value_string_utf8(env, v, s.data(), len + 1, &len);
  return s;
}

void throwZmq(napi_env env, const char* what, const std::string& address) {
  int e = errno;
  std::string msg = std::string(what) + " " + address + ": " + zmq_strerror(e);
  napi_value err;
  napi_create_error(env, makeString(env, "E_ZMQ"), makeString(env, msg), &err);
  napi_set_named_property(env, err, "code", makeString(env, "E_ZMQ"));
  napi_value errnoValue;
  napi_create_int32(env, e, &errnoValue);
  napi_set_named_property(env, err, "errno", errnoValue);
  napi_throw(env, err);
}

void throwConfig(napi_env env, const std::string& msg) {
  napi_value err;
  napi_create_error(env, makeString(env, "E_CONFIG"), makeString(env, msg), &err);
  napi_set_named_property(env, err, "code", makeString(env, "E_CONFIG"));
  napi_throw(env, err);
}

// CURVE with the run key (docs/multi-node.md, "Security"): a PULL binds as the CURVE server (ZAP
// domain "tfjs-ddp", checked by the guard), a PUSH connects as a client holding the same key pair.
// False with a JavaScript exception pending when the key is malformed or the guard cannot start.
bool applyCurve(napi_env env, void* s, bool pull, const std::string& pub, const std::string& sec) {
  uint8_t raw[32];
  if (pub.size() != 40 || sec.size() != 40 || zmq_z85_decode(raw, pub.c_str()) == nullptr) {
    throwConfig(env, "CURVE keys must be 40 characters of Z85");
    return false;
  }
  if (g_guard == nullptr) {
    auto* g = new guard::Guard();
    if (!g->start(g_ctx, raw)) {
      delete g;
      throwZmq(env, "bind", "inproc://zeromq.zap.01 (the native ZAP handler)");
      return false;
    }
    g_guard = g;
  } else if (!g_guard->allows(raw)) {
    throwConfig(env, "the native data plane serves one run key per process, and was given another");
    return false;
  }
  int one = 1;
  if (pull) {
    zmq_setsockopt(s, ZMQ_CURVE_SERVER, &one, sizeof one);
    zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, sec.c_str(), 40);
    zmq_setsockopt(s, ZMQ_ZAP_DOMAIN, "tfjs-ddp", 8);
  } else {
    zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, pub.c_str(), 40);
    zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, pub.c_str(), 40);
    zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, sec.c_str(), 40);
  }
  return true;
}

// open(type 'pull'|'push', address, hwm, lingerMs, sockbuf, publicKey, secretKey, maxMessageBytes)
// → { handle, endpoint }: a PULL socket bound to address (tcp port 0 → an ephemeral one) or a PUSH
// socket connected to it; with CURVE when the keys are not empty. ZMQ_MAXMSGSIZE: libzmq drops a
// peer that sends a larger frame (−1: no limit).
napi_value Open(napi_env env, napi_callback_info info) {
  napi_value argv[8];
  if (!getArgs(env, info, 8, argv)) return nullptr;
  const bool pull = getString(env, argv[0]) == "pull";
  std::string address = getString(env, argv[1]);
  const int hwm = static_cast<int>(getInt(env, argv[2]));
  const int linger = static_cast<int>(getInt(env, argv[3]));
  const int sockbuf = static_cast<int>(getInt(env, argv[4]));
  const std::string pub = getString(env, argv[5]);
  const std::string sec = getString(env, argv[6]);
  const int64_t maxmsgsize = getInt(env, argv[7]);
  if (g_ctx == nullptr) g_ctx = zmq_ctx_new();
  void* s = zmq_socket(g_ctx, pull ? ZMQ_PULL : ZMQ_PUSH);
  if (s == nullptr) return throwZmq(env, "zmq_socket", address), nullptr;
  zmq_setsockopt(s, pull ? ZMQ_RCVHWM : ZMQ_SNDHWM, &hwm, sizeof hwm);
  zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
  zmq_setsockopt(s, pull ? ZMQ_RCVBUF : ZMQ_SNDBUF, &sockbuf, sizeof sockbuf);
  zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &maxmsgsize, sizeof maxmsgsize);
  links::tune(s, !pull);
  std::shared_ptr<guard::Counters> counters;
  if (!pub.empty()) {
    if (!applyCurve(env, s, pull, pub, sec)) {
      zmq_close(s);
      return nullptr;
    }
    if (pull) counters = g_guard->watch(s);
  }
  std::string spelled = address;
  if (pull && spelled.rfind("tcp://", 0) == 0 && spelled.size() > 2 &&
      spelled.compare(spelled.size() - 2, 2, ":0") == 0) {
    spelled.replace(spelled.size() - 1, 1, "*");
  }
  if ((pull ? zmq_bind(s, spelled.c_str()) : zmq_connect(s, spelled.c_str())) != 0) {
    int e = errno;
    zmq_close(s);
    errno = e;
    return throwZmq(env, pull ? "bind" : "connect", address), nullptr;
  }
  auto* sock = new Sock();
  sock->s = s;
  sock->counters = counters;
  g_open.fetch_add(1);
  if (pull) {
    char ep[1024];
    size_t len = sizeof ep;
    zmq_getsockopt(s, ZMQ_LAST_ENDPOINT, ep, &len);
    sock->endpoint = ep;
  } else {
    sock->endpoint = address;
  }
  napi_value result, handle;
  CHECK(napi_create_object(env, &result));
  CHECK(napi_create_external(env, sock, finalizeSock, nullptr, &handle));
  napi_set_named_property(env, result, "handle", handle);
  napi_set_named_property(env, result, "endpoint", makeString(env, sock->endpoint));
  return result;
}

// The common head of recv / send / close: the socket handle in argv[0], kept alive by the operation.
template <typename T>
T* sockOp(napi_env env, napi_callback_info info, size_t argc, napi_value* argv) {
  if (!getArgs(env, info, argc, argv)) return nullptr;
  Sock* sock = getSock(env, argv[0]);
  if (sock == nullptr) return nullptr;
  auto* op = new T();
  op->sock = sock;
  keepAlive(env, op, argv[0]);
  return op;
}

// recv(handle, timeoutMs) → Promise<Buffer[]>
napi_value Recv(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  auto* op = sockOp<RecvOp>(env, info, 2, argv);
  if (op == nullptr) return nullptr;
  op->timeoutMs = getInt(env, argv[1]);
  return start(env, op, "tfjs-ddp:recv");
}

// send(handle, frames: Uint8Array[]) → Promise<void>; the frames are copied before it returns.
napi_value Send(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!getArgs(env, info, 2, argv)) return nullptr;
  uint32_t count = 0;
  CHECK(napi_get_array_length(env, argv[1], &count));
  std::vector<std::pair<const void*, size_t>> frames;
  for (uint32_t i = 0; i < count; i++) {
    napi_value frame;
    napi_get_element(env, argv[1], i, &frame);
    napi_typedarray_type type;
    size_t length = 0, offset = 0;
    void* data = nullptr;
    napi_value ab;
    if (napi_get_typedarray_info(env, frame, &type, &length, &data, &ab, &offset) != napi_ok ||
        type != napi_uint8_array) {
      napi_throw_type_error(env, "E_INTERNAL", "send: every frame must be a Uint8Array");
      return nullptr;
    }
    frames.emplace_back(data, length);
  }
  auto* op = sockOp<SendOp>(env, info, 2, argv);
  if (op == nullptr) return nullptr;
  for (auto [data, length] : frames) {
    op->parts.emplace_back();
    zmq_msg_init_size(&op->parts.back(), length);
    if (length > 0) std::memcpy(zmq_msg_data(&op->parts.back()), data, length);
  }
  return start(env, op, "tfjs-ddp:send");
}

// close(handle, discard) → Promise<void>; interrupts a waiting operation within kSliceMs. With
// discard, messages not yet sent are dropped (linger 0) instead of flushed for the socket's linger.
napi_value Close(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  auto* op = sockOp<CloseOp>(env, info, 2, argv);
  if (op == nullptr) return nullptr;
  napi_get_value_bool(env, argv[1], &op->discard);
  op->sock->closing.store(true);
  return start(env, op, "tfjs-ddp:close");
}

// allReduce(pullHandle, pushHandle, buf: Float32Array, rank, worldSize, step, timeoutMs,
//           chunkElements, protocolVersion) → Promise<void>: in-place SUM, as ringAllReduce.
napi_value AllReduce(napi_env env, napi_callback_info info) {
  napi_value argv[9];
  if (!getArgs(env, info, 9, argv)) return nullptr;
  Sock* in = getSock(env, argv[0]);
  Sock* out = in == nullptr ? nullptr : getSock(env, argv[1]);
  if (out == nullptr) return nullptr;
  napi_typedarray_type type;
  size_t length = 0, offset = 0;
  void* data = nullptr;
  napi_value ab;
  if (napi_get_typedarray_info(env, argv[2], &type, &length, &data, &ab, &offset) != napi_ok ||
      type != napi_float32_array) {
    napi_throw_type_error(env, "E_INTERNAL", "allReduce: buf must be a Float32Array");
    return nullptr;
  }
  auto* op = new AllReduceOp();
  op->in = in;
  op->out = out;
  op->buf = static_cast<float*>(data);
  op->length = length;
  op->rank = static_cast<int>(getInt(env, argv[3]));
  op->n = static_cast<int>(getInt(env, argv[4]));
  op->step = static_cast<uint32_t>(getInt(env, argv[5]));
  op->timeoutMs = getInt(env, argv[6]);
  op->chunk = static_cast<size_t>(getInt(env, argv[7]));
  op->version = static_cast<int>(getInt(env, argv[8]));
  op->pin = new Pin();
  napi_create_reference(env, argv[2], 1, &op->pin->ref);
  keepAlive(env, op, argv[0]);
  keepAlive(env, op, argv[1]);
  return start(env, op, "tfjs-ddp:all-reduce");
}

// rejected(handle) → number: connections this bound CURVE socket accepted that never passed the
// handshake (wrong key, no key, not ZeroMQ at all); 0 for other sockets.
napi_value Rejected(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!getArgs(env, info, 1, argv)) return nullptr;
  Sock* sock = getSock(env, argv[0]);
  if (sock == nullptr) return nullptr;
  napi_value v;
  napi_create_double(env, sock->counters ? static_cast<double>(sock->counters->rejected()) : 0, &v);
  return v;
}

// Large received messages are malloc'd by libzmq's I/O thread and freed once used. glibc's defaults
// serve blocks over 128 KiB (raised dynamically up to 32 MiB) with fresh mmap()s and return freed heap
// memory above 128 KiB to the kernel, so every chunk would arrive in new, zero-filled pages; keeping
// freed memory (up to 256 MiB) lets the next chunk reuse warm pages. Measured in
// docs/benchmarks.md. TFJS_DDP_MALLOC_TUNE=0 leaves glibc as it is.
void tuneMalloc() {
  const char* opt = std::getenv("TFJS_DDP_MALLOC_TUNE");
  if (opt != nullptr && std::strcmp(opt, "0") == 0) return;
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
}

// At exit: terminating the context flushes what closed sockets still queue (their linger) — but
// would wait forever on a socket left open, so it is skipped then.
void cleanup(void*) {
  if (g_guard != nullptr) g_guard->stop();  // closes the guard's sockets, or the term would wait
  if (g_ctx != nullptr && g_open.load() == 0) zmq_ctx_term(g_ctx);
}

napi_value Init(napi_env env, napi_value exports) {
  tuneMalloc();
  napi_add_env_cleanup_hook(env, cleanup, nullptr);
  const napi_property_descriptor props[] = {
      {"open", nullptr, Open, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"recv", nullptr, Recv, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"send", nullptr, Send, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"close", nullptr, Close, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"allReduce", nullptr, AllReduce, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"rejected", nullptr, Rejected, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  int major, minor, patch;
  zmq_version(&major, &minor, &patch);
  napi_value v;
  napi_create_string_utf8(env, (std::to_string(major) + "." + std::to_string(minor) + "." +
                                std::to_string(patch)).c_str(), NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, exports, "libzmqVersion", v);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
