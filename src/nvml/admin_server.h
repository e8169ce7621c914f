#pragma once
// The provider's own HTTP endpoints: /healthz (process and event loop alive),
// /readyz (NVML open and the first sync with the server done), /metrics
// (Prometheus text). One listener on host:port; port 0 picks a free port.
#include <functional>
#include <memory>
#include <string>
#include <thread>

namespace httplib {
class Server;
}

namespace deviceapi::nvml {

class AdminServer {
 public:
  struct Handlers {
    std::function<bool(std::string*)> healthy;
    std::function<bool(std::string*)> ready;
    std::function<std::string()> metrics;
  };
  explicit AdminServer(Handlers h);
  ~AdminServer();
  // Binds and starts serving. Returns false with a message when the address is bad or taken.
  bool Start(const std::string& host_port, std::string* error);
  void Stop();
  int port() const { return port_; }

 private:
  Handlers h_;
  std::unique_ptr<httplib::Server> srv_;
  std::thread thread_;
  int port_ = -1;
};

}  // namespace deviceapi::nvml
