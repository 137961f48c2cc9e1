// TCP options of the ring sockets (included by zmq_ring.cc): a link whose peer stopped answering (a
// cut cable, a blackholed route) is closed by the kernel within seconds instead of never, which the
// worker's link watch then sees in the kernel's connection table (src/transport/tcp-links.ts). Not
// ZeroMQ's own heartbeats: with a full receive queue they trip libzmq assertions (libzmq issues 3596,
// 3937, 4767; seen here as an errno assert and heap corruption in the transport specs); nor a socket
// monitor: with zeromq.js's libzmq in the same process, monitoring these sockets corrupted the heap.
#pragma once

#include <zmq.h>

namespace links {

// Keepalive probes after 2 s idle, 1 s apart, 3 unanswered close the link; data unacknowledged for
// 5 s closes it too (TCP_USER_TIMEOUT, which libzmq sets from ZMQ_TCP_MAXRT on Linux).
constexpr int kKeepaliveIdleS = 2;
constexpr int kKeepaliveIntervalS = 1;
constexpr int kKeepaliveCount = 3;
constexpr int kMaxRetransmitMs = 5000;
// A connect that gets no answer (SYNs into a blackhole) is given up after 2 s and tried again, so
// that a link that comes back is used within seconds (the kernel's own SYN retries back off to minutes).
constexpr int kConnectTimeoutMs = 2000;

inline void tune(void* s, bool push) {
  const int on = 1;
  zmq_setsockopt(s, ZMQ_TCP_KEEPALIVE, &on, sizeof on);
  zmq_setsockopt(s, ZMQ_TCP_KEEPALIVE_IDLE, &kKeepaliveIdleS, sizeof kKeepaliveIdleS);
  zmq_setsockopt(s, ZMQ_TCP_KEEPALIVE_INTVL, &kKeepaliveIntervalS, sizeof kKeepaliveIntervalS);
  zmq_setsockopt(s, ZMQ_TCP_KEEPALIVE_CNT, &kKeepaliveCount, sizeof kKeepaliveCount);
  zmq_setsockopt(s, ZMQ_TCP_MAXRT, &kMaxRetransmitMs, sizeof kMaxRetransmitMs);
  if (push) zmq_setsockopt(s, ZMQ_CONNECT_TIMEOUT, &kConnectTimeoutMs, sizeof kConnectTimeoutMs);
}

}  // namespace links
