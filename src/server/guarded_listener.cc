#include "server/guarded_listener.h"

#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <limits>
#include <list>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "base/line_budget.h"
#include "base/logging.h"
#include "base/tcp_listen.h"
#include "metrics/registry.h"
#include "server/tls_termination.h"

namespace deviceapi::server {

namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* kConnectionLimit = "connection_limit";
constexpr const char* kBackoff = "backoff";
constexpr std::chrono::milliseconds kFirstBackoff{100};
constexpr std::chrono::milliseconds kMaxBackoff{30000};
constexpr std::chrono::seconds kForgetViolationsAfter{60};
constexpr std::size_t kMaxPeersRemembered = 4096;
// How long a rejected (or half-closed) connection may take to receive what
// is left for it; it still counts against the caps meanwhile.
constexpr std::chrono::milliseconds kLinger{500};
constexpr std::chrono::milliseconds kDeadlineTick{50};
constexpr int kWarnLinesPerSecond = 5;
constexpr int kMaxAcceptsPerRound = 64;
// How long a loop leaves the listening socket alone when the process is out
// of file descriptors, and how often it says so.
constexpr std::chrono::milliseconds kAcceptPause{100};
constexpr std::chrono::seconds kFdLimitWarningEvery{10};
constexpr int kMaxEvents = 128;
constexpr std::size_t kReadChunk = 64 << 10;
constexpr const char* kTlsHandshake = "tls_handshake";
// How long a client may take to finish its TLS handshake.
constexpr std::chrono::seconds kHandshakeTimeout{10};

// I/O results: bytes (>= 0; 0 from a read is the end), or one of these.
constexpr ssize_t kWouldBlock = -1;
constexpr ssize_t kFailed = -2;

ssize_t PlainResult(ssize_t r) {
  if (r >= 0) return r;
  return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? kWouldBlock : kFailed;
}

// Bytes waiting to go one way. Appends at the end, sends from `sent`;
// compacted when more than half is sent, so it never exceeds its cap. Its
// memory is handed back once empty: with hundreds of mostly idle watch
// connections, a buffer each would otherwise stay at its high-water mark.
constexpr std::size_t kKeptPipeCapacity = 4096;
struct Pipe {
  std::string data;
  std::size_t sent = 0;
  std::size_t pending() const { return data.size() - sent; }
  void Clear() {
    sent = 0;
    if (data.capacity() > kKeptPipeCapacity) std::string().swap(data);
    else data.clear();
  }
  void Compact() {
    if (sent > 0 && sent * 2 >= data.size()) {
      data.erase(0, sent);
      sent = 0;
    }
  }
  // Sends what it can with write(bytes, n) (an I/O result) without
  // blocking; false when the socket failed. Emptied once everything went.
  template <typename Write>
  bool SendWith(Write&& write) {
    while (pending() > 0) {
      const ssize_t w = write(data.data() + sent, pending());
      if (w == kWouldBlock) return true;
      if (w < 0) return false;
      sent += static_cast<std::size_t>(w);
    }
    Clear();
    return true;
  }
  bool SendTo(int fd) {
    return SendWith([fd](const char* p, std::size_t n) { return PlainResult(::send(fd, p, n, MSG_NOSIGNAL)); });
  }
};

struct Conn;

// What an epoll event points at: one side of a connection, or the loop's own
// listening socket or wake-up eventfd (conn null).
struct Side {
  Conn* conn = nullptr;
  bool client = false;
};

struct Conn {
  std::uint64_t seq = 0;  // accept order: the oldest is evicted first
  int client = -1;
  int pair = -1;  // our end of the socketpair; -1 once gRPC's side is closed
  std::string peer;
  Http2FrameGuard guard;
  std::uint64_t down_in = 0;  // bytes of gRPC's output taken into `down`
  Pipe up, down;              // client->gRPC, gRPC->client
  bool client_eof = false;
  bool closing = false;  // no more forwarding: send what `down` holds, then close
  bool client_wr_shut = false;
  Clock::time_point deadline{};  // closing (or half-closed) connections end by then
  // TLS (a TLS listener only): the session on `client`; gRPC's end of the
  // socketpair waits in `grpc_end` until the handshake is done, so a client
  // that never completes it never reaches gRPC.
  SSL* ssl = nullptr;
  bool handshaking = false;
  bool tls_wants_write = false;  // OpenSSL needs the socket writable to go on reading
  int grpc_end = -1;
  // epoll bookkeeping: the masks registered, and whether this round's events
  // touched it (then its masks and end are looked at once after the round).
  Side client_side, pair_side;
  std::uint32_t client_mask = 0, pair_mask = 0;
  bool touched = false;
  std::uint64_t counted_pending = 0;  // this connection's share of the listener's total
  std::list<Conn>::iterator self;
  explicit Conn(Http2GuardLimits limits) : guard(limits), client_side{this, true}, pair_side{this, false} {}
};

std::string UnixPeer(int fd) {
  ucred cred{};
  socklen_t len = sizeof(cred);
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return "unix";
  return "pid " + std::to_string(cred.pid) + " uid " + std::to_string(cred.uid);
}

}  // namespace

