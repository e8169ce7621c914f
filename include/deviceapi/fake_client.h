// FakeClient: a Client for consumers' unit tests, with no socket and no
// separate process.
//
// It is not a second implementation: it runs the real store and the real
// GpuService, LeaseService and LeaseController in-process and talks to them
// through a gRPC in-process channel (LeaseClient works on it too),
// so every rule the server keeps (resource versions, conflicts, validation,
// watch semantics) holds exactly. Link deviceapi::testing.
//
//   deviceapi::FakeClient client;               // ready, empty
//   client.Create(gpu);                          // like a real server
//   deviceapi::Informer informer(client);        // informers work too
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>

#include "deviceapi/client.h"

namespace deviceapi {

struct FakeClientOptions {
  // Events each watcher may queue before the server evicts it as too slow.
  std::size_t watcher_queue_capacity = 1024;
  std::size_t history_max_events = 10000;
  std::chrono::milliseconds bookmark_interval{60000};
};

namespace detail {
// Owns the in-process server; a base class so it is built before Client.
class FakeServer;
struct FakeServerHolder {
  explicit FakeServerHolder(const FakeClientOptions& options);
  ~FakeServerHolder();
  std::unique_ptr<FakeServer> server;
};
}  // namespace detail

class FakeClient : private detail::FakeServerHolder, public Client {
 public:
  explicit FakeClient(FakeClientOptions options = {});
  ~FakeClient() override;
};

}  // namespace deviceapi
