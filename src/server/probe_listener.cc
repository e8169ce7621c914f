#include "server/probe_listener.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <list>
#include <mutex>
#include <thread>
#include <vector>

#include "base/logging.h"
#include "base/tcp_listen.h"
#include "metrics/registry.h"

namespace deviceapi::server {

namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* kRejectedMetric = "device_apiserver_probe_connections_rejected_total";
constexpr const char* kConnectionLimit = "connection_limit";
// How long a rejected (or half-closed) connection may take to receive what
// is left for it; it still counts against the caps meanwhile.
constexpr std::chrono::milliseconds kLinger{500};
constexpr int kWarnLinesPerSecond = 5;
constexpr int kMaxAcceptsPerRound = 64;


// Bytes waiting to go one way. Appends at the end, sends from `sent`;
// compacted when more than half is sent, so it never exceeds its cap.
struct Pipe {
  std::string data;
  std::size_t sent = 0;
  std::size_t pending() const { return data.size() - sent; }
  void Compact() {
    if (sent > 0 && sent * 2 >= data.size()) {
      data.erase(0, sent);
      sent = 0;
    }
  }
  // Sends what it can to fd without blocking; false when the socket failed. Emptied once
  // everything went.
  bool SendTo(int fd) {
    while (pending() > 0) {
      const ssize_t w = ::send(fd, data.data() + sent, pending(), MSG_NOSIGNAL);
      if (w < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
      sent += static_cast<std::size_t>(w);
    }
    data.clear();
    sent = 0;
    return true;
  }
};

struct Conn {
  std::uint64_t seq = 0;  // accept order: the oldest is evicted first
  int client = -1;
  int pair = -1;  // our end of the socketpair; -1 once gRPC's side is closed
  std::string peer;
  Http2FrameGuard guard;
  Http2FrameReader down_frames{false};  // gRPC's output, for GOAWAY placement
  std::uint64_t down_in = 0;            // bytes of gRPC's output taken into `down`
  Pipe up, down;                        // client->gRPC, gRPC->client
  bool client_eof = false;
  bool closing = false;  // no more forwarding: send what `down` holds, then close
  bool client_wr_shut = false;
  Clock::time_point deadline{};  // closing (or half-closed) connections end by then
  explicit Conn(Http2GuardLimits limits) : guard(limits) {}
};

}  // namespace

class ProbeListener::Impl {
 public:
  explicit Impl(ProbeListenerOptions options) : o_(std::move(options)) {
    o_.max_connections = std::max<std::size_t>(1, o_.max_connections);
    o_.max_connections_per_peer = std::max<std::size_t>(1, o_.max_connections_per_peer);
    o_.buffer_bytes = std::max<std::size_t>(4096, o_.buffer_bytes);
    if (o_.registry) {
      auto& family = o_.registry->AddCounter(
          kRejectedMetric,
          "Connections to the health-probe port closed by the HTTP/2 guard or the connection caps, by reason",
          {"reason"});
      // Every series exists from the start at zero.
      for (auto v : {Http2Violation::kBadPreface, Http2Violation::kFrameTooLarge, Http2Violation::kStreamRate,
                     Http2Violation::kResets}) {
        family.WithLabels({Http2ViolationName(v)});
      }
      family.WithLabels({kConnectionLimit});
      rejected_ = &family;
    }
  }
  ~Impl() { Stop(); }

  std::string Start() {
    std::lock_guard<std::mutex> lock(start_mu_);
    if (started_) return "probe listener already started";
    std::vector<std::string> hosts;
    if (o_.address.host.empty()) hosts = {"::", "0.0.0.0"};
    else hosts = {o_.address.host};
    std::string error;
    for (const std::string& h : hosts) {
      const int err = Listen(h, o_.address.port);
      if (err == 0) break;
      error = "cannot listen on " + base::TcpAddress{h, o_.address.port}.ToString() + ": " + std::strerror(err);
      if (err == EADDRINUSE) break;
    }
    if (listen_fd_ < 0) return error;
    wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wake_fd_ < 0) {
      const int err = errno;
      ::close(listen_fd_);
      listen_fd_ = -1;
      return std::string("cannot create the event loop: ") + std::strerror(err);
    }
    started_ = true;
    thread_ = std::thread([this] { Loop(); });
    return "";
  }