class GuardedListener::Impl {
 public:
  explicit Impl(GuardedListenerOptions options) : o_(std::move(options)) {
    o_.max_connections = std::max<std::size_t>(1, o_.max_connections);
    o_.max_connections_per_peer = std::max<std::size_t>(1, o_.max_connections_per_peer);
    o_.buffer_bytes = std::max<std::size_t>(4096, o_.buffer_bytes);
    // Evicting the oldest needs every connection in view: one loop.
    o_.threads = o_.cap_policy == ConnectionCapPolicy::kEvictOldest ? 1 : std::max<std::size_t>(1, o_.threads);
    if (o_.registry) {
      auto& family = o_.registry->AddCounter(
          o_.metric_prefix + "_connections_rejected_total",
          "Connections to " + o_.metric_subject + " closed by the HTTP/2 guard or the connection caps, by reason",
          {"reason"});
      // Every series exists from the start at zero.
      for (auto v : kAllHttp2Violations) family.WithLabels({Http2ViolationName(v)});
      family.WithLabels({kConnectionLimit});
      if (o_.back_off_peers) family.WithLabels({kBackoff});
      if (o_.tls) family.WithLabels({kTlsHandshake});
      rejected_ = &family;
      o_.registry->AddCallbackGauge(o_.metric_prefix + "_connections", "Open connections to " + o_.metric_subject,
                                    [live = live_] { return static_cast<double>(live->load()); });
    }
  }
  ~Impl() { Stop(); }

  std::string Start() {
    std::lock_guard<std::mutex> lock(start_mu_);
    if (started_) return o_.name + " listener already started";
    if (o_.listen_fd >= 0) {
      listen_fd_ = o_.listen_fd;
      o_.listen_fd = -1;
    } else {
      std::vector<std::string> hosts;
      if (o_.address.host.empty()) hosts = {"::", "0.0.0.0"};
      else hosts = {o_.address.host};
      std::string error;
      for (const std::string& h : hosts) {
        const int err = base::ListenTcp(h, o_.address.port, &listen_fd_, &port_);
        if (err == 0) break;
        error = "cannot listen on " + base::TcpAddress{h, o_.address.port}.ToString() + ": " + std::strerror(err);
        if (err == EADDRINUSE) break;
      }
      if (listen_fd_ < 0) return error;
      tcp_ = true;
    }
    for (std::size_t i = 0; i < o_.threads; ++i) {
      auto loop = std::make_unique<Loop>();
      loop->epoll_fd = ::epoll_create1(EPOLL_CLOEXEC);
      loop->wake_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
      if (loop->epoll_fd < 0 || loop->wake_fd < 0 || !Add(*loop, loop->wake_fd, &loop->wake_side, EPOLLIN) ||
          !Add(*loop, listen_fd_, &loop->listen_side, ListenEvents())) {
        const int err = errno;
        CloseLoop(*loop);
        for (auto& l : loops_) CloseLoop(*l);
        loops_.clear();
        ::close(listen_fd_);
        listen_fd_ = -1;
        return std::string("cannot create the event loop: ") + std::strerror(err);
      }
      loops_.push_back(std::move(loop));
    }
    started_ = true;
    for (auto& loop : loops_) loop->thread = std::thread([this, l = loop.get()] { Run(*l); });
    return "";
  }

  void StopAccepting() {
    std::lock_guard<std::mutex> lock(start_mu_);
    if (!started_ || stopped_ || listen_fd_ < 0) return;
    // Every loop drops the socket from its epoll set, then it is closed: no
    // loop can be inside accept() on a closed (or reused) descriptor.
    {
      std::unique_lock<std::mutex> ack(ack_mu_);
      accepting_.store(false);
      for (auto& loop : loops_) Wake(*loop);
      ack_cv_.wait(ack, [this] { return acks_ == loops_.size(); });
    }
    ::close(listen_fd_);
    listen_fd_ = -1;
  }

  bool WaitIdle(Clock::time_point deadline) {
    std::unique_lock<std::mutex> lock(idle_mu_);
    return idle_cv_.wait_until(lock, deadline, [this] { return live_->load() == 0; });
  }

  void Stop() {
    std::lock_guard<std::mutex> lock(start_mu_);
    if (!started_ || stopped_) return;
    stopped_ = true;
    stop_.store(true);
    for (auto& loop : loops_) {
      Wake(*loop);
      loop->thread.join();
    }
    for (auto& loop : loops_) {
      for (Conn& c : loop->conns) CloseConn(c);
      live_->fetch_sub(loop->conns.size());
      loop->conns.clear();
      CloseLoop(*loop);
    }
    if (listen_fd_ >= 0) ::close(listen_fd_);
    listen_fd_ = -1;
    idle_cv_.notify_all();
  }

