#include "server/admin_http.h"

#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>

#include "metrics/registry.h"
#include "server/logging.h"
#include "server/server_metrics.h"

namespace deviceapi::server {

namespace {

// Replaces httplib's default_socket_options, which sets SO_REUSEPORT: with
// it a second server on the same port would bind too and the kernel would
// spread connections across both. SO_REUSEADDR stays, so a restart is not
// refused while old connections sit in TIME_WAIT (it does not let two
// listeners share a port). IPv6 sockets accept IPv4 too (dual stack), which
// only matters for the "every interface" address "::".
void AdminSocketOptions(socket_t sock) {
  int yes = 1, no = 0;
  setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  setsockopt(sock, IPPROTO_IPV6, IPV6_V6ONLY, &no, sizeof(no));  // fails harmlessly on IPv4
}

std::string StripNotReady(std::string reason) {
  constexpr std::string_view kPrefix = "not ready: ";
  if (reason.compare(0, kPrefix.size(), kPrefix) == 0) reason.erase(0, kPrefix.size());
  return reason;
}

std::string HostForLog(const std::string& host, int port) {
  return (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

}  // namespace

class AdminHttpServer::Impl {
 public:
  explicit Impl(AdminHttpOptions options) : options_(std::move(options)) {
    if (options_.version_json.empty()) options_.version_json = BuildInfo::Current().ToJson();
    if (options_.worker_threads < 1) options_.worker_threads = 1;
  }

  std::string Start() {
    std::lock_guard<std::mutex> lock(mu_);
    if (started_) return "admin HTTP server already started";
    const int n = options_.worker_threads;
    svr_.new_task_queue = [n] { return new httplib::ThreadPool(static_cast<size_t>(n)); };
    svr_.set_socket_options(AdminSocketOptions);
    // Idle keep-alive connections hold a worker; keep them short so Stop()
    // and a busy scraper cannot starve the pool for long.
    svr_.set_keep_alive_timeout(1);
    svr_.set_read_timeout(5);
    svr_.set_write_timeout(5);
    svr_.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      Route(req, res);
      return httplib::Server::HandlerResponse::Handled;
    });

    const int want = options_.address.port;
    std::vector<std::string> hosts;
    if (options_.address.host.empty()) hosts = {"::", "0.0.0.0"};  // dual stack, else IPv4 only
    else hosts = {options_.address.host};
    std::string error;
    for (const std::string& host : hosts) {
      errno = 0;
      int port = want;
      bool ok;
      if (want == 0) {
        port = svr_.bind_to_any_port(host);
        ok = port > 0;
      } else {
        ok = svr_.bind_to_port(host, want);
      }
      if (ok) {
        host_ = host;
        port_ = port;
        break;
      }
      const int err = errno;
      error = "cannot listen on " + HostForLog(host, want) +
              (err ? std::string(": ") + std::strerror(err) : std::string(": bind failed"));
      if (err == EADDRINUSE) break;  // the other host would say the same
    }
    if (port_ == 0) return error;
    started_ = true;
    thread_ = std::thread([this] { svr_.listen_after_bind(); });
    // Stop() right after Start() must find the loop running (httplib's stop()
    // does nothing before that), else the join would wait forever.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!svr_.is_running() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    LogInfo("admin HTTP server listening", {{"address", HostForLog(host_, port_)}});
    return "";
  }

  void Stop() {
    std::lock_guard<std::mutex> lock(mu_);
    if (!started_ || stopped_) return;
    stopped_ = true;
    svr_.stop();
    if (thread_.joinable()) thread_.join();
  }

  int port() const { return port_; }
  const std::string& host() const { return host_; }

 private:
  void Route(const httplib::Request& req, httplib::Response& res) {
    const std::string& path = req.path;
    const bool known = path == "/healthz" || path == "/livez" || path == "/readyz" ||
                       path == "/version" || (path == "/metrics" && options_.registry);
    if (!known) {
      res.status = 404;
      res.set_content("404 page not found\n", "text/plain; charset=utf-8");
      return;
    }
    if (req.method != "GET" && req.method != "HEAD") {
      res.status = 405;
      res.set_header("Allow", "GET, HEAD");
      res.set_content("method not allowed\n", "text/plain; charset=utf-8");
      return;
    }
    if (path == "/healthz" || path == "/livez") {
      res.set_content("ok", "text/plain; charset=utf-8");
    } else if (path == "/readyz") {
      Ready(req, res);
    } else if (path == "/metrics") {
      res.set_content(options_.registry->Serialize(), metrics::kTextContentType);
    } else {
      res.set_content(options_.version_json, "application/json");
    }
    res.set_header("Cache-Control", "no-store");
  }

  void Ready(const httplib::Request& req, httplib::Response& res) {
    const bool verbose = req.has_param("verbose");
    std::string failures, lines;
    for (const ReadyCheck& c : options_.ready_checks) {
      std::string reason = c.check ? StripNotReady(c.check()) : std::string();
      if (reason.empty()) {
        lines += "[+]" + c.name + " ok\n";
      } else {
        lines += "[-]" + c.name + " failed: " + reason + "\n";
        failures += (failures.empty() ? "" : "; ") + reason;
      }
    }
    res.status = failures.empty() ? 200 : 503;
    std::string body;
    if (verbose) body = lines + (failures.empty() ? "readyz check passed\n" : "readyz check failed\n");
    else body = failures.empty() ? "ok" : "not ready: " + failures + "\n";
    res.set_content(body, "text/plain; charset=utf-8");
  }

  AdminHttpOptions options_;
  httplib::Server svr_;
  std::mutex mu_;  // Start/Stop
  std::thread thread_;
  bool started_ = false, stopped_ = false;
  std::string host_;
  int port_ = 0;
};

AdminHttpServer::AdminHttpServer(AdminHttpOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}
AdminHttpServer::~AdminHttpServer() { Stop(); }
std::string AdminHttpServer::Start() { return impl_->Start(); }
void AdminHttpServer::Stop() { impl_->Stop(); }
int AdminHttpServer::port() const { return impl_->port(); }
const std::string& AdminHttpServer::host() const { return impl_->host(); }

}  // namespace deviceapi::server
