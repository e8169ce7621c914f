// A small HTTP/1.1 server for the admin endpoints: requests without bodies
// worth reading (GET, HEAD; other methods are answered, their body
// discarded), keep-alive, bounded in every dimension.
//
// Why not a library: the one Debian packages (cpp-httplib) is built with
// OpenSSL support and initialises OpenSSL's error strings when it is loaded,
// about 1.8 MiB of the server's idle RSS, for a listener that serves plain
// HTTP to kubelet and Prometheus.
//
// Limits: request head 16 KiB (431 and close beyond), request body 64 KiB
// (413 and close beyond; chunked bodies are refused with 411), 1 s for a
// request to start on a new or keep-alive connection, 5 s to finish reading
// it or to write a response. `workers` threads serve connections; more
// connections wait in the kernel's backlog. The socket never sets SO_REUSEPORT (a second server
// on the port fails to bind instead of sharing it); IPv6 sockets accept IPv4.
//
// Thread-safe: Start/Stop from any thread; the handler runs on the workers,
// concurrently.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "base/listen_address.h"

namespace deviceapi::base {

struct HttpRequest {
  std::string method;  // as sent, e.g. "GET"
  std::string path;    // the target before '?', not decoded
  std::string query;   // after '?', not decoded; "" when none
  // True when the query has a parameter `name` ("name", "name=", "name=x").
  bool HasParam(const std::string& name) const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::map<std::string, std::string> headers;  // extra headers
};

class HttpServer {
 public:
  using Handler = std::function<HttpResponse(const HttpRequest&)>;

  HttpServer(Handler handler, int workers);
  ~HttpServer();  // Stop()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds `address` (host "" for every interface: "::" with IPv4 mapped,
  // else "0.0.0.0"; port 0 for an ephemeral one) and starts serving. Returns
  // "" or why it could not ("cannot listen on 127.0.0.1:9090: Address
  // already in use"). Call once.
  std::string Start(const TcpAddress& address);
  // Stops accepting, ends open connections and joins every thread, within
  // about the time a response takes to write. Idempotent.
  void Stop();

  int port() const;                 // 0 before a successful Start
  const std::string& host() const;  // the host it bound ("::", "127.0.0.1", ...)

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace deviceapi::base
