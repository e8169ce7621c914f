// The device-api-server process: the store, the gRPC service and every
// listener, started from a validated Config and stopped gracefully.
//
// Listeners:
//   API        --bind-address (Unix socket) and optional --tcp-bind-address:
//              GpuService, grpc.health.v1, reflection.
//   probe      --health-probe-bind-address: a separate gRPC server carrying
//              only grpc.health.v1, so kubelet can probe it and nobody can
//              read or write GPUs through it.
//   admin HTTP --metrics-bind-address: /metrics /readyz /healthz /version.
//
// Health is NOT_SERVING until the readiness gate opens (S21) and again from
// the start of shutdown (S22).
//
// Shutdown (S22): health NOT_SERVING, readiness shutting down, listeners stop
// accepting, the store ends every watch with UNAVAILABLE, in-flight unary
// calls finish (cancelled only when the grace period runs out), the socket
// file is removed. It returns within the grace period.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "server/config.h"

namespace deviceapi::store {
class Store;
}

namespace deviceapi::server {

class Server {
 public:
  explicit Server(Config config);
  ~Server();  // Shutdown() if started and not yet shut down
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Opens the store and binds every listener. On failure returns false with
  // one line naming the flag and the cause (the process exits 2); whatever
  // was already bound is released.
  bool Start(std::string* error);

  // Thread-safe; the first call wins.
  void RequestShutdown();
  // Blocks until RequestShutdown() has been called.
  void WaitForShutdownRequest();
  // Graceful stop, see above. Idempotent.
  void Shutdown();

  // Bound ports (the real ones for ":0"); 0 when the listener is off.
  int tcp_port() const;
  int health_probe_port() const;
  int metrics_port() const;

  // The store behind the API, for tests that need its hooks. Null before Start().
  store::Store* StoreForTesting();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

// main(): flags, logging, Start, signals, Shutdown. Returns the exit code:
// 0 after a clean shutdown, 2 for bad flags or listeners that cannot start.
int RunServer(int argc, char** argv);

}  // namespace deviceapi::server
