// The native data plane's CURVE guard (included by zmq_ring.cc): the ZAP handler of the addon's own
// libzmq context, and the counting of connections that never passed the handshake. The addon's
// context is not zeromq.js's, so the JavaScript ZAP handler (src/transport/zmq/zap-handler.ts)
// cannot vouch for its sockets: without a handler bound at inproc://zeromq.zap.01 in *this* context,
// libzmq would let any CURVE client key in. One thread polls the handler and one monitor socket per
// bound socket (ZMQ_EVENT_ACCEPTED, ZMQ_EVENT_HANDSHAKE_SUCCEEDED): rejected = accepted − handshaken.
#pragma once
#include <zmq.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace guard {

// What a bound socket's monitor has seen; shared by the socket's handle and the guard thread.
struct Counters {
  std::atomic<int64_t> accepted{0};
  std::atomic<int64_t> handshaken{0};
  int64_t rejected() const { return std::max<int64_t>(0, accepted.load() - handshaken.load()); }
};

struct Monitor {
  void* pair;
  std::shared_ptr<Counters> counters;
};

class Guard {
 public:
  // Binds the ZAP handler in `ctx` (before any CURVE server socket exists) and starts the thread.
  // `allowed` is the run's public key, 32 bytes. False (errno set) when the bind fails.
  bool start(void* ctx, const uint8_t* allowed) {
    ctx_ = ctx;
    std::memcpy(allowed_, allowed, 32);
    zap_ = zmq_socket(ctx, ZMQ_REP);
    if (zap_ == nullptr) return false;
    int zero = 0;
    zmq_setsockopt(zap_, ZMQ_LINGER, &zero, sizeof zero);
    if (zmq_bind(zap_, "inproc://zeromq.zap.01") != 0) {
      int e = errno;
      zmq_close(zap_);
      zap_ = nullptr;
      errno = e;
      return false;
    }
    thread_ = std::thread([this] { loop(); });
    return true;
  }

  bool allows(const uint8_t* key) const { return std::memcmp(allowed_, key, 32) == 0; }

  // Monitors bound socket `s` (call before zmq_bind, so that its first ACCEPTED is seen).
  std::shared_ptr<Counters> watch(void* s) {
    auto counters = std::make_shared<Counters>();
    std::string endpoint = "inproc://tfjs-ddp-monitor-" + std::to_string(next_.fetch_add(1));
    if (zmq_socket_monitor(s, endpoint.c_str(),
                           ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_MONITOR_STOPPED) != 0)
      return counters;
    void* pair = zmq_socket(ctx_, ZMQ_PAIR);
    if (pair == nullptr) return counters;
    int zero = 0;
    zmq_setsockopt(pair, ZMQ_LINGER, &zero, sizeof zero);
    if (zmq_connect(pair, endpoint.c_str()) != 0) {
      zmq_close(pair);
      return counters;
    }
    std::lock_guard<std::mutex> lock(m_);
    incoming_.push_back({pair, counters});  // handed to the guard thread (the mutex is the barrier)
    return counters;
  }

  int64_t denied() const { return denied_.load(); }

  // Stops the thread, which closes its sockets (before zmq_ctx_term, which waits for them).
  void stop() {
    if (!thread_.joinable()) return;
    stop_.store(true);
    thread_.join();
  }

 private:
  void loop() {
    std::vector<Monitor> monitors;
    while (!stop_.load()) {
      {
        std::lock_guard<std::mutex> lock(m_);
        for (auto& x : incoming_) monitors.push_back(x);
        incoming_.clear();
      }
      std::vector<zmq_pollitem_t> items;
      items.push_back({zap_, 0, ZMQ_POLLIN, 0});
      for (auto& x : monitors) items.push_back({x.pair, 0, ZMQ_POLLIN, 0});
      if (zmq_poll(items.data(), static_cast<int>(items.size()), 50) <= 0) continue;
      if (items[0].revents & ZMQ_POLLIN) answerZap();
      for (size_t i = monitors.size(); i-- > 0;) {
        if ((items[i + 1].revents & ZMQ_POLLIN) && !readEvent(monitors[i])) {
          zmq_close(monitors[i].pair);
          monitors.erase(monitors.begin() + static_cast<long>(i));
        }
      }
    }
    for (auto& x : monitors) zmq_close(x.pair);
    std::lock_guard<std::mutex> lock(m_);
    for (auto& x : incoming_) zmq_close(x.pair);
    incoming_.clear();
    zmq_close(zap_);
  }

  // A monitor event: [u16 event, u32 value][endpoint]. False once the monitor has stopped.
  bool readEvent(Monitor& x) {
    zmq_msg_t head, rest;
    zmq_msg_init(&head);
    if (zmq_msg_recv(&head, x.pair, ZMQ_DONTWAIT) < 0) {
      zmq_msg_close(&head);
      return true;
    }
    uint16_t event = 0;
    if (zmq_msg_size(&head) >= 2) std::memcpy(&event, zmq_msg_data(&head), 2);
    bool more = zmq_msg_more(&head);
    zmq_msg_close(&head);
    while (more) {
      zmq_msg_init(&rest);
      if (zmq_msg_recv(&rest, x.pair, 0) < 0) more = false;
      else more = zmq_msg_more(&rest);
      zmq_msg_close(&rest);
    }
    if (event == ZMQ_EVENT_ACCEPTED) x.counters->accepted.fetch_add(1);
    if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) x.counters->handshaken.fetch_add(1);
    return event != ZMQ_EVENT_MONITOR_STOPPED;
  }

  // ZAP 1.0 (RFC 27): [version, request id, domain, address, identity, mechanism, credentials...]
  // → [version, request id, status code, status text, user id, metadata]. Only CURVE with the run's
  // public key is admitted.
  void answerZap() {
    std::vector<std::string> parts;
    for (bool more = true; more;) {
      zmq_msg_t m;
      zmq_msg_init(&m);
      if (zmq_msg_recv(&m, zap_, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&m);
        if (parts.empty()) return;
        break;
      }
      parts.emplace_back(static_cast<const char*>(zmq_msg_data(&m)), zmq_msg_size(&m));
      more = zmq_msg_more(&m);
      zmq_msg_close(&m);
    }
    bool ok = parts.size() >= 7 && parts[5] == "CURVE" && parts[6].size() == 32 &&
              allows(reinterpret_cast<const uint8_t*>(parts[6].data()));
    if (!ok) denied_.fetch_add(1);
    const std::string reply[6] = {"1.0", parts.size() > 1 ? parts[1] : "", ok ? "200" : "400",
                                  ok ? "OK" : "not the run key", "", ""};
    for (int i = 0; i < 6; i++) zmq_send(zap_, reply[i].data(), reply[i].size(), i < 5 ? ZMQ_SNDMORE : 0);
  }

  void* ctx_ = nullptr;
  void* zap_ = nullptr;
  uint8_t allowed_[32] = {};
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<int> next_{0};
  std::atomic<int64_t> denied_{0};
  std::mutex m_;
  std::vector<Monitor> incoming_;
};

}  // namespace guard
