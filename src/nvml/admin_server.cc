#include "nvml/admin_server.h"

#include <httplib.h>

#include "metrics/registry.h"

namespace deviceapi::nvml {

AdminServer::AdminServer(Handlers h) : h_(std::move(h)) {}
AdminServer::~AdminServer() { Stop(); }

bool AdminServer::Start(const std::string& host_port, std::string* error) {
  auto colon = host_port.rfind(':');
  if (colon == std::string::npos) {
    *error = "admin address must be host:port, got '" + host_port + "'";
    return false;
  }
  std::string host = host_port.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  int port = 0;
  try {
    size_t used = 0;
    port = std::stoi(host_port.substr(colon + 1), &used);
    if (used != host_port.size() - colon - 1 || port < 0 || port > 65535) throw std::out_of_range("port");
  } catch (const std::exception&) {
    *error = "admin address has a bad port: '" + host_port + "'";
    return false;
  }
  srv_ = std::make_unique<httplib::Server>();
  // A second provider on the same port must fail, not share it.
  srv_->set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  auto probe = [](const std::function<bool(std::string*)>& fn) {
    return [fn](const httplib::Request&, httplib::Response& res) {
      std::string why;
      bool ok = fn(&why);
      res.status = ok ? 200 : 503;
      res.set_content(ok ? "ok\n" : why + "\n", "text/plain");
    };
  };
  srv_->Get("/healthz", probe(h_.healthy));
  srv_->Get("/readyz", probe(h_.ready));
  srv_->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(h_.metrics(), metrics::kTextContentType);
  });
  if (port == 0) {
    port_ = srv_->bind_to_any_port(host.c_str());
  } else {
    port_ = srv_->bind_to_port(host.c_str(), port) ? port : -1;
  }
  if (port_ < 0) {
    *error = "cannot listen on " + host_port;
    srv_.reset();
    return false;
  }
  thread_ = std::thread([this] { srv_->listen_after_bind(); });
  return true;
}

void AdminServer::Stop() {
  if (srv_) srv_->stop();
  if (thread_.joinable()) thread_.join();
  srv_.reset();
}

}  // namespace deviceapi::nvml
