// Hostile HTTP clients against an admin port, and the probe that must keep
// being answered while they run (S32). Header-only; test code only; loopback.
//
//   kSlowloris       connections that send a request head one byte every 0.9 s
//   kIdleFlood       connections that send nothing, re-opened as soon as closed
//   kPipelineNoRead  connections that pipeline GET /metrics and never read
//                    (with a small receive buffer, so the server's writes stall)
//
// Each Attack runs on its own thread until destroyed; a connection the
// server closes is re-opened, as a real attacker would.
#pragma once

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "http_client.h"

namespace deviceapi::testing {

class Attack {
 public:
  enum class Kind { kSlowloris, kIdleFlood, kPipelineNoRead };

  Attack(Kind kind, int port, int connections) : kind_(kind), port_(port), fds_(connections, -1) {
    thread_ = std::thread([this] { Run(); });
  }
  ~Attack() {
    stop_ = true;
    thread_.join();
    for (int fd : fds_) {
      if (fd >= 0) ::close(fd);
    }
  }
  Attack(const Attack&) = delete;
  Attack& operator=(const Attack&) = delete;

  // Connections opened so far, re-opens included.
  int opened() const { return opened_.load(); }

 private:
  void Run() {
    using namespace std::chrono;
    auto next_byte = steady_clock::now();
    const std::string pipelined = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
    while (!stop_) {
      const bool drip = steady_clock::now() >= next_byte;
      if (drip) next_byte = steady_clock::now() + milliseconds(900);
      for (int& fd : fds_) {
        if (fd >= 0 && Closed(fd)) {
          ::close(fd);
          fd = -1;
        }
        if (fd < 0) {
          fd = HttpConnect("127.0.0.1", port_, milliseconds(200), kind_ == Kind::kPipelineNoRead ? 4096 : 0);
          if (fd < 0) continue;
          ++opened_;
          if (kind_ == Kind::kSlowloris) Send(fd, "GET /healthz HTTP/1.1\r\nX-Slow: ");
        }
        if (kind_ == Kind::kSlowloris && drip) {
          if (!Send(fd, "a")) {
            ::close(fd);
            fd = -1;
          }
        } else if (kind_ == Kind::kPipelineNoRead) {
          // As many requests as the socket takes; the answers are never read.
          while (Send(fd, pipelined)) {
          }
        }
      }
      std::this_thread::sleep_for(milliseconds(10));
    }
  }

  // True when the server closed `fd` (EOF or error). Data it sent is dropped
  // (only the pipelining client leaves it unread on purpose).
  bool Closed(int fd) const {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 0) != 1) return false;
    if (p.revents & (POLLERR | POLLHUP)) return true;
    if (kind_ == Kind::kPipelineNoRead) return false;
    char buf[4096];
    ssize_t n = ::recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN);
  }

  static bool Send(int fd, const std::string& data) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    return n == static_cast<ssize_t>(data.size());
  }

  const Kind kind_;
  const int port_;
  std::vector<int> fds_;
  std::atomic<bool> stop_{false};
  std::atomic<int> opened_{0};
  std::thread thread_;
};

// The attacks every admin port is tested against, with the sizes that
// starved the old thread-per-connection server, and how many probes of a run
// may go unanswered within 1 s.
//
// The idle flood comes from the probe's own address and re-opens every
// connection the moment it is closed. The server reads a request waiting in
// a socket before it evicts that connection as idle, but when the probe's
// thread is descheduled between its connect and its send for as long as the
// flood takes to open the next 31 connections (the per-address cap), its
// connection has sent nothing yet and is closed to make room like theirs:
// nothing tells them apart. The kubelet restarts a container only after
// failureThreshold (3) failed probes in a row, so one miss in a run is
// allowed there; the other attacks allow none.
struct AttackCase {
  const char* name;
  Attack::Kind kind;
  int connections;
  int misses_allowed;
};
inline const AttackCase kAttackCases[] = {{"Slowloris", Attack::Kind::kSlowloris, 4, 0},
                                          {"IdleFlood", Attack::Kind::kIdleFlood, 100, 1},
                                          {"PipelineNoRead", Attack::Kind::kPipelineNoRead, 8, 0}};
inline std::string AttackCaseName(const AttackCase& c) { return c.name; }

// GET /healthz on a fresh connection every `interval` for `how_long`; how
// many were answered 200 within `limit`, and the latencies (ms; a probe not
// answered counts as `limit`).
struct ProbeResult {
  int sent = 0, answered = 0;
  std::vector<double> latencies_ms;
  double Percentile(double p) const {
    if (latencies_ms.empty()) return 0;
    std::vector<double> v = latencies_ms;
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
  }
};

inline ProbeResult ProbeHealthz(int port, std::chrono::milliseconds how_long,
                                std::chrono::milliseconds interval = std::chrono::milliseconds(200),
                                std::chrono::milliseconds limit = std::chrono::seconds(1)) {
  using namespace std::chrono;
  ProbeResult r;
  const auto end = steady_clock::now() + how_long;
  while (steady_clock::now() < end) {
    const auto t0 = steady_clock::now();
    auto res = HttpGet("127.0.0.1", port, "/healthz", limit);
    const double ms = duration<double, std::milli>(steady_clock::now() - t0).count();
    ++r.sent;
    if (res && res->status == 200) ++r.answered;
    r.latencies_ms.push_back(res ? ms : static_cast<double>(limit.count()));
    std::this_thread::sleep_until(t0 + interval);
  }
  return r;
}

// One line for the test log, the figures docs/benchmarks.md quotes.
inline void PrintProbeSummary(const char* attack, const ProbeResult& r, std::size_t peak_rss) {
  std::printf("[ %s ] /healthz answered %d/%d, p50 %.1f ms, p99 %.1f ms, peak RSS %.1f MiB\n", attack, r.answered,
              r.sent, r.Percentile(0.5), r.Percentile(0.99), static_cast<double>(peak_rss) / (1 << 20));
}

// Peak resident set (VmHWM) of process `pid`, in bytes; 0 if unreadable.
inline std::size_t PeakRssBytes(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  }
  return 0;
}

}  // namespace deviceapi::testing