  int port() const { return port_; }
  std::size_t connections() const { return live_->load(); }

 private:
  struct Loop {
    int epoll_fd = -1, wake_fd = -1;
    Side wake_side, listen_side;
    std::thread thread;
    std::list<Conn> conns;  // stable addresses: epoll events point into them
    std::vector<Conn*> touched;
    // TLS connections with decrypted bytes waiting inside OpenSSL, which
    // epoll cannot see: read again next round without waiting.
    std::vector<Conn*> again;
    std::size_t with_deadline = 0;
    bool listening = true;
    // Out of file descriptors: the listening socket is out of the epoll set
    // until then (PauseAccepting).
    bool accept_paused = false;
    Clock::time_point resume_accepting_at{};
  };

  static void CloseLoop(Loop& loop) {
    for (int* fd : {&loop.epoll_fd, &loop.wake_fd}) {
      if (*fd >= 0) ::close(*fd);
      *fd = -1;
    }
  }

  static bool Add(Loop& loop, int fd, Side* side, std::uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.ptr = side;
    return ::epoll_ctl(loop.epoll_fd, EPOLL_CTL_ADD, fd, &ev) == 0;
  }

  static void Wake(Loop& loop) {
    const std::uint64_t one = 1;
    if (::write(loop.wake_fd, &one, sizeof(one)) < 0) {
      // Cannot fail on a valid eventfd short of overflow, and then the loop
      // is awake anyway.
    }
  }

  void Run(Loop& loop) {
    epoll_event events[kMaxEvents];
    auto next_tick = Clock::now() + kDeadlineTick;
    while (!stop_.load()) {
      int timeout = -1;
      if (!loop.again.empty()) {
        timeout = 0;
      } else if (loop.with_deadline > 0) {
        timeout = static_cast<int>(std::max<std::int64_t>(
            0, std::chrono::duration_cast<std::chrono::milliseconds>(next_tick - Clock::now()).count()));
      }
      if (loop.accept_paused) {
        const int until_resume = static_cast<int>(std::max<std::int64_t>(
            0, std::chrono::duration_cast<std::chrono::milliseconds>(loop.resume_accepting_at - Clock::now()).count()));
        timeout = timeout < 0 ? until_resume : std::min(timeout, until_resume);
      }
      const int n = ::epoll_wait(loop.epoll_fd, events, kMaxEvents, timeout);
      if (n < 0 && errno != EINTR) break;
      if (stop_.load()) break;
      const auto now = Clock::now();
      bool accept = ResumeAccepting(loop, now);
      std::vector<Conn*> again;
      again.swap(loop.again);
      for (Conn* c : again) {
        OnClient(loop, *c, EPOLLIN, now);
        Touch(loop, *c);
      }
      for (int i = 0; i < n; ++i) {
        auto* side = static_cast<Side*>(events[i].data.ptr);
        if (side == &loop.wake_side) {
          std::uint64_t v;
          while (::read(loop.wake_fd, &v, sizeof(v)) > 0) {
          }
          if (!accepting_.load()) StopListening(loop);
          continue;
        }
        if (side == &loop.listen_side) {
          accept = loop.listening;
          continue;
        }
        Conn& c = *side->conn;
        const auto revents = events[i].events;
        if (side->client) OnClient(loop, c, revents, now);
        else OnPair(loop, c, revents, now);
        Touch(loop, c);
      }
      if (accept) Accept(loop, now);
      if (loop.with_deadline > 0 && now >= next_tick) {
        next_tick = now + kDeadlineTick;
        for (Conn& c : loop.conns) {
          if (c.deadline != Clock::time_point{}) Touch(loop, c);
        }
      }
      Settle(loop, now);
    }
    // A loop that ends (Stop, or epoll failing) accepts no more either, so
    // StopAccepting never waits for it.
    StopListening(loop);
  }

  std::uint32_t ListenEvents() const {
    return EPOLLIN | (o_.threads > 1 ? static_cast<std::uint32_t>(EPOLLEXCLUSIVE) : 0u);
  }

  // accept() failed for want of file descriptors (a container's low limit):
  // the connection stays pending and the listening socket readable, so epoll
  // would wake this loop again at once, forever. The loop leaves the socket
  // alone for a moment instead; pending connections wait in the backlog,
  // and the connections it has are served meanwhile (S32).
  void PauseAccepting(Loop& loop, Clock::time_point now, int error) {
    if (!loop.listening || loop.accept_paused) return;
    ::epoll_ctl(loop.epoll_fd, EPOLL_CTL_DEL, listen_fd_, nullptr);
    loop.accept_paused = true;
    loop.resume_accepting_at = now + kAcceptPause;
    const std::int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
    std::int64_t last = last_fd_warning_ms_.load();
    if (now_ms - last >= std::chrono::milliseconds(kFdLimitWarningEvery).count() &&
        last_fd_warning_ms_.compare_exchange_strong(last, now_ms)) {
      base::LogWarn(o_.name + " listener out of file descriptors; new connections wait",
                    {{"error", std::strerror(error)},
                     {"connections", static_cast<std::uint64_t>(live_->load())},
                     {"pause_ms", static_cast<std::uint64_t>(kAcceptPause.count())}});
    }
  }

