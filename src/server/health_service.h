// grpc.health.v1.Health for the API listeners and the probe listener.
//
// One ServingState is shared by every server's HealthService: the process is
// serving or not as a whole. It starts NOT_SERVING, goes SERVING once the
// readiness gate opens (S21) and back to NOT_SERVING for good at shutdown
// (S22). Check() answers for "" and for each service name given at
// construction; any other name is NOT_FOUND, as the protocol specifies.
// Every answer carries the build's version, commit and date as initial
// metadata (device-api-version, -commit, -build-date).
// Watch() is not offered (UNIMPLEMENTED, which the protocol allows): kubelet
// and grpc_health_probe only use Check, and a Watch stream would hold up
// shutdown.
#pragma once

#include <atomic>
#include <set>
#include <string>

#include "grpc/health/v1/health.grpc.pb.h"

namespace deviceapi::server {

class ServingState {
 public:
  explicit ServingState(std::set<std::string> services) : services_(std::move(services)) {
    services_.insert("");
  }
  // Ignored after Shutdown(), also when the two race: one state, changed
  // only while it is not kShutDown, so the housekeeping thread that follows
  // readiness cannot say SERVING again just after shutdown said otherwise.
  void SetServing(bool serving) {
    State now = state_.load();
    while (now != State::kShutDown &&
           !state_.compare_exchange_weak(now, serving ? State::kServing : State::kNotServing)) {
    }
  }
  void Shutdown() { state_.store(State::kShutDown); }
  bool serving() const { return state_.load() == State::kServing; }
  bool Knows(const std::string& service) const { return services_.count(service) != 0; }

 private:
  enum class State { kNotServing, kServing, kShutDown };
  std::set<std::string> services_;
  std::atomic<State> state_{State::kNotServing};
};

class HealthService final : public grpc::health::v1::Health::CallbackService {
 public:
  explicit HealthService(const ServingState& state) : state_(state) {}

  grpc::ServerUnaryReactor* Check(grpc::CallbackServerContext* context,
                                  const grpc::health::v1::HealthCheckRequest* request,
                                  grpc::health::v1::HealthCheckResponse* response) override;

 private:
  const ServingState& state_;
};

}  // namespace deviceapi::server
