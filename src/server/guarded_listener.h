// A listener the server accepts itself, in front of gRPC: it hands gRPC one
// end of a socketpair per connection and pumps the bytes between the client
// and that pair through an HTTP/2 frame guard (http2_frame_guard.h). The API
// Unix socket, the plaintext TCP API listener and the health-probe port all
// go through one.
//
// Why: gRPC 1.51 alone lets one connection grow the process by GiBs (HTTP/2
// rapid reset, streams beyond MAX_CONCURRENT_STREAMS, streams that never
// send their request). The guard cuts such a connection off before gRPC has
// to keep state for it (S33), and the pumping threads never wait on a peer,
// so other clients and probes keep being answered during an attack (S32).
// A TLS listener ends TLS here (`tls`), so its frames are guarded too.
//
// Contract:
// - `threads` event loops (epoll) share the connections; none ever blocks
//   on a peer. `serve(fd)` is called on a loop thread and must return
//   quickly (grpc::AddInsecureChannelFromFd does); it owns `fd` from then on.
// - Memory per connection is bounded: `buffer_bytes` per direction. When a
//   buffer is full its source is not read (backpressure); a client that does
//   not read what it is sent is not read from either, so it cannot make gRPC
//   queue answers (SETTINGS/PING acks) without bound.
// - Connection caps, per `cap_policy`:
//   kEvictOldest (one loop thread only): a new connection beyond
//     `max_connections_per_peer` (same IP address) or `max_connections`
//     closes the oldest one of that peer (resp. of anyone), as the admin
//     HTTP server does: a flood evicts itself and a fresh kubelet probe
//     still gets in. For the probe port.
//   kRefuseNew: a new connection beyond `max_connections` is closed at
//     once; the connections already open (a consumer's watches) are never
//     touched. For the API, whose peers share one address.
// - Half-sent requests are bounded in all (`max_pending_bytes_total`), on
//   top of each connection's own cap in the guard.
// - Back-off (`back_off_peers`): a peer (the process, by SO_PEERCRED, on a
//   Unix socket; the IP address on TCP) whose connection broke the guard's
//   rules has its new connections closed at accept for a while: 100 ms
//   after its first violation, doubling with each further one up to 30 s,
//   forgotten after a minute without one. Without it an attacker that
//   reconnects at once makes gRPC set up thousands of connections and
//   streams a second; with it, it costs an accept and a close. Its open
//   connections, and every other peer's, are not touched.
// - On a guard violation the client gets a GOAWAY (ENHANCE_YOUR_CALM, last
//   stream id = the highest it opened) between two frames of gRPC's output,
//   gRPC's side is closed at once (it frees the connection's streams), and
//   the client socket is closed once the GOAWAY is sent or after 500 ms.
// - Each rejected connection increments `<metric_prefix>_connections_rejected_total{reason}`
//   (reasons: Http2ViolationName()s, connection_limit, backoff, tls_handshake) and logs one warn
//   line "<name> connection closed" with the peer, at most 5 such lines a
//   second per listener (the next line says how many were suppressed).
//   `<metric_prefix>_connections` is the gauge of open connections.
// - StopAccepting() closes the listening socket; connections go on.
//   Stop() closes every connection and joins the threads at once (S34).
//   Start/Stop from any thread; Stop is idempotent and run by the destructor.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "base/listen_address.h"
#include "server/http2_frame_guard.h"

namespace deviceapi::metrics {
class Registry;
}

namespace deviceapi::server {

class TlsServerContext;

enum class ConnectionCapPolicy { kEvictOldest, kRefuseNew };

struct GuardedListenerOptions {
  // What to accept on: a listening socket the caller bound (non-blocking; the
  // listener owns it from Start), or else a TCP address to bind (host "" =
  // every interface: "::" dual stack, else "0.0.0.0").
  int listen_fd = -1;
  base::TcpAddress address;
  std::string name = "health-probe";                   // log lines
  std::string metric_prefix = "device_apiserver_probe";  // metric names
  std::string metric_subject = "the health-probe port";  // metric help
  ConnectionCapPolicy cap_policy = ConnectionCapPolicy::kEvictOldest;
  std::size_t max_connections = 32;
  std::size_t max_connections_per_peer = 8;  // kEvictOldest only
  bool back_off_peers = false;
  // Bytes of half-sent requests (Http2FrameGuard::pending_bytes) across all
  // connections: beyond it, the connection holding the most is closed
  // (pending_bytes), so many connections each under the guard's own cap
  // cannot add up. 0: no cap.
  std::uint64_t max_pending_bytes_total = 0;
  std::size_t threads = 1;                   // kRefuseNew only may use more
  std::size_t buffer_bytes = 64 << 10;       // per direction per connection
  Http2GuardLimits guard;
  // TLS on every connection (tls_termination.h), ended here so that the
  // guard sees the frames; gRPC gets the plaintext. A client is handed to
  // `serve` once its handshake is done, and must finish it within 10 s
  // (else closed, counted as tls_handshake, as is a failed handshake).
  std::shared_ptr<const TlsServerContext> tls;
  // Serves HTTP/2 on `fd` and owns it (grpc::AddInsecureChannelFromFd).
  std::function<void(int fd)> serve;
  // Where the metrics are registered; may be null.
  metrics::Registry* registry = nullptr;
};

class GuardedListener {
 public:
  explicit GuardedListener(GuardedListenerOptions options);
  ~GuardedListener();  // Stop()
  GuardedListener(const GuardedListener&) = delete;
  GuardedListener& operator=(const GuardedListener&) = delete;

  // Binds (unless given a socket) and starts the threads. Returns "" or why
  // not ("cannot listen on 127.0.0.1:50051: Address already in use"). Call
  // once.
  std::string Start();
  // Closes the listening socket; open connections go on being served.
  void StopAccepting();
  // Waits until every connection has ended (gRPC closed its side and what it
  // said reached the client) or `deadline`; true when none is left.
  bool WaitIdle(std::chrono::steady_clock::time_point deadline);
  void Stop();
  int port() const;  // the bound TCP port; 0 before Start or for a given socket
  std::size_t connections() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace deviceapi::server
