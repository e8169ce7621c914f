#include "server/inflight_calls.h"

namespace deviceapi::server {
namespace {

using grpc::experimental::InterceptionHookPoints;

class Interceptor final : public grpc::experimental::Interceptor {
 public:
  explicit Interceptor(InflightCalls* calls) : calls_(calls) { calls_->Started(); }
  ~Interceptor() override {
    if (!answered_) calls_->Answered();
  }

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (!answered_ && methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      answered_ = true;
      calls_->Answered();
    }
    methods->Proceed();
  }

 private:
  InflightCalls* calls_;
  bool answered_ = false;  // hooks of one call never run concurrently
};

class Factory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit Factory(InflightCalls* calls) : calls_(calls) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(grpc::experimental::ServerRpcInfo*) override {
    return new Interceptor(calls_);
  }

 private:
  InflightCalls* calls_;
};

}  // namespace

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> InflightCalls::NewInterceptorFactory() {
  return std::make_unique<Factory>(this);
}

void InflightCalls::Started() {
  std::lock_guard<std::mutex> lock(mu_);
  ++count_;
}

void InflightCalls::Answered() {
  std::lock_guard<std::mutex> lock(mu_);
  if (count_ > 0 && --count_ == 0) cv_.notify_all();
}

std::size_t InflightCalls::count() {
  std::lock_guard<std::mutex> lock(mu_);
  return count_;
}

bool InflightCalls::WaitIdle(std::chrono::system_clock::time_point deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_until(lock, deadline, [this] { return count_ == 0; });
}

}  // namespace deviceapi::server