  void Stop() {
    std::lock_guard<std::mutex> lock(start_mu_);
    if (!started_ || stopped_) return;
    stopped_ = true;
    stop_.store(true);
    const std::uint64_t one = 1;
    if (::write(wake_fd_, &one, sizeof(one)) < 0) {
      // Cannot fail on a valid eventfd short of overflow; the loop also
      // wakes every kLinger.
    }
    thread_.join();
    for (Conn& c : conns_) CloseConn(c);
    conns_.clear();
    for (int* fd : {&listen_fd_, &wake_fd_}) {
      if (*fd >= 0) ::close(*fd);
      *fd = -1;
    }
  }

  int port() const { return port_; }

 private:
  // Returns 0 or an errno (base/tcp_listen.h).
  int Listen(const std::string& host, int port) { return base::ListenTcp(host, port, &listen_fd_, &port_); }

  void Loop() {
    std::vector<pollfd> fds;
    std::vector<Conn*> owners;  // fds[i] belongs to owners[i] (null: listen/wake)
    while (!stop_.load()) {
      fds.clear();
      owners.clear();
      fds.push_back({wake_fd_, POLLIN, 0});
      owners.push_back(nullptr);
      fds.push_back({listen_fd_, POLLIN, 0});
      owners.push_back(nullptr);
      const std::size_t cap = o_.buffer_bytes;
      bool any_deadline = false;
      for (Conn& c : conns_) {
        short ce = 0, pe = 0;
        if (c.closing) {
          ce |= POLLIN;  // drained and dropped, so that close() sends FIN, not RST
        } else if (!c.client_eof && c.up.pending() < cap && c.down.pending() < cap) {
          ce |= POLLIN;
        }
        if (c.down.pending() > 0) ce |= POLLOUT;
        fds.push_back({c.client, ce, 0});
        owners.push_back(&c);
        if (c.pair >= 0) {
          if (c.down.pending() < cap) pe |= POLLIN;
          if (c.up.pending() > 0) pe |= POLLOUT;
          fds.push_back({c.pair, pe, 0});
          owners.push_back(&c);
        }
        if (c.deadline != Clock::time_point{}) any_deadline = true;
      }
      const int timeout = any_deadline ? 50 : -1;
      const int n = ::poll(fds.data(), fds.size(), timeout);
      if (n < 0 && errno != EINTR) break;
      if (stop_.load()) break;
      const auto now = Clock::now();
      if (n > 0) {
        for (std::size_t i = 2; i < fds.size(); ++i) {
          if (fds[i].revents == 0) continue;
          Conn& c = *owners[i];
          if (fds[i].fd == c.client) OnClient(c, fds[i].revents, now);
          else if (fds[i].fd == c.pair) OnPair(c, fds[i].revents);
        }
        if (fds[1].revents & POLLIN) Accept(now);
      }
      Reap(now);
    }
  }

