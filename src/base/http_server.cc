#include "base/http_server.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <exception>
#include <mutex>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "base/http_wire.h"
#include "base/tcp_listen.h"

namespace deviceapi::base {

using Clock = std::chrono::steady_clock;
using http_wire::kMaxBodyBytes;
using http_wire::kMaxHeadBytes;

constexpr int kSendBufferBytes = 64 << 10;

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

namespace {


// One client connection. Its step decides which deadline applies and which
// readiness the loop waits for.
struct Conn {
  enum class Step { kIdle, kReading, kWriting };
  int fd = -1;
  std::string peer;
  Step step = Step::kIdle;
  Clock::time_point since;     // when the current step began (eviction order)
  Clock::time_point deadline;  // the current step must end by then
  std::string in;              // received, not yet answered
  std::string out;             // response bytes not yet sent
  std::size_t out_sent = 0;
  bool close_after_write = false;
  bool queued = false;  // in Impl::ready_: a complete request waits in `in`
  bool paused = false;  // not read from: `in` holds kMaxUnansweredBytes
};

}  // namespace

class HttpServer::Impl {
 public:
  Impl(Handler handler, HttpLimits limits) : handler_(std::move(handler)), limits_(limits) {
    limits_.max_connections = std::max<std::size_t>(1, limits_.max_connections);
    limits_.max_connections_per_peer = std::max<std::size_t>(1, limits_.max_connections_per_peer);
  }
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
    epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
    if (wake_fd_ < 0 || epoll_fd_ < 0) {
      const int err = errno;
      CloseAll();
      return std::string("cannot create the event loop: ") + std::strerror(err);
    }
    Watch(listen_fd_, EPOLLIN, EPOLL_CTL_ADD);
    Watch(wake_fd_, EPOLLIN, EPOLL_CTL_ADD);
    started_ = true;
    loop_ = std::thread([this] { Loop(); });
    return "";
  }

  void Stop() {
    std::lock_guard<std::mutex> lock(start_mu_);
    if (!started_ || stopped_) return;
    stopped_ = true;
    const std::uint64_t one = 1;
    if (::write(wake_fd_, &one, sizeof(one)) < 0) {
      // Cannot fail on a valid eventfd short of overflow; the loop also
      // checks nothing else, so there is no better fallback.
    }
    loop_.join();
    CloseAll();
  }

  int port() const { return port_; }
  const std::string& host() const { return host_; }

 private:
  // Returns 0 or an errno (base/tcp_listen.h).
  int Listen(const std::string& host, int port) { return base::ListenTcp(host, port, &listen_fd_, &port_); }

  void Watch(int fd, std::uint32_t events, int op) {
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = fd;
    ::epoll_ctl(epoll_fd_, op, fd, &ev);
  }

  void CloseAll() {
    for (auto& [fd, conn] : conns_) ::close(fd);
    conns_.clear();
    per_peer_.clear();
    for (int* fd : {&listen_fd_, &wake_fd_, &epoll_fd_}) {
      if (*fd >= 0) ::close(*fd);
      *fd = -1;
    }
  }