  // True when the loop watches the listening socket again and should try
  // accepting now.
  bool ResumeAccepting(Loop& loop, Clock::time_point now) {
    if (!loop.accept_paused || now < loop.resume_accepting_at) return false;
    if (!loop.listening) {
      loop.accept_paused = false;
      return false;
    }
    if (!Add(loop, listen_fd_, &loop.listen_side, ListenEvents())) {
      loop.resume_accepting_at = now + kAcceptPause;  // out of memory for epoll: later
      return false;
    }
    loop.accept_paused = false;
    return true;
  }

  void StopListening(Loop& loop) {
    if (!loop.listening) return;
    if (!loop.accept_paused) ::epoll_ctl(loop.epoll_fd, EPOLL_CTL_DEL, listen_fd_, nullptr);
    loop.listening = false;
    std::lock_guard<std::mutex> ack(ack_mu_);
    ++acks_;
    ack_cv_.notify_all();
  }

  static void Touch(Loop& loop, Conn& c) {
    if (c.touched) return;
    c.touched = true;
    loop.touched.push_back(&c);
  }

  // After a round: each connection it touched is ended, or its epoll masks
  // are brought in line with its buffers.
  void Settle(Loop& loop, Clock::time_point now) {
    if (o_.max_pending_bytes_total > 0) BoundPendingBytes(loop, now);
    for (Conn* cp : loop.touched) {
      Conn& c = *cp;
      c.touched = false;
      if (c.client >= 0 && c.deadline != Clock::time_point{} && now >= c.deadline) {
        if (c.handshaking) {  // a TLS client that never finished its handshake
          Count(kTlsHandshake);
          Warn(c, kTlsHandshake, now, "handshake not finished in time");
        }
        CloseConn(c);
      }
      if (c.client >= 0 && c.closing && c.client_wr_shut && c.pair < 0 && c.client_eof) CloseConn(c);
      if (c.client < 0) {
        CountPending(c);
        if (c.deadline != Clock::time_point{}) --loop.with_deadline;
        loop.conns.erase(c.self);
        if (live_->fetch_sub(1) == 1) {
          std::lock_guard<std::mutex> lock(idle_mu_);
          idle_cv_.notify_all();
        }
        continue;
      }
      Rearm(loop, c);
      if (c.ssl && !c.handshaking && (c.client_mask & EPOLLIN) != 0 && SSL_has_pending(c.ssl) == 1) {
        loop.again.push_back(&c);
      }
    }
    loop.touched.clear();
  }

  // Brings `c`'s share of the half-sent request bytes up to date: what its
  // guard counts while gRPC still holds the connection, else nothing.
  void CountPending(Conn& c) {
    const std::uint64_t now_pending = c.client >= 0 && c.pair >= 0 ? c.guard.pending_bytes() : 0;
    if (now_pending == c.counted_pending) return;
    pending_total_.fetch_add(static_cast<std::int64_t>(now_pending) - static_cast<std::int64_t>(c.counted_pending));
    c.counted_pending = now_pending;
  }

  // Over the listener's cap on half-sent request bytes: the connection of
  // this loop holding the most is closed, until the total is under it.
  void BoundPendingBytes(Loop& loop, Clock::time_point now) {
    for (Conn* c : loop.touched) CountPending(*c);
    while (pending_total_.load() > static_cast<std::int64_t>(o_.max_pending_bytes_total)) {
      Conn* hog = nullptr;
      for (Conn& c : loop.conns) {
        if (c.counted_pending > 0 && !c.closing && (!hog || c.counted_pending > hog->counted_pending)) hog = &c;
      }
      if (!hog) return;  // the bytes are another loop's
      Reject(loop, *hog, Http2ViolationName(Http2Violation::kPendingBytes), now);
      CountPending(*hog);
      Touch(loop, *hog);
    }
  }

