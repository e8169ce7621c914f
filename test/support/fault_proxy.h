// A byte-forwarding Unix socket proxy whose connections a test can cut at
// will: what a client sees when the network or the server's side of the
// connection dies mid-watch. It can also stall them: stop forwarding while
// keeping them open, what a client sees when a peer or middlebox hangs.
#pragma once

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace deviceapi::testing {

class FaultProxy {
 public:
  FaultProxy(std::string listen_path, std::string upstream_path)
      : listen_path_(std::move(listen_path)), upstream_path_(std::move(upstream_path)) {
    listen_fd_ = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr = Addr(listen_path_);
    unlink(listen_path_.c_str());
    if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        listen(listen_fd_, 16) != 0)
      std::abort();
    acceptor_ = std::thread([this] { AcceptLoop(); });
  }

  ~FaultProxy() {
    stop_ = true;
    shutdown(listen_fd_, SHUT_RDWR);
    close(listen_fd_);
    acceptor_.join();
    CutAll();
    std::vector<std::thread> pumps;
    {
      std::lock_guard lock(mu_);
      pumps.swap(pumps_);
    }
    for (auto& t : pumps) t.join();
    unlink(listen_path_.c_str());
  }

  // Kills every open connection (both directions) at once.
  void CutAll() {
    std::lock_guard lock(mu_);
    for (int fd : open_fds_) shutdown(fd, SHUT_RDWR);
    ++cuts_;
  }

  // Stops forwarding on every open connection, in both directions, and
  // keeps it open: nothing arrives, nothing fails. Connections accepted
  // later forward normally.
  // Once it returns, not one more byte passes.
  void StallOpen() {
    std::lock_guard lock(mu_);
    for (auto& [fd, gate] : gates_) {
      std::lock_guard g(gate->mu);
      gate->stalled = true;
    }
  }

  // Connections accepted from now on start stalled (a peer slow to answer a
  // new connection: its handshake waits), until Heal().
  void StallNew() {
    std::lock_guard lock(mu_);
    stall_new_ = true;
  }

  // Resumes forwarding on stalled connections; what they buffered flows on.
  // New connections forward at once again.
  void Heal() {
    std::lock_guard lock(mu_);
    stall_new_ = false;
    for (auto& [fd, gate] : gates_) {
      std::lock_guard g(gate->mu);
      gate->stalled = false;
    }
  }

  std::string target() const { return "unix://" + listen_path_; }
  int cuts() const { return cuts_; }
  int accepted() const { return accepted_; }

 private:
  // Held while a pump forwards, so a stall takes effect between two writes.
  struct Gate {
    std::mutex mu;
    bool stalled = false;
  };

  static sockaddr_un Addr(const std::string& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
    return addr;
  }

  void AcceptLoop() {
    while (!stop_) {
      int client = accept(listen_fd_, nullptr, nullptr);
      if (client < 0) {
        if (stop_) return;
        continue;
      }
      int upstream = socket(AF_UNIX, SOCK_STREAM, 0);
      sockaddr_un addr = Addr(upstream_path_);
      if (connect(upstream, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
        close(upstream);
        close(client);
        continue;
      }
      std::lock_guard lock(mu_);
      open_fds_.push_back(client);
      open_fds_.push_back(upstream);
      auto gate = std::make_shared<Gate>();
      gate->stalled = stall_new_;
      gates_[client] = gate;
      ++accepted_;
      pumps_.emplace_back([this, client, upstream, gate] { Pump(client, upstream, *gate); });
    }
  }

  void Pump(int a, int b, Gate& gate) {
    char buf[16384];
    pollfd fds[2] = {{a, POLLIN, 0}, {b, POLLIN, 0}};
    while (!stop_) {
      if (poll(fds, 2, 100) < 0) break;
      std::unique_lock forwarding(gate.mu);
      if (gate.stalled) {
        forwarding.unlock();
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        continue;
      }
      bool done = false;
      for (int i = 0; i < 2 && !done; ++i) {
        if (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) {
          ssize_t n = read(fds[i].fd, buf, sizeof(buf));
          if (n <= 0) { done = true; break; }
          int to = fds[1 - i].fd;
          for (ssize_t off = 0; off < n;) {
            ssize_t w = send(to, buf + off, n - off, MSG_NOSIGNAL);
            if (w <= 0) { done = true; break; }
            off += w;
          }
        }
      }
      if (done) break;
    }
    std::lock_guard lock(mu_);
    std::erase(open_fds_, a);
    std::erase(open_fds_, b);
    gates_.erase(a);
    close(a);
    close(b);
  }

  std::string listen_path_, upstream_path_;
  int listen_fd_ = -1;
  std::atomic<bool> stop_{false};
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<int> open_fds_;
  std::map<int, std::shared_ptr<Gate>> gates_;  // by client fd
  bool stall_new_ = false;                       // guarded by mu_
  std::vector<std::thread> pumps_;
  std::atomic<int> cuts_{0};
  std::atomic<int> accepted_{0};
};

}  // namespace deviceapi::testing
