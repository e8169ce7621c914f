// A small HTTP/1.1 server for the admin endpoints: requests without bodies
// worth reading (GET, HEAD; other methods are answered, their body
// discarded), keep-alive and pipelining, bounded in every dimension.
//
// Why not a library: the one Debian packages (cpp-httplib) is built with
// OpenSSL support and initialises OpenSSL's error strings when it is loaded,
// about 1.8 MiB of the server's idle RSS, for a listener that serves plain
// HTTP to kubelet and Prometheus.
//
// Why event-driven: kubelet's liveness probe must be answered whatever other
// peers do. One thread multiplexes every connection with epoll and never
// waits on a peer: a client that sends a byte a second, says nothing, or
// pipelines requests without reading the answers costs a buffer, never a
// thread, and probes are answered as soon as their bytes arrive. Handlers run
// on that thread, so they must be quick and must not block (the admin
// endpoints read in-memory state).
//
// Limits (HttpLimits): request head 16 KiB (431 and close beyond), request
// body 64 KiB (413 and close beyond; chunked bodies are refused with 411).
// Deadlines are per request, not per read: `idle_timeout` for a request to
// start on a new or keep-alive connection, `request_timeout` from its first
// byte to its last, `write_timeout` for a response to be taken by the peer;
// a connection past a deadline is closed. No more requests are read from a
// connection while its last response is unsent, so one connection holds at
// most one response, and the kernel holds at most 64 KiB more for a peer
// that does not read (SO_SNDBUF). Pipelined requests take turns: each
// connection gets one answered per round of the loop, so a probe waits for
// at most one request of each other connection. Targets must be a path
// ("/x?q") or an absolute URL; anything else is answered 400. Connection caps: when a new connection would exceed
// `max_connections_per_peer` (same IP address) or `max_connections`, a
// connection of that peer (resp. of anyone) is closed to make room: one that
// has sent nothing before one mid-request, the longest-waiting first, and a
// connection counts as having sent nothing only if its socket holds nothing
// unread either (a request waiting there is read and answered instead). A new
// connection's request is read at once, so a flood evicts itself and a fresh
// probe still gets in. The socket never sets SO_REUSEPORT (a second server on
// the port fails to bind instead of sharing it); IPv6 sockets accept IPv4.
//
// Thread-safe: Start/Stop from any thread; the handler runs on the server's
// one thread.
#pragma once

#include <chrono>
#include <cstddef>
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

struct HttpLimits {
  std::size_t max_connections = 256;          // open connections in all
  std::size_t max_connections_per_peer = 32;  // open connections from one IP address
  std::chrono::milliseconds idle_timeout{1000};     // for a request to start
  std::chrono::milliseconds request_timeout{5000};  // first byte of a request to its last
  std::chrono::milliseconds write_timeout{5000};    // for a response to be taken by the peer
};

class HttpServer {
 public:
  using Handler = std::function<HttpResponse(const HttpRequest&)>;

  explicit HttpServer(Handler handler, HttpLimits limits = {});
  ~HttpServer();  // Stop()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds `address` (host "" for every interface: "::" with IPv4 mapped,
  // else "0.0.0.0"; port 0 for an ephemeral one) and starts serving. Returns
  // "" or why it could not ("cannot listen on 127.0.0.1:9090: Address
  // already in use"). Call once.
  std::string Start(const TcpAddress& address);
  // Stops accepting, closes open connections and joins the thread, at once.
  // Idempotent.
  void Stop();

  int port() const;                 // 0 before a successful Start
  const std::string& host() const;  // the host it bound ("::", "127.0.0.1", ...)

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace deviceapi::base