  void Rearm(Loop& loop, Conn& c) {
    const std::size_t cap = o_.buffer_bytes;
    std::uint32_t ce = 0, pe = 0;
    if (c.handshaking) {
      ce |= EPOLLIN;
    } else if (c.closing) {
      ce |= EPOLLIN;  // drained and dropped, so that close() sends FIN, not RST
    } else if (!c.client_eof && c.up.pending() < cap && c.down.pending() < cap) {
      ce |= EPOLLIN;
    }
    if ((c.down.pending() > 0 && !c.handshaking) || c.tls_wants_write) ce |= EPOLLOUT;
    if (ce != c.client_mask) {
      epoll_event ev{};
      ev.events = ce;
      ev.data.ptr = &c.client_side;
      ::epoll_ctl(loop.epoll_fd, EPOLL_CTL_MOD, c.client, &ev);
      c.client_mask = ce;
    }
    if (c.pair >= 0 && !c.handshaking) {
      if (c.down.pending() < cap) pe |= EPOLLIN;
      if (c.up.pending() > 0) pe |= EPOLLOUT;
      if (pe != c.pair_mask) {
        epoll_event ev{};
        ev.events = pe;
        ev.data.ptr = &c.pair_side;
        ::epoll_ctl(loop.epoll_fd, EPOLL_CTL_MOD, c.pair, &ev);
        c.pair_mask = pe;
      }
    }
  }

  static void SetDeadline(Loop& loop, Conn& c, Clock::time_point at) {
    if (c.deadline == Clock::time_point{}) ++loop.with_deadline;
    c.deadline = at;
  }

  static void ClearDeadline(Loop& loop, Conn& c) {
    if (c.deadline == Clock::time_point{}) return;
    --loop.with_deadline;
    c.deadline = Clock::time_point{};
  }

  // The client's bytes: decrypted on a TLS listener. An I/O result.
  static ssize_t ReadClient(Conn& c, char* buf, std::size_t n) {
    if (!c.ssl) return PlainResult(::recv(c.client, buf, n, 0));
    ERR_clear_error();
    const int r = SSL_read(c.ssl, buf, static_cast<int>(std::min<std::size_t>(n, INT32_MAX)));
    if (r > 0) return r;
    switch (SSL_get_error(c.ssl, r)) {
      case SSL_ERROR_WANT_READ: return kWouldBlock;
      case SSL_ERROR_WANT_WRITE: c.tls_wants_write = true; return kWouldBlock;
      case SSL_ERROR_ZERO_RETURN: return 0;
      default: return kFailed;
    }
  }

  // Bytes to the client: encrypted on a TLS listener. An I/O result.
  static ssize_t WriteClient(Conn& c, const char* p, std::size_t n) {
    if (!c.ssl) return PlainResult(::send(c.client, p, n, MSG_NOSIGNAL));
    ERR_clear_error();
    const int w = SSL_write(c.ssl, p, static_cast<int>(std::min<std::size_t>(n, INT32_MAX)));
    if (w > 0) return w;
    switch (SSL_get_error(c.ssl, w)) {
      case SSL_ERROR_WANT_READ:
      case SSL_ERROR_WANT_WRITE: return kWouldBlock;
      default: return kFailed;
    }
  }

  // One step of a TLS handshake; once it is done gRPC gets the connection.
  void Handshake(Loop& loop, Conn& c, Clock::time_point now) {
    c.tls_wants_write = false;
    ERR_clear_error();
    const int r = SSL_do_handshake(c.ssl);
    if (r == 1) {
      c.handshaking = false;
      ClearDeadline(loop, c);
      const int fd = c.grpc_end;
      c.grpc_end = -1;
      o_.serve(fd);
      return;
    }
    const int e = SSL_get_error(c.ssl, r);
    if (e == SSL_ERROR_WANT_READ) return;
    if (e == SSL_ERROR_WANT_WRITE) {
      c.tls_wants_write = true;
      return;
    }
    // A client without a trusted certificate, a plaintext client, a scanner.
    char why[160] = {};
    ERR_error_string_n(ERR_peek_error(), why, sizeof(why));
    ERR_clear_error();
    Count(kTlsHandshake);
    Warn(c, kTlsHandshake, now, why);
    Drop(c);
  }

