// Counts the API calls that have not sent their status yet, so shutdown can
// tell when every call has been answered.
//
// Why: grpc::Server::Shutdown(deadline) sometimes keeps waiting until its
// deadline although every call has already sent its status (observed with
// gRPC 1.51 and watch streams ended by the store, clients in another
// process). With this count the drain ends as soon as everything has been
// answered; whatever gRPC still holds is then cancelled, which no client can
// notice any more.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>

#include <grpcpp/support/server_interceptor.h>

namespace deviceapi::server {

class InflightCalls {
 public:
  // For builder.experimental().SetInterceptorCreators(); `this` must outlive
  // the server.
  std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> NewInterceptorFactory();

  // Blocks until no call is waiting for its status or `deadline` passes;
  // true if none is.
  bool WaitIdle(std::chrono::system_clock::time_point deadline);
  std::size_t count();

  void Started();
  void Answered();

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::size_t count_ = 0;
};

}  // namespace deviceapi::server