  void OnClient(Conn& c, short revents, Clock::time_point now) {
    if (c.client < 0) return;
    if (revents & POLLOUT) Flush(c);
    if (c.client < 0) return;
    if (revents & (POLLIN | POLLHUP | POLLERR)) {
      char buf[16 << 10];
      const std::size_t room = c.closing ? sizeof(buf)
                                         : std::min(sizeof(buf), o_.buffer_bytes - std::min(o_.buffer_bytes, c.up.pending()));
      if (room == 0) {
        // Not asked to read (a full buffer): a hang-up would wake poll
        // again and again, and the client is gone anyway.
        if (revents & (POLLHUP | POLLERR)) Drop(c);
        return;
      }
      const ssize_t r = ::recv(c.client, buf, room, 0);
      if (r < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) Drop(c);
        return;
      }
      if (r == 0) {
        // A second EOF only comes with POLLHUP (not asked to read after
        // the first): the socket is dead both ways.
        if (c.closing || c.client_eof) {
          Drop(c);
          return;
        }
        // The client is done sending: pass that on to gRPC once `up` is
        // through, and let gRPC's answer reach the client for a while.
        c.client_eof = true;
        c.deadline = now + kLinger * 4;
        if (c.up.pending() == 0 && c.pair >= 0) ::shutdown(c.pair, SHUT_WR);
        return;
      }
      if (c.closing) return;  // dropped
      const std::string_view bytes(buf, static_cast<std::size_t>(r));
      const Http2Violation v = c.guard.Feed(bytes, now);
      if (v != Http2Violation::kNone) {
        Reject(c, Http2ViolationName(v), now);
        return;
      }
      c.up.Compact();
      c.up.data.append(bytes);
      if (c.pair >= 0) FlushUp(c);
    }
  }

  void OnPair(Conn& c, short revents) {
    if (c.pair < 0) return;
    if (revents & POLLOUT) FlushUp(c);
    if (c.pair < 0) return;
    if (revents & (POLLIN | POLLHUP | POLLERR)) {
      char buf[16 << 10];
      const std::size_t room = std::min(sizeof(buf), o_.buffer_bytes - std::min(o_.buffer_bytes, c.down.pending()));
      if (room == 0) {
        // gRPC hung up while the client is not reading: stop polling its
        // side (it would wake poll again and again); `down` still goes out.
        if (revents & (POLLHUP | POLLERR)) {
          ::close(c.pair);
          c.pair = -1;
          c.closing = true;
          c.deadline = Clock::now() + kLinger;
        }
        return;
      }
      const ssize_t r = ::recv(c.pair, buf, room, 0);
      if (r < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) Drop(c);
        return;
      }
      if (r == 0) {
        // gRPC closed the connection: send what it said, then close.
        ::close(c.pair);
        c.pair = -1;
        c.closing = true;
        c.deadline = Clock::now() + kLinger;
        Flush(c);
        return;
      }
      const std::string_view bytes(buf, static_cast<std::size_t>(r));
      c.down_frames.Feed(bytes, [](const Http2FrameHeader&) { return true; });
      c.down_in += bytes.size();
      c.down.Compact();
      c.down.data.append(bytes);
      Flush(c);
    }
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
    if (c.client < 0) return;
    if (!c.down.SendTo(c.client)) {
      Drop(c);
      return;
    }
    if (c.down.pending() == 0) {
      if (c.closing && !c.client_wr_shut) {
        ::shutdown(c.client, SHUT_WR);
        c.client_wr_shut = true;
      }
    }
  }

  void Reject(Conn& c, const char* reason, Clock::time_point now) {
    // gRPC's side first: closing it frees the connection's streams.
    if (c.pair >= 0) {
      ::close(c.pair);
      c.pair = -1;
    }
    c.up.data.clear();
    c.up.sent = 0;
    // The GOAWAY goes after the last complete frame of gRPC's output, if
    // that frame boundary has not been passed already (then the frame in
    // flight cannot be completed and the client just sees the close).
    const std::uint64_t sent = c.down_in - c.down.pending();
    const std::uint64_t boundary = c.down_frames.last_boundary();
    if (boundary >= sent) {
      c.down.data.resize(c.down.sent + static_cast<std::size_t>(boundary - sent));
      c.down.data += Http2GoAwayFrame(c.guard.highest_stream_id(), kHttp2EnhanceYourCalm);
    } else {
      c.down.data.clear();
      c.down.sent = 0;
    }
    c.closing = true;
    c.deadline = now + kLinger;
    Count(reason);
    Warn(c, reason, now);
    Flush(c);
  }

  void Count(const char* reason) {
    if (rejected_) rejected_->WithLabels({reason}).Inc();
  }

  void Warn(const Conn& c, const char* reason, Clock::time_point now) {
    if (now - warn_window_ >= std::chrono::seconds(1)) {
      warn_window_ = now;
      warn_lines_ = 0;
    }
    if (warn_lines_ >= kWarnLinesPerSecond) {
      ++suppressed_;
      return;
    }
    ++warn_lines_;
    base::LogFields fields{{"peer", c.peer},
                           {"reason", reason},
                           {"streams", static_cast<std::uint64_t>(c.guard.streams_opened())},
                           {"resets", static_cast<std::uint64_t>(c.guard.resets())}};
    if (suppressed_ > 0) {
      fields.emplace_back("suppressed", suppressed_);
      suppressed_ = 0;
    }
    base::LogWarn("health-probe connection closed", fields);
  }

  void Accept(Clock::time_point now) {
    for (int i = 0; i < kMaxAcceptsPerRound; ++i) {
      sockaddr_storage ss{};
      socklen_t len = sizeof(ss);
      const int fd = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) return;  // EAGAIN, or a connection that went away; poll says when to retry
      int yes = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof(yes));
      std::string peer = base::PeerAddress(ss);
      MakeRoom(peer, now);
      int sv[2];
      // Both ends non-blocking: gRPC's endpoint expects it of the fd it is given.
      if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) != 0) {
        ::close(fd);
        continue;
      }
      Conn& c = conns_.emplace_back(o_.guard);
      c.seq = next_seq_++;
      c.client = fd;
      c.pair = sv[0];
      c.peer = std::move(peer);
      o_.serve(sv[1]);
    }
  }

  // Closes the oldest connection of `peer` at its cap, then the oldest of
  // anyone at the total cap; one already being closed (rejected, or gRPC
  // done with it) goes before any live one.
  void MakeRoom(const std::string& peer, Clock::time_point now) {
    auto before = [](const Conn* a, const Conn* b) {
      return !b || (a->closing != b->closing ? a->closing : a->seq < b->seq);
    };
    std::size_t mine = 0;
    Conn* oldest_mine = nullptr;
    std::size_t live = 0;
    Conn* oldest = nullptr;
    for (Conn& c : conns_) {
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
  }

  // Closes both sides now; Reap removes it.
  void Drop(Conn& c) { CloseConn(c); }

  static void CloseConn(Conn& c) {
    if (c.pair >= 0) ::close(c.pair);
    if (c.client >= 0) ::close(c.client);
    c.pair = c.client = -1;
  }

  void Reap(Clock::time_point now) {
    for (auto it = conns_.begin(); it != conns_.end();) {
      Conn& c = *it;
      if (c.client >= 0 && c.deadline != Clock::time_point{} && now >= c.deadline) CloseConn(c);
      if (c.client >= 0 && c.closing && c.client_wr_shut && c.pair < 0 && c.client_eof) CloseConn(c);
      if (c.client < 0) it = conns_.erase(it);
      else ++it;
    }
  }

  ProbeListenerOptions o_;
  metrics::CounterFamily* rejected_ = nullptr;
  std::mutex start_mu_;
  bool started_ = false, stopped_ = false;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  int listen_fd_ = -1, wake_fd_ = -1, port_ = 0;
  std::list<Conn> conns_;  // stable addresses while the loop holds pointers
  std::uint64_t next_seq_ = 0;
  Clock::time_point warn_window_{};
  int warn_lines_ = 0;
  std::uint64_t suppressed_ = 0;
};

ProbeListener::ProbeListener(ProbeListenerOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
ProbeListener::~ProbeListener() = default;
std::string ProbeListener::Start() { return impl_->Start(); }
void ProbeListener::Stop() { impl_->Stop(); }
int ProbeListener::port() const { return impl_->port(); }

}  // namespace deviceapi::server
