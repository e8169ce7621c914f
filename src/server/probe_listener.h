// The health-probe listener's TCP front: accepts connections itself, hands
// gRPC one end of a socketpair per connection and pumps the bytes between
// the client and that pair through an HTTP/2 frame guard
// (http2_frame_guard.h).
//
// Why: the probe port may be reachable from the pod network, and gRPC 1.51
// alone lets one connection grow the process by GiBs (HTTP/2 rapid reset,
// streams beyond MAX_CONCURRENT_STREAMS). The guard cuts such a connection
// off before gRPC has to keep state for it (S33), and this one thread never
// waits on a peer, so probes keep being answered during an attack (S32).
//
// Contract:
// - One thread multiplexes every connection with poll(); it never blocks on
//   a peer. `serve(fd)` is called on that thread and must return quickly
//   (grpc::AddInsecureChannelFromFd does); it owns `fd` from then on.
// - Memory per connection is bounded: `buffer_bytes` per direction. When a
//   buffer is full its source is not read (backpressure); a client that does
//   not read what it is sent is not read from either, so it cannot make gRPC
//   queue answers (SETTINGS/PING acks) without bound.
// - Connection caps: when a new connection would exceed
//   `max_connections_per_peer` (same IP address) or `max_connections`, the
//   oldest connection of that peer (resp. of anyone) is closed to make room,
//   as the admin HTTP server does: a flood evicts itself and a fresh kubelet
//   probe still gets in.
// - On a guard violation the client gets a GOAWAY (ENHANCE_YOUR_CALM, last
//   stream id = the highest it opened) between two frames of gRPC's output,
//   gRPC's side is closed at once (it frees the connection's streams), and
//   the client socket is closed once the GOAWAY is sent or after 500 ms.
// - Each rejected connection increments
//   device_apiserver_probe_connections_rejected_total{reason} (reasons:
//   bad_preface, frame_too_large, stream_rate, rapid_reset,
//   connection_limit) and logs one warn line with the peer, at most 5 such
//   lines a second (the next line says how many were suppressed).
// - Stop() closes every connection and joins the thread at once (S34).
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

struct ProbeListenerOptions {
  base::TcpAddress address;  // host "" = every interface ("::" dual stack, else "0.0.0.0")
  std::size_t max_connections = 32;
  std::size_t max_connections_per_peer = 8;
  std::size_t buffer_bytes = 64 << 10;  // per direction per connection
  Http2GuardLimits guard;
  // Serves HTTP/2 on `fd` and owns it (grpc::AddInsecureChannelFromFd).
  std::function<void(int fd)> serve;
  // Where the rejected-connections counter is registered; may be null.
  metrics::Registry* registry = nullptr;
};

class ProbeListener {
 public:
  explicit ProbeListener(ProbeListenerOptions options);
  ~ProbeListener();  // Stop()
  ProbeListener(const ProbeListener&) = delete;
  ProbeListener& operator=(const ProbeListener&) = delete;

  // Binds and starts the thread. Returns "" or why not ("cannot listen on
  // 127.0.0.1:50051: Address already in use"). Call once.
  std::string Start();
  void Stop();
  int port() const;  // the bound port; 0 before Start

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace deviceapi::server
