#include "base/admin_http.h"

#include <string>
#include <string_view>
#include <utility>

#include "metrics/registry.h"
#include "base/http_server.h"
#include "base/logging.h"
#include "base/build_info.h"

namespace deviceapi::base {

namespace {

std::string StripNotReady(std::string reason) {
  constexpr std::string_view kPrefix = "not ready: ";
  if (reason.compare(0, kPrefix.size(), kPrefix) == 0) reason.erase(0, kPrefix.size());
  return reason;
}

HttpResponse Text(int status, std::string body) {
  HttpResponse res;
  res.status = status;
  res.body = std::move(body);
  return res;
}

}  // namespace

class AdminHttpServer::Impl {
 public:
  explicit Impl(AdminHttpOptions options)
      : options_(std::move(options)),
        http_([this](const HttpRequest& req) { return Route(req); }, options_.limits) {
    if (options_.version_json.empty()) options_.version_json = BuildInfo::Current().ToJson();
  }

  std::string Start() {
    std::string error = http_.Start(options_.address);
    if (!error.empty()) return error;
    const TcpAddress bound{http_.host(), static_cast<std::uint16_t>(http_.port())};
    LogInfo("admin HTTP server listening", {{"address", bound.ToString()}});
    return "";
  }

  void Stop() { http_.Stop(); }

  int port() const { return http_.port(); }
  const std::string& host() const { return http_.host(); }

 private:
  HttpResponse Route(const HttpRequest& req) {
    const std::string& path = req.path;
    const bool known = path == "/healthz" || path == "/livez" || path == "/readyz" ||
                       path == "/version" || (path == "/metrics" && options_.registry);
    if (!known) return Text(404, "404 page not found\n");
    if (req.method != "GET" && req.method != "HEAD") {
      HttpResponse res = Text(405, "method not allowed\n");
      res.headers["Allow"] = "GET, HEAD";
      return res;
    }
    HttpResponse res;
    if (path == "/healthz" || path == "/livez") {
      res = Healthy();
    } else if (path == "/readyz") {
      res = Ready(req);
    } else if (path == "/metrics") {
      res = Text(200, options_.registry->Serialize());
      res.content_type = metrics::kTextContentType;
    } else {
      res = Text(200, options_.version_json);
      res.content_type = "application/json";
    }
    res.headers["Cache-Control"] = "no-store";
    return res;
  }

  HttpResponse Healthy() {
    std::string failures;
    for (const ReadyCheck& c : options_.health_checks) {
      const std::string reason = c.check ? c.check() : std::string();
      if (!reason.empty()) failures += (failures.empty() ? "" : "; ") + reason;
    }
    return failures.empty() ? Text(200, "ok") : Text(503, "not healthy: " + failures + "\n");
  }

  HttpResponse Ready(const HttpRequest& req) {
    const bool verbose = req.HasParam("verbose");
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
    std::string body;
    if (verbose) body = lines + (failures.empty() ? "readyz check passed\n" : "readyz check failed\n");
    else body = failures.empty() ? "ok" : "not ready: " + failures + "\n";
    return Text(failures.empty() ? 200 : 503, std::move(body));
  }

  AdminHttpOptions options_;
  HttpServer http_;
};

AdminHttpServer::AdminHttpServer(AdminHttpOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}
AdminHttpServer::~AdminHttpServer() { Stop(); }
std::string AdminHttpServer::Start() { return impl_->Start(); }
void AdminHttpServer::Stop() { impl_->Stop(); }
int AdminHttpServer::port() const { return impl_->port(); }
const std::string& AdminHttpServer::host() const { return impl_->host(); }

}  // namespace deviceapi::base
