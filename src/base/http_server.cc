#include "base/http_server.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <exception>
#include <mutex>
#include <string_view>
#include <thread>
#include <vector>

namespace deviceapi::base {
namespace {

constexpr std::size_t kMaxHeadBytes = 16 << 10;
constexpr std::size_t kMaxBodyBytes = 64 << 10;
constexpr int kRequestTimeoutMs = 5000;  // to finish reading a request, or writing a response
// For a request to start, on a new or a keep-alive connection: a connection
// that says nothing holds a worker no longer than this.
constexpr int kIdleTimeoutMs = 1000;
constexpr std::size_t kMaxPendingConnections = 64;

const char* Reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 411: return "Length Required";
    case 413: return "Payload Too Large";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Unknown";
  }
}

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// A parsed request head; ok == false means answer 400 and close.
struct Head {
  bool ok = false;
  HttpRequest request;
  bool keep_alive = true;
  bool chunked = false;
  long long content_length = 0;
};

Head ParseHead(std::string_view head) {
  Head h;
  std::size_t eol = head.find("\r\n");
  std::string_view line = head.substr(0, eol);
  std::size_t sp1 = line.find(' ');
  std::size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp1 == 0 || sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
    return h;
  }
  h.request.method = std::string(line.substr(0, sp1));
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);
  if (target.empty() || (version != "HTTP/1.1" && version != "HTTP/1.0")) return h;
  std::size_t q = target.find('?');
  h.request.path = std::string(target.substr(0, q));
  if (q != std::string_view::npos) h.request.query = std::string(target.substr(q + 1));
  h.keep_alive = version == "HTTP/1.1";
  std::string_view rest = eol == std::string_view::npos ? std::string_view() : head.substr(eol + 2);
  while (!rest.empty()) {
    std::size_t end = rest.find("\r\n");
    std::string_view field = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 2);
    if (field.empty()) continue;
    std::size_t colon = field.find(':');
    if (colon == std::string_view::npos || colon == 0) return h;
    const std::string name = Lower(Trim(field.substr(0, colon)));
    const std::string value = Lower(Trim(field.substr(colon + 1)));
    if (name == "connection") {
      if (value.find("close") != std::string::npos) h.keep_alive = false;
      if (value.find("keep-alive") != std::string::npos) h.keep_alive = true;
    } else if (name == "transfer-encoding") {
      h.chunked = true;
    } else if (name == "content-length") {
      if (value.empty() || value.size() > 18 ||
          value.find_first_not_of("0123456789") != std::string::npos) {
        return h;
      }
      h.content_length = std::stoll(value);
    }
  }
  h.ok = true;
  return h;
}

}  // namespace

bool HttpRequest::HasParam(const std::string& name) const {
  std::string_view q = query;
  while (!q.empty()) {
    std::size_t amp = q.find('&');
    std::string_view param = q.substr(0, amp);
    q = amp == std::string_view::npos ? std::string_view() : q.substr(amp + 1);
    if (param.substr(0, param.find('=')) == name) return true;
  }
  return false;
}

class HttpServer::Impl {
 public:
  Impl(Handler handler, int workers) : handler_(std::move(handler)), workers_(std::max(1, workers)) {}
  ~Impl() { Stop(); }

