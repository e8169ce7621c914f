// The admin HTTP server: health, readiness, metrics and version for
// operators, kubelet probes and Prometheus.
//
//   GET /healthz, /livez  200 "ok" while the process serves HTTP at all and
//                         every health check passes, else 503
//                         "not healthy: <reason>[; <reason>...]".
//   GET /readyz           200 "ok" when every readiness check passes, else
//                         503 "not ready: <reason>[; <reason>...]".
//                         With ?verbose, Kubernetes style, one line per check
//                         ("[+]name ok" / "[-]name failed: reason") and a final
//                         "readyz check passed" / "readyz check failed".
//   GET /metrics          Registry::Serialize(), Content-Type
//                         "text/plain; version=0.0.4; charset=utf-8".
//   GET /version          JSON {"version","commit","buildDate","compiler"}.
//   anything else         404; non-GET methods on known paths 405.
//
// The listening socket never uses SO_REUSEPORT, so a second server (or a
// second process) on the same port fails to bind instead of silently sharing
// it. Start() reports bind failures as a value, never by throwing.
// Served by HttpServer (http_server.h): one event loop, whole-request
// deadlines, connection caps; /healthz is answered whatever other peers do.
// Thread-safe: Start/Stop from any thread; checks and /metrics run on the
// server's one thread, so they must not block.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "base/http_server.h"
#include "base/listen_address.h"

namespace deviceapi::metrics {
class Registry;
}

namespace deviceapi::base {

// A readiness check: returns "" when passing, else the reason it fails
// (e.g. "waiting for providers (0/8 GPUs registered, grace period 12s left)").
// A leading "not ready: " in the reason is dropped (the endpoint adds it once).
struct ReadyCheck {
  std::string name;
  std::function<std::string()> check;
};

struct AdminHttpOptions {
  // Parsed by ParseTcpAddress (listen_address.h). host "" binds every
  // interface (IPv6 and IPv4 where the kernel allows dual stack, else IPv4);
  // port 0 picks an ephemeral port (see port()).
  TcpAddress address{"", 9090};
  const metrics::Registry* registry = nullptr;  // null: /metrics is 404; must outlive the server
  std::vector<ReadyCheck> ready_checks;         // none: always ready
  // Liveness beyond "the process answers HTTP" (e.g. a daemon's event loop
  // is running). Keep them cheap: kubelet calls them often.
  std::vector<ReadyCheck> health_checks;        // none: always healthy
  // Body of /version. Empty: built from the build facts of this binary.
  std::string version_json;
  HttpLimits limits;  // connection caps and deadlines (http_server.h)
};

class AdminHttpServer {
 public:
  explicit AdminHttpServer(AdminHttpOptions options);
  ~AdminHttpServer();  // Stop()
  AdminHttpServer(const AdminHttpServer&) = delete;
  AdminHttpServer& operator=(const AdminHttpServer&) = delete;

  // Binds and starts serving on a background thread. Returns "" on success,
  // else why it failed (bad address, port in use, ...). Call once.
  std::string Start();
  // Stops accepting, ends open connections and joins the thread. Idempotent;
  // returns within about a second even with idle keep-alive clients.
  void Stop();

  // The bound port (the real one when the address asked for port 0); 0
  // before a successful Start().
  int port() const;
  // The host it was bound to ("0.0.0.0", "127.0.0.1", "::1", ...).
  const std::string& host() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace deviceapi::base