  void OnClient(Loop& loop, Conn& c, std::uint32_t revents, Clock::time_point now) {
    if (c.client < 0) return;
    if (c.handshaking) {
      Handshake(loop, c, now);
      if (c.client < 0 || c.handshaking) return;
      revents |= EPOLLIN;  // application data may have come with its end
    }
    const bool read_was_blocked = c.tls_wants_write && (revents & EPOLLOUT) != 0;
    c.tls_wants_write = false;
    if (revents & EPOLLOUT) Flush(c);
    if (c.client < 0) return;
    if ((revents & (EPOLLIN | EPOLLHUP | EPOLLERR)) || read_was_blocked) {
      char buf[kReadChunk];
      const std::size_t room = c.closing ? sizeof(buf)
                                         : std::min(sizeof(buf), o_.buffer_bytes - std::min(o_.buffer_bytes, c.up.pending()));
      if (room == 0 || (!c.closing && c.client_eof)) {
        // Not asked to read (a full buffer, or the client's end already
        // seen): a hang-up would wake epoll again and again, and the client
        // is gone anyway.
        if (revents & (EPOLLHUP | EPOLLERR)) Drop(c);
        return;
      }
      const ssize_t r = ReadClient(c, buf, room);
      if (r < 0) {
        if (r == kFailed) Drop(c);
        return;
      }
      if (r == 0) {
        if (c.closing || c.client_eof) {
          Drop(c);
          return;
        }
        // The client is done sending: pass that on to gRPC once `up` is
        // through, and let gRPC's answer reach the client for a while.
        c.client_eof = true;
        SetDeadline(loop, c, now + kLinger * 4);
        if (c.up.pending() == 0 && c.pair >= 0) ::shutdown(c.pair, SHUT_WR);
        return;
      }
      if (c.closing) return;  // dropped
      const std::string_view bytes(buf, static_cast<std::size_t>(r));
      const Http2Violation v = c.guard.Feed(bytes, now);
      if (v != Http2Violation::kNone) {
        Reject(loop, c, Http2ViolationName(v), now);
        return;
      }
      if (c.up.pending() == 0 && c.pair >= 0) {
        // The usual case: straight through, buffering only what the pair
        // cannot take now.
        const ssize_t w = ::send(c.pair, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
          Drop(c);
          return;
        }
        const std::size_t taken = w > 0 ? static_cast<std::size_t>(w) : 0;
        if (taken < bytes.size()) c.up.data.append(bytes.substr(taken));
        return;
      }
      c.up.Compact();
      c.up.data.append(bytes);
      if (c.pair >= 0) FlushUp(c);
    }
  }