  std::string Start(const TcpAddress& address) {
    std::lock_guard<std::mutex> lock(start_mu_);
    if (started_) return "HTTP server already started";
    std::vector<std::string> hosts;
    if (address.host.empty()) hosts = {"::", "0.0.0.0"};  // dual stack, else IPv4 only
    else hosts = {address.host};
    std::string error;
    for (const std::string& h : hosts) {
      int err = Listen(h, address.port);
      if (err == 0) {
        host_ = h;
        break;
      }
      error = "cannot listen on " + TcpAddress{h, address.port}.ToString() + ": " + std::strerror(err);
      if (err == EADDRINUSE) break;  // the other host would say the same
    }
    if (listen_fd_ < 0) return error;
    wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wake_fd_ < 0) {
      const int err = errno;
      ::close(listen_fd_);
      listen_fd_ = -1;
      return std::string("cannot create an eventfd: ") + std::strerror(err);
    }
    started_ = true;
    acceptor_ = std::thread([this] { AcceptLoop(); });
    for (int i = 0; i < workers_; ++i) threads_.emplace_back([this] { WorkLoop(); });
    return "";
  }

  void Stop() {
    std::lock_guard<std::mutex> lock(start_mu_);
    if (!started_ || stopped_) return;
    stopped_ = true;
    {
      std::lock_guard<std::mutex> l(mu_);
      stopping_ = true;
    }
    const std::uint64_t one = 1;
    if (::write(wake_fd_, &one, sizeof(one)) < 0) {
      // Cannot happen with a fresh eventfd; the workers still see stopping_.
    }
    cv_.notify_all();
    if (acceptor_.joinable()) acceptor_.join();
    for (auto& t : threads_) t.join();
    for (int fd : pending_) ::close(fd);
    pending_.clear();
    ::close(listen_fd_);
    ::close(wake_fd_);
  }

  int port() const { return port_; }
  const std::string& host() const { return host_; }

 private:
  // Returns 0 or an errno.
  int Listen(const std::string& host, int port) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    addrinfo* found = nullptr;
    const std::string service = std::to_string(port);
    if (getaddrinfo(host.c_str(), service.c_str(), &hints, &found) != 0 || found == nullptr) {
      return EADDRNOTAVAIL;
    }
    int err = EADDRNOTAVAIL;
    for (addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) {
      int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
      if (fd < 0) {
        err = errno;
        continue;
      }
      // SO_REUSEADDR lets a restart bind while old connections sit in
      // TIME_WAIT; it does not let two listeners share a port (SO_REUSEPORT
      // would, and is never set).
      int yes = 1, no = 0;
      ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
      if (ai->ai_family == AF_INET6) ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &no, sizeof(no));
      if (::bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && ::listen(fd, 64) == 0) {
        sockaddr_storage bound{};
        socklen_t len = sizeof(bound);
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len);
        port_ = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                                  : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
        listen_fd_ = fd;
        freeaddrinfo(found);
        return 0;
      }
      err = errno;
      ::close(fd);
    }
    freeaddrinfo(found);
    return err;
  }

  void AcceptLoop() {
    for (;;) {
      pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
      if (::poll(fds, 2, -1) < 0) {
        if (errno == EINTR) continue;
        return;
      }
      if (fds[1].revents != 0) return;
      if ((fds[0].revents & POLLIN) == 0) continue;
      int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;  // the peer gave up, or out of descriptors for now
      std::lock_guard<std::mutex> l(mu_);
      if (stopping_ || pending_.size() >= kMaxPendingConnections) {
        ::close(fd);
        continue;
      }
      pending_.push_back(fd);
      cv_.notify_one();
    }
  }

  void WorkLoop() {
    for (;;) {
      int fd;
      {
        std::unique_lock<std::mutex> l(mu_);
        cv_.wait(l, [this] { return stopping_ || !pending_.empty(); });
        if (stopping_) return;
        fd = pending_.front();
        pending_.pop_front();
      }
      Serve(fd);
      ::close(fd);
    }
  }

  // Waits until `fd` is ready for `events`; false on timeout, error or Stop.
  bool Wait(int fd, short events, int timeout_ms) {
    pollfd fds[2] = {{fd, events, 0}, {wake_fd_, POLLIN, 0}};
    for (;;) {
      int n = ::poll(fds, 2, timeout_ms);
      if (n < 0 && errno == EINTR) continue;
      return n > 0 && fds[1].revents == 0 && (fds[0].revents & (events | POLLHUP | POLLERR)) != 0;
    }
  }

  // Appends what arrives on `fd` to `buf`; false on timeout, close or error.
  bool ReadMore(int fd, std::string* buf, int timeout_ms) {
    if (!Wait(fd, POLLIN, timeout_ms)) return false;
    char chunk[4096];
    ssize_t n = ::recv(fd, chunk, sizeof(chunk), 0);
    if (n <= 0) return false;
    buf->append(chunk, static_cast<std::size_t>(n));
    return true;
  }

  bool WriteAll(int fd, std::string_view data) {
    while (!data.empty()) {
      if (!Wait(fd, POLLOUT, kRequestTimeoutMs)) return false;
      ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR || errno == EAGAIN) continue;
        return false;
      }
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  bool Respond(int fd, const HttpResponse& res, bool head_only, bool keep_alive) {
    std::string out = "HTTP/1.1 " + std::to_string(res.status) + " " + Reason(res.status) + "\r\n";
    out += "Content-Type: " + res.content_type + "\r\n";
    out += "Content-Length: " + std::to_string(res.body.size()) + "\r\n";
    for (const auto& [name, value] : res.headers) out += name + ": " + value + "\r\n";
    out += keep_alive ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n";
    if (!head_only) out += res.body;
    return WriteAll(fd, out);
  }

  static HttpResponse Error(int status, const char* text) {
    HttpResponse r;
    r.status = status;
    r.body = std::string(text) + "\n";
    return r;
  }

  // One connection: requests until the client closes, asks to, idles out,
  // sends something this server will not read, or Stop.
  void Serve(int fd) {
    std::string buf;
    for (;;) {
      std::size_t end;
      while ((end = buf.find("\r\n\r\n")) == std::string::npos) {
        if (buf.size() > kMaxHeadBytes) {
          Respond(fd, Error(431, "request head too large"), false, false);
          return;
        }
        const int timeout = buf.empty() ? kIdleTimeoutMs : kRequestTimeoutMs;
        if (!ReadMore(fd, &buf, timeout)) return;
      }
      if (end > kMaxHeadBytes) {
        Respond(fd, Error(431, "request head too large"), false, false);
        return;
      }
      Head head = ParseHead(std::string_view(buf).substr(0, end));
      if (!head.ok) {
        Respond(fd, Error(400, "bad request"), false, false);
        return;
      }
      if (head.chunked) {
        Respond(fd, Error(411, "length required"), false, false);
        return;
      }
      if (head.content_length > static_cast<long long>(kMaxBodyBytes)) {
        Respond(fd, Error(413, "request body too large"), false, false);
        return;
      }
      // Bodies are read and dropped: no endpoint takes one.
      const std::size_t request_end = end + 4 + static_cast<std::size_t>(head.content_length);
      while (buf.size() < request_end) {
        if (!ReadMore(fd, &buf, kRequestTimeoutMs)) return;
      }
      buf.erase(0, request_end);
      HttpResponse res;
      try {
        res = handler_(head.request);
      } catch (const std::exception&) {
        res = Error(500, "internal error");
      }
      if (!Respond(fd, res, head.request.method == "HEAD", head.keep_alive) || !head.keep_alive) return;
    }
  }

  Handler handler_;
  const int workers_;
  std::mutex start_mu_;  // Start/Stop
  bool started_ = false, stopped_ = false;
  int listen_fd_ = -1, wake_fd_ = -1;
  std::string host_;
  int port_ = 0;
  std::thread acceptor_;
  std::vector<std::thread> threads_;
  std::mutex mu_;  // pending_, stopping_
  std::condition_variable cv_;
  std::deque<int> pending_;
  bool stopping_ = false;
};

HttpServer::HttpServer(Handler handler, int workers)
    : impl_(std::make_unique<Impl>(std::move(handler), workers)) {}
HttpServer::~HttpServer() = default;
std::string HttpServer::Start(const TcpAddress& address) { return impl_->Start(address); }
void HttpServer::Stop() { impl_->Stop(); }
int HttpServer::port() const { return impl_->port(); }
const std::string& HttpServer::host() const { return impl_->host(); }

}  // namespace deviceapi::base