  void Loop() {
    std::vector<epoll_event> events(64);
    for (;;) {
      const int timeout = ready_.empty() ? NextTimeoutMs() : 0;
      const int n = ::epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()), timeout);
      if (n < 0 && errno != EINTR) return;
      for (int i = 0; i < n; ++i) {
        const int fd = events[i].data.fd;
        if (fd == wake_fd_) return;
        if (fd == listen_fd_) {
          AcceptAll();
          continue;
        }
        auto it = conns_.find(fd);
        if (it == conns_.end()) continue;  // closed earlier in this batch
        if (!OnReady(it->second, events[i].events)) Close(fd);
      }
      ServeQueued();
      ExpireDeadlines();
    }
  }

  // One pipelined request of each connection that has one waiting, in turn:
  // a client pipelining /metrics without reading gets one answer per round,
  // never a run of them while a probe waits.
  void ServeQueued() {
    for (std::size_t n = ready_.size(); n > 0; --n) {
      const int fd = ready_.front();
      ready_.pop_front();
      auto it = conns_.find(fd);
      if (it == conns_.end() || !it->second.queued) continue;  // closed since
      it->second.queued = false;
      if (!Process(it->second)) Close(fd);
    }
  }

  int NextTimeoutMs() const {
    if (conns_.empty()) return -1;
    Clock::time_point first = Clock::time_point::max();
    for (const auto& [fd, c] : conns_) first = std::min(first, c.deadline);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(first - Clock::now()).count();
    return static_cast<int>(std::clamp<long long>(ms + 1, 0, 60000));
  }

  void ExpireDeadlines() {
    const auto now = Clock::now();
    std::vector<int> expired;
    for (const auto& [fd, c] : conns_) {
      if (c.deadline <= now) expired.push_back(fd);
    }
    for (int fd : expired) Close(fd);
  }

  void AcceptAll() {
    for (;;) {
      sockaddr_storage ss{};
      socklen_t len = sizeof(ss);
      int fd = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (fd < 0) {
        // EAGAIN: none left. Out of descriptors: the oldest connection makes
        // room, so the listener does not spin on a pending connection.
        if ((errno == EMFILE || errno == ENFILE) && !conns_.empty()) {
          EvictOldest("");
          continue;
        }
        return;
      }
      // What a peer that does not read may make the server render ahead of
      // it: a response or two, not the megabytes loopback autotuning allows.
      const int sndbuf = kSendBufferBytes;
      ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
      std::string peer = PeerAddress(ss);
      if (per_peer_[peer] >= limits_.max_connections_per_peer) EvictOldest(peer);
      if (conns_.size() >= limits_.max_connections) EvictOldest("");
      Conn& c = conns_[fd];
      c.fd = fd;
      c.peer = std::move(peer);
      ++per_peer_[c.peer];
      Enter(c, Conn::Step::kIdle);
      Watch(fd, EPOLLIN, EPOLL_CTL_ADD);
      // A probe sends its request with the connect: read it now, before a
      // burst of connections behind it can make it the oldest idle one.
      if (!OnReady(c, EPOLLIN)) Close(fd);
    }
  }

  // Closes the connection (of `peer`, or of anyone when "") making the least
  // progress: one that has sent nothing yet before one mid-request, and of
  // those the one that has been in its current step longest.
  //
  // "Sent nothing" is checked on the socket, not only on what the loop has
  // read: a probe accepted before its request arrived, whose bytes are
  // waiting behind a burst of accepts, is read (and answered) here instead
  // of being closed as idle. Each connection gets that one chance per
  // eviction, so a peer that keeps sending cannot keep the loop here.
  void EvictOldest(const std::string& peer) {
    auto rank = [](const Conn& c) { return std::make_pair(c.step != Conn::Step::kIdle, c.since); };
    std::unordered_set<int> read_now;
    for (;;) {
      Conn* oldest = nullptr;
      for (auto& [fd, c] : conns_) {
        if ((peer.empty() || c.peer == peer) && (!oldest || rank(c) < rank(*oldest))) oldest = &c;
      }
      if (!oldest) return;
      const int fd = oldest->fd;
      if (oldest->step != Conn::Step::kIdle || !Readable(fd) || !read_now.insert(fd).second) {
        Close(fd);
        return;
      }
      if (!OnReady(*oldest, EPOLLIN)) {
        Close(fd);  // it hung up: room made all the same
        return;
      }
    }
  }

  // True when `fd` has bytes (or an end of stream) the loop has not read.
  static bool Readable(int fd) {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, 0) == 1;
  }

  void Close(int fd) {
    auto it = conns_.find(fd);
    if (it == conns_.end()) return;
    auto peer = per_peer_.find(it->second.peer);
    if (peer != per_peer_.end() && --peer->second == 0) per_peer_.erase(peer);
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
    ::close(fd);
    conns_.erase(it);
  }

  void Enter(Conn& c, Conn::Step step) {
    const auto now = Clock::now();
    c.step = step;
    c.since = now;
    switch (step) {
      case Conn::Step::kIdle: c.deadline = now + limits_.idle_timeout; break;
      case Conn::Step::kReading: c.deadline = now + limits_.request_timeout; break;
      case Conn::Step::kWriting: c.deadline = now + limits_.write_timeout; break;
    }
  }

  // Handles readiness on a connection; false closes it.
  bool OnReady(Conn& c, std::uint32_t events) {
    if (c.step == Conn::Step::kWriting) {
      if ((events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) == 0) return true;
      if (!Flush(c)) return false;
      if (c.step == Conn::Step::kWriting) return true;  // still more to send
      return Process(c);  // requests pipelined behind the one just answered
    }
    if ((events & (EPOLLIN | EPOLLERR | EPOLLHUP)) == 0) return true;
    if (c.paused) return (events & (EPOLLERR | EPOLLHUP)) == 0;  // reported whatever the interest
    char chunk[16 << 10];
    // One read per readiness: a fast sender cannot monopolise the loop.
    ssize_t n = ::recv(c.fd, chunk, sizeof(chunk), 0);
    if (n == 0) return false;
    if (n < 0) return errno == EAGAIN || errno == EINTR;
    if (c.step == Conn::Step::kIdle) Enter(c, Conn::Step::kReading);
    c.in.append(chunk, static_cast<std::size_t>(n));
    if (c.in.size() >= http_wire::kMaxUnansweredBytes) {
      // Requests are answered one per round: a client sending faster than
      // that is not read from until they are, so its bytes wait in the
      // kernel's buffers, and then in its own, instead of in ours.
      c.paused = true;
      Watch(c.fd, 0, EPOLL_CTL_MOD);
    }
    // A connection queued for this round is answered there, in its turn.
    return c.queued || Process(c);
  }

  // Answers the first complete request in `c.in`; a complete one behind it
  // waits for the next round (ServeQueued). While a response is still
  // being sent nothing is answered: the next would replace its unsent
  // rest; OnReady goes on once it is sent. False closes.
  bool Process(Conn& c) {
    if (c.step == Conn::Step::kWriting) return true;
    if (c.in.empty()) {
      if (c.step != Conn::Step::kIdle) Enter(c, Conn::Step::kIdle);
      return true;
    }
    if (c.step == Conn::Step::kIdle) Enter(c, Conn::Step::kReading);
    const std::size_t end = c.in.find("\r\n\r\n");
    if (end == std::string::npos) {
      if (c.in.size() > kMaxHeadBytes) return Answer(c, http_wire::ErrorResponse(431, "request head too large"));
      return true;
    }
    if (end > kMaxHeadBytes) return Answer(c, http_wire::ErrorResponse(431, "request head too large"));
    http_wire::Head head = http_wire::ParseHead(std::string_view(c.in).substr(0, end));
    if (!head.ok) return Answer(c, http_wire::ErrorResponse(400, "bad request"));
    if (head.chunked) return Answer(c, http_wire::ErrorResponse(411, "length required"));
    if (head.content_length > static_cast<long long>(kMaxBodyBytes)) {
      return Answer(c, http_wire::ErrorResponse(413, "request body too large"));
    }
    // Bodies are read and dropped: no endpoint takes one.
    const std::size_t request_end = end + 4 + static_cast<std::size_t>(head.content_length);
    if (c.in.size() < request_end) return true;
    c.in.erase(0, request_end);
    if (c.paused && c.in.size() < http_wire::kMaxUnansweredBytes / 2) {
      c.paused = false;
      if (c.step != Conn::Step::kWriting) Watch(c.fd, EPOLLIN, EPOLL_CTL_MOD);
    }
    HttpResponse res;
    try {
      res = handler_(head.request);
    } catch (const std::exception&) {
      res = http_wire::ErrorResponse(500, "internal error");
    }
    c.out = http_wire::FormatResponse(res, head.request.method == "HEAD", head.keep_alive);
    c.out_sent = 0;
    c.close_after_write = !head.keep_alive;
    if (!Flush(c)) return false;
    if (c.step == Conn::Step::kWriting) return true;
    if (c.in.empty()) {
      Enter(c, Conn::Step::kIdle);
      return true;
    }
    // A request pipelined behind this one gets a deadline of its own.
    Enter(c, Conn::Step::kReading);
    Queue(c);
    return true;
  }

  void Queue(Conn& c) {
    if (c.queued) return;
    c.queued = true;
    ready_.push_back(c.fd);
  }

  // Queues an error response after which the connection closes.
  bool Answer(Conn& c, const HttpResponse& res) {
    c.in.clear();
    c.out = http_wire::FormatResponse(res, false, false);
    c.out_sent = 0;
    c.close_after_write = true;
    return Flush(c);
  }

  // Sends what the socket takes. Returns false to close (error, or done with
  // a connection that ends after this response). Leaves the connection in
  // kWriting, watched for POLLOUT, while bytes remain.
  bool Flush(Conn& c) {
    while (c.out_sent < c.out.size()) {
      ssize_t n = ::send(c.fd, c.out.data() + c.out_sent, c.out.size() - c.out_sent, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno != EAGAIN) return false;
        if (c.step != Conn::Step::kWriting) {
          Enter(c, Conn::Step::kWriting);
          Watch(c.fd, EPOLLOUT, EPOLL_CTL_MOD);
        }
        return true;
      }
      c.out_sent += static_cast<std::size_t>(n);
    }
    if (c.close_after_write) return false;
    std::string().swap(c.out);  // a large /metrics body is not kept per idle connection
    c.out_sent = 0;
    if (c.step == Conn::Step::kWriting) {
      Watch(c.fd, c.paused ? 0u : static_cast<std::uint32_t>(EPOLLIN), EPOLL_CTL_MOD);
      Enter(c, c.in.empty() ? Conn::Step::kIdle : Conn::Step::kReading);
    }
    return true;
  }

  Handler handler_;
  HttpLimits limits_;
  std::mutex start_mu_;  // Start/Stop
  bool started_ = false, stopped_ = false;
  int listen_fd_ = -1, wake_fd_ = -1, epoll_fd_ = -1;
  std::string host_;
  int port_ = 0;
  std::thread loop_;
  // Owned by the loop thread while it runs.
  std::unordered_map<int, Conn> conns_;
  std::unordered_map<std::string, std::size_t> per_peer_;
  std::deque<int> ready_;  // connections with a pipelined request waiting
};

HttpServer::HttpServer(Handler handler, HttpLimits limits)
    : impl_(std::make_unique<Impl>(std::move(handler), limits)) {}
HttpServer::~HttpServer() = default;
std::string HttpServer::Start(const TcpAddress& address) { return impl_->Start(address); }
void HttpServer::Stop() { impl_->Stop(); }
int HttpServer::port() const { return impl_->port(); }
const std::string& HttpServer::host() const { return impl_->host(); }

}  // namespace deviceapi::base