  void OnPair(Loop& loop, Conn& c, std::uint32_t revents, Clock::time_point now) {
    if (c.pair < 0) return;
    if (revents & EPOLLOUT) FlushUp(c);
    if (c.pair < 0) return;
    if (revents & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
      char buf[kReadChunk];
      const std::size_t room = std::min(sizeof(buf), o_.buffer_bytes - std::min(o_.buffer_bytes, c.down.pending()));
      if (room == 0) {
        // gRPC hung up while the client is not reading: stop watching its
        // side (it would wake epoll again and again); `down` still goes out.
        if (revents & (EPOLLHUP | EPOLLERR)) ClosePair(loop, c, now);
        return;
      }
      const ssize_t r = ::recv(c.pair, buf, room, 0);
      if (r < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) Drop(c);
        return;
      }
      if (r == 0) {
        // gRPC closed the connection: send what it said, then close.
        ClosePair(loop, c, now);
        Flush(c);
        return;
      }
      const std::string_view bytes(buf, static_cast<std::size_t>(r));
      c.guard.FeedServer(bytes);
      c.down_in += bytes.size();
      if (c.down.pending() == 0 && c.client >= 0) {
        const ssize_t w = WriteClient(c, bytes.data(), bytes.size());
        if (w == kFailed) {
          Drop(c);
          return;
        }
        const std::size_t taken = w > 0 ? static_cast<std::size_t>(w) : 0;
        if (taken < bytes.size()) c.down.data.append(bytes.substr(taken));
        return;
      }
      c.down.Compact();
      c.down.data.append(bytes);
      Flush(c);
    }
  }

  void ClosePair(Loop& loop, Conn& c, Clock::time_point now) {
    ::close(c.pair);
    c.pair = -1;
    c.closing = true;
    SetDeadline(loop, c, now + kLinger);
  }

  // Client -> gRPC.
  void FlushUp(Conn& c) {
    if (c.pair < 0) return;
    if (!c.up.SendTo(c.pair)) {
      Drop(c);
      return;
    }
    if (c.up.pending() == 0 && c.client_eof) ::shutdown(c.pair, SHUT_WR);
  }

  // gRPC (or the guard's GOAWAY) -> client.
  void Flush(Conn& c) {
    if (c.client < 0 || c.handshaking) return;
    if (!c.down.SendWith([&c](const char* p, std::size_t n) { return WriteClient(c, p, n); })) {
      Drop(c);
      return;
    }
    if (c.down.pending() == 0 && c.closing && !c.client_wr_shut) {
      if (c.ssl) SSL_shutdown(c.ssl);  // close_notify, best effort
      ::shutdown(c.client, SHUT_WR);
      c.client_wr_shut = true;
    }
  }

  void Reject(Loop& loop, Conn& c, const char* reason, Clock::time_point now) {
    // gRPC's side first: closing it frees the connection's streams.
    if (c.pair >= 0) {
      ::close(c.pair);
      c.pair = -1;
    }
    c.up.Clear();
    // The GOAWAY goes after the last complete frame of gRPC's output, if
    // that frame boundary has not been passed already (then the frame in
    // flight cannot be completed and the client just sees the close).
    const std::uint64_t sent = c.down_in - c.down.pending();
    const std::uint64_t boundary = c.guard.server_boundary();
    if (boundary >= sent) {
      c.down.data.resize(c.down.sent + static_cast<std::size_t>(boundary - sent));
      c.down.data += Http2GoAwayFrame(c.guard.highest_stream_id(), kHttp2EnhanceYourCalm);
    } else {
      c.down.Clear();
    }
    c.closing = true;
    SetDeadline(loop, c, now + kLinger);
    Count(reason);
    Warn(c, reason, now);
    Flush(c);
    if (o_.back_off_peers) BackOff(c.peer, now);
  }

  // A violation by `peer`: its next connections are closed at accept for a
  // while (guarded_listener.h).
  void BackOff(const std::string& peer, Clock::time_point now) {
    std::lock_guard<std::mutex> lock(backoff_mu_);
    if (backoff_.size() >= kMaxPeersRemembered && backoff_.find(peer) == backoff_.end()) {
      for (auto it = backoff_.begin(); it != backoff_.end();) {
        if (now - it->second.last > kForgetViolationsAfter) it = backoff_.erase(it);
        else ++it;
      }
      if (backoff_.size() >= kMaxPeersRemembered) backoff_.erase(backoff_.begin());
    }
    Backoff& b = backoff_[peer];
    if (now - b.last > kForgetViolationsAfter) b.strikes = 0;
    b.last = now;
    const auto wait = std::min<Clock::duration>(kMaxBackoff, kFirstBackoff * (1LL << std::min(b.strikes, 20)));
    ++b.strikes;
    b.until = now + wait;
  }

  bool BackingOff(const std::string& peer, Clock::time_point now) {
    std::lock_guard<std::mutex> lock(backoff_mu_);
    const auto it = backoff_.find(peer);
    return it != backoff_.end() && now < it->second.until;
  }

  void Count(const char* reason) {
    if (rejected_) rejected_->WithLabels({reason}).Inc();
  }

  void Warn(const Conn& c, const char* reason, Clock::time_point now, const char* detail = nullptr) {
    std::uint64_t dropped = 0;
    if (!warn_budget_.Admit(&dropped, now)) return;
    base::LogFields fields{{"peer", c.peer},
                           {"reason", reason},
                           {"streams", static_cast<std::uint64_t>(c.guard.streams_opened())},
                           {"open_streams", static_cast<std::uint64_t>(c.guard.open_streams())},
                           {"resets", static_cast<std::uint64_t>(c.guard.resets())}};
    if (detail && *detail) fields.emplace_back("detail", detail);
    if (dropped > 0) fields.emplace_back("suppressed", dropped);
    base::LogWarn(o_.name + " connection closed", fields);
  }

  void Accept(Loop& loop, Clock::time_point now) {
    for (int i = 0; i < kMaxAcceptsPerRound; ++i) {
      sockaddr_storage ss{};
      socklen_t len = sizeof(ss);
      const int fd = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EMFILE || errno == ENFILE) PauseAccepting(loop, now, errno);
        return;  // EAGAIN, or a connection that went away; epoll says when to retry
      }
      std::string peer;
      if (tcp_) {
        int yes = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof(yes));
        peer = base::PeerAddress(ss);
      } else {
        peer = UnixPeer(fd);
      }
      if (o_.back_off_peers && BackingOff(peer, now)) {
        Count(kBackoff);
        Conn refused(o_.guard);
        refused.peer = std::move(peer);
        Warn(refused, kBackoff, now);
        ::close(fd);
        continue;
      }
      if (o_.cap_policy == ConnectionCapPolicy::kRefuseNew) {
        if (live_->load() >= o_.max_connections && EvictOldestHandshake(loop, now)) {
          // Room made: a client that has not finished its TLS handshake has
          // not authenticated, so it gives way to a new one rather than
          // holding the cap against clients that do (up to 10 s each).
        } else if (live_->load() >= o_.max_connections) {
          Count(kConnectionLimit);
          Conn refused(o_.guard);
          refused.peer = std::move(peer);
          Warn(refused, kConnectionLimit, now);
          ::close(fd);
          continue;
        }
      } else {
        MakeRoom(loop, peer, now);
      }
      int sv[2];
      // Both ends non-blocking: gRPC's endpoint expects it of the fd it is given.
      if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) != 0) {
        ::close(fd);
        continue;
      }
      Conn& c = loop.conns.emplace_back(o_.guard);
      c.self = std::prev(loop.conns.end());
      c.seq = next_seq_.fetch_add(1);
      c.client = fd;
      c.pair = sv[0];
      c.peer = std::move(peer);
      c.client_mask = EPOLLIN;
      c.pair_mask = EPOLLIN;
      live_->fetch_add(1);
      if (o_.tls) {
        c.ssl = o_.tls->NewSession(fd);
        c.handshaking = true;
        c.grpc_end = sv[1];
        c.pair_mask = 0;  // gRPC is not told of the connection before the handshake is done
        SetDeadline(loop, c, now + kHandshakeTimeout);
      }
      if ((o_.tls && !c.ssl) || !Add(loop, c.client, &c.client_side, c.client_mask) ||
          !Add(loop, c.pair, &c.pair_side, c.pair_mask)) {
        if (!o_.tls) ::close(sv[1]);
        CloseConn(c);
        Touch(loop, c);
        continue;
      }
      if (!o_.tls) o_.serve(sv[1]);
    }
  }

  // kEvictOldest: closes the oldest connection of `peer` at its cap, then
  // the oldest of anyone at the total cap; one already being closed
  // (rejected, or gRPC done with it) goes before any live one.
  void MakeRoom(Loop& loop, const std::string& peer, Clock::time_point now) {
    auto before = [](const Conn* a, const Conn* b) {
      return !b || (a->closing != b->closing ? a->closing : a->seq < b->seq);
    };
    std::size_t mine = 0;
    Conn* oldest_mine = nullptr;
    std::size_t live = 0;
    Conn* oldest = nullptr;
    for (Conn& c : loop.conns) {
      if (c.client < 0) continue;
      ++live;
      if (before(&c, oldest)) oldest = &c;
      if (c.peer == peer) {
        ++mine;
        if (before(&c, oldest_mine)) oldest_mine = &c;
      }
    }
    Conn* victim = nullptr;
    if (mine >= o_.max_connections_per_peer) victim = oldest_mine;
    else if (live >= o_.max_connections) victim = oldest;
    if (!victim) return;
    if (!victim->closing) {  // a rejected one was counted already
      Count(kConnectionLimit);
      Warn(*victim, kConnectionLimit, now);
    }
    Drop(*victim);
    Touch(loop, *victim);
  }

  // Closes the connection of this loop that has waited longest in its TLS
  // handshake; false when none is handshaking.
  bool EvictOldestHandshake(Loop& loop, Clock::time_point now) {
    Conn* oldest = nullptr;
    for (Conn& c : loop.conns) {
      if (c.client >= 0 && c.handshaking && (!oldest || c.seq < oldest->seq)) oldest = &c;
    }
    if (!oldest) return false;
    Count(kTlsHandshake);
    Warn(*oldest, kTlsHandshake, now, "handshake not finished when the connection cap was reached");
    Drop(*oldest);
    Touch(loop, *oldest);  // Settle removes it and uncounts it: until then one over the cap
    return true;
  }

  // Closes both sides now; Settle removes it.
  void Drop(Conn& c) { CloseConn(c); }

  static void CloseConn(Conn& c) {
    if (c.pair >= 0) ::close(c.pair);
    if (c.grpc_end >= 0) ::close(c.grpc_end);
    if (c.client >= 0) ::close(c.client);
    if (c.ssl) SSL_free(c.ssl);
    c.ssl = nullptr;
    c.pair = c.client = c.grpc_end = -1;
  }

  GuardedListenerOptions o_;
  metrics::CounterFamily* rejected_ = nullptr;
  std::mutex start_mu_;
  bool started_ = false, stopped_ = false, tcp_ = false;
  std::atomic<bool> stop_{false};
  std::atomic<bool> accepting_{true};
  std::mutex ack_mu_;
  std::condition_variable ack_cv_;
  std::size_t acks_ = 0;
  std::mutex idle_mu_;
  std::condition_variable idle_cv_;
  // Shared with the metrics callback, which may outlive this object.
  std::shared_ptr<std::atomic<std::size_t>> live_ = std::make_shared<std::atomic<std::size_t>>(0);
  std::vector<std::unique_ptr<Loop>> loops_;
  int listen_fd_ = -1, port_ = 0;
  std::atomic<std::uint64_t> next_seq_{0};
  std::atomic<std::int64_t> pending_total_{0};
  struct Backoff {
    Clock::time_point until{}, last{};
    int strikes = 0;
  };
  std::mutex backoff_mu_;
  std::unordered_map<std::string, Backoff> backoff_;
  base::LineBudget warn_budget_{kWarnLinesPerSecond};
  std::atomic<std::int64_t> last_fd_warning_ms_{std::numeric_limits<std::int64_t>::min() / 2};
};

GuardedListener::GuardedListener(GuardedListenerOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}
GuardedListener::~GuardedListener() = default;
std::string GuardedListener::Start() { return impl_->Start(); }
void GuardedListener::StopAccepting() { impl_->StopAccepting(); }
bool GuardedListener::WaitIdle(std::chrono::steady_clock::time_point deadline) { return impl_->WaitIdle(deadline); }
void GuardedListener::Stop() { impl_->Stop(); }
int GuardedListener::port() const { return impl_->port(); }
std::size_t GuardedListener::connections() const { return impl_->connections(); }

}  // namespace deviceapi::server
