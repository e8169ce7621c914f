// S32/S33 on the health-probe port and on the API socket of the real server
// binary: raw HTTP/2 clients doing "rapid reset" (CVE-2023-44487: HEADERS
// then RST_STREAM in a loop), opening streams that never send their request
// (with and without acknowledging the server's SETTINGS), or opening valid
// watches beyond MAX_CONCURRENT_STREAMS, on 4 connections re-opened when
// closed. gRPC 1.51 alone grew to GiBs within seconds; with the frame guard
// (server/guarded_listener.h) the process stays small, every gRPC health
// probe during the attack is answered within 1 s, GetGpu on the API socket
// within 50 ms at p99, and the attacking connections get a GOAWAY
// (ENHANCE_YOUR_CALM) and are counted.
//
// DEVICEAPI_PROBE_ATTACK_BINARY=/path/to/device-api-server runs the rapid
// reset against that binary's probe port and API socket instead (1
// connection, 3 s, stopped at 1 GiB) and only prints its peak RSS: how an
// older build fares.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/mman.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <regex>
#include <thread>

#include "admin_attack.h"
#include "http2_frames.h"
#include "test_support.h"

namespace deviceapi::testing {
namespace {

using Clock = std::chrono::steady_clock;

// ---- a minimal HTTP/2 client ----

std::string Frame(std::uint8_t type, std::uint8_t flags, std::uint32_t stream, const std::string& payload = "") {
  return deviceapi::testing::Http2Frame(type, flags, stream, payload);
}

constexpr const char* kHealthCheckPath = "/grpc.health.v1.Health/Check";
constexpr const char* kWatchGpusPath = "/nvidia.nvsentinel.v1alpha1.GpuService/WatchGpus";

enum class AttackKind {
  kRapidReset,    // HEADERS, RST_STREAM, ...
  kStreamFlood,   // HEADERS only, never the request
  kAckedFlood,    // the same after acknowledging the server's SETTINGS (which then apply in gRPC)
  kWatchFlood,    // complete, valid watches, ignoring MAX_CONCURRENT_STREAMS
  kBigRequests,   // 16 UpdateGpuStatus requests of almost 4 MiB each, never finished
  kContinuation,  // one HEADERS without END_HEADERS, then CONTINUATIONs of valid headers forever
};

// An HPACK integer with a 7-bit prefix (the string lengths, Huffman off).
std::string HpackLength(std::size_t n) {
  if (n < 127) return std::string(1, static_cast<char>(n));
  std::string out(1, '\x7f');
  for (n -= 127; n >= 128; n >>= 7) out += static_cast<char>((n & 0x7f) | 0x80);
  return out + static_cast<char>(n);
}

// A literal header field without indexing, new name: what gRPC 1.51 buffers
// until the header block ends (CVE-2023-33953).
std::string LiteralHeader(const std::string& name, std::size_t value_bytes) {
  return std::string(1, '\0') + HpackLength(name.size()) + name + HpackLength(value_bytes) +
         std::string(value_bytes, 'v');
}

// Where an attack goes: the probe port, or the API socket.
struct Target {
  int port = 0;
  std::string unix_path;
  std::string method = kHealthCheckPath;
};

Target ProbeTarget(int port) {
  Target t;
  t.port = port;
  return t;
}

Target ApiTarget(const std::string& socket) {
  Target t;
  t.unix_path = socket;
  return t;
}

struct AttackStats {
  std::atomic<std::uint64_t> connections{0}, streams{0}, goaways{0}, calm_goaways{0};
};

// One attacking connection at a time until `stop`: writes as fast as the
// socket takes it, reads (and parses) whatever the server sends, and opens a
// new connection when the server closes this one.
void AttackLoop(AttackKind kind, const Target& target, const std::atomic<bool>& stop, AttackStats& stats) {
  const std::string block =
      GrpcCallHeaderBlock(kind == AttackKind::kWatchFlood     ? kWatchGpusPath
                      : kind == AttackKind::kBigRequests ? "/nvidia.nvsentinel.v1alpha1.GpuService/UpdateGpuStatus"
                                                          : target.method);
  constexpr std::uint32_t kBigStreams = 16;
  constexpr std::uint32_t kBigMessage = (4u << 20) - 64;
  const std::string chunk(16000, 'x');
  const std::string header_field = LiteralHeader("x-a", 15000);
  while (!stop.load()) {
    const int fd = target.unix_path.empty() ? ConnectLoopback(target.port) : ConnectUnix(target.unix_path);
    if (fd < 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      continue;
    }
    ++stats.connections;
    std::string out = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + Frame(0x4, 0, 0, "");
    if (kind == AttackKind::kAckedFlood || kind == AttackKind::kBigRequests) out += Frame(0x4, 0x1, 0, "");  // SETTINGS ACK
    std::uint64_t data_frames = 0;
    std::string in;
    std::uint32_t next_stream = 1;
    bool open = true;
    while (open && !stop.load()) {
      // Keep ~64 KiB of frames queued.
      while (out.size() < (64 << 10) && next_stream < 0x7fff0000u) {
        if (kind == AttackKind::kBigRequests) {
          if (next_stream < 2 * kBigStreams) {
            out += Frame(0x1, 0x4, next_stream, block);  // HEADERS, the request to follow
            next_stream += 2;
            ++stats.streams;
            continue;
          }
          // DATA round-robin over the streams, never END_STREAM; each
          // stream's first frame starts a message of almost 4 MiB.
          const std::uint32_t stream = 1 + 2 * static_cast<std::uint32_t>(data_frames % kBigStreams);
          std::string payload = chunk;
          if (data_frames < kBigStreams) {
            payload = std::string(1, '\0') + static_cast<char>(kBigMessage >> 24) +
                      static_cast<char>((kBigMessage >> 16) & 0xff) + static_cast<char>((kBigMessage >> 8) & 0xff) +
                      static_cast<char>(kBigMessage & 0xff) + chunk;
          }
          out += Frame(0x0, 0, stream, payload);
          ++data_frames;
          if (data_frames * chunk.size() > kBigStreams * (kBigMessage - 2 * chunk.size())) break;  // never finish one
          continue;
        }
        if (kind == AttackKind::kContinuation) {
          if (next_stream == 1) {
            out += Frame(0x1, 0, 1, block);  // HEADERS, no END_HEADERS
            next_stream = 3;
            ++stats.streams;
          }
          out += Frame(0x9, 0, 1, header_field);  // CONTINUATION, no END_HEADERS
          continue;
        }
        if (kind == AttackKind::kRapidReset) {
          out += Frame(0x1, 0x4, next_stream, block);                          // HEADERS, END_HEADERS
          out += Frame(0x3, 0, next_stream, std::string("\0\0\0\x8", 4));      // RST_STREAM CANCEL
        } else if (kind == AttackKind::kWatchFlood) {
          out += Frame(0x1, 0x4, next_stream, block);
          // DATA, END_STREAM: an empty WatchGpusRequest (flag 0, length 0).
          out += Frame(0x0, 0x1, next_stream, std::string(5, '\0'));
        } else {
          out += Frame(0x1, 0x4, next_stream, block);  // never ends: no END_STREAM, no DATA
        }
        next_stream += 2;
        ++stats.streams;
      }
      pollfd p{fd, static_cast<short>(POLLIN | POLLOUT), 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      if (p.revents & POLLOUT) {
        const ssize_t w = ::send(fd, out.data(), out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0 && errno != EAGAIN) open = false;
        if (w > 0) out.erase(0, static_cast<std::size_t>(w));
      }
      if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
        char buf[16384];
        const ssize_t r = ::recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (r <= 0 && !(r < 0 && errno == EAGAIN)) open = false;
        if (r > 0) in.append(buf, static_cast<std::size_t>(r));
        // Whole frames: count GOAWAYs.
        Http2FrameIn frame;
        while (TakeHttp2Frame(&in, &frame)) {
          if (frame.type == 0x7 && frame.payload.size() >= 8) {
            ++stats.goaways;
            // Error code ENHANCE_YOUR_CALM (0xb) after the last stream id.
            if (frame.payload.compare(4, 4, std::string("\0\0\0\x0b", 4)) == 0) ++stats.calm_goaways;
          }
        }
      }
    }
    ::close(fd);
  }
}

class Attack {
 public:
  // Counts into `stats` if given (it must outlive the attack), else its own.
  Attack(AttackKind kind, Target target, int connections, AttackStats* stats = nullptr)
      : target_(std::move(target)), stats_(stats ? stats : &own_stats_) {
    for (int i = 0; i < connections; ++i) {
      threads_.emplace_back([this, kind] { AttackLoop(kind, target_, stop_, *stats_); });
    }
  }
  ~Attack() { Stop(); }
  void Stop() {
    stop_.store(true);
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }
  const AttackStats& stats() const { return *stats_; }

 private:
  const Target target_;
  std::atomic<bool> stop_{false};
  AttackStats own_stats_;
  AttackStats* stats_;
  std::vector<std::thread> threads_;
};

// The same attack from a child process: a peer of its own (the server backs
// off from the attacking process, not from the test's other clients). Its
// counts live in shared memory; it stops when the pipe closes.
class ChildAttack {
 public:
  ChildAttack(AttackKind kind, Target target, int connections) {
    void* shared = ::mmap(nullptr, sizeof(AttackStats), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shared == MAP_FAILED) std::abort();
    stats_ = new (shared) AttackStats;
    int fds[2];
    if (::pipe(fds) != 0) std::abort();
    pid_ = ::fork();
    if (pid_ == 0) {
      ::close(fds[1]);
      {
        Attack attack(kind, std::move(target), connections, stats_);
        char c;
        while (::read(fds[0], &c, 1) < 0 && errno == EINTR) {
        }
      }
      std::_Exit(0);
    }
    ::close(fds[0]);
    stop_fd_ = fds[1];
  }
  ~ChildAttack() {
    Stop();
    ::munmap(stats_, sizeof(AttackStats));
  }
  void Stop() {
    if (stop_fd_ < 0) return;
    ::close(stop_fd_);
    stop_fd_ = -1;
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  const AttackStats& stats() const { return *stats_; }

 private:
  AttackStats* stats_ = nullptr;
  pid_t pid_ = -1;
  int stop_fd_ = -1;
};

struct ProbeLatency {
  int sent = 0, ok = 0;
  double max_ms = 0;
};

// A gRPC health Check on a fresh connection every 100 ms for `duration`, as
// the kubelet does; ok when SERVING within 1 s.
ProbeLatency ProbeGrpcHealth(int port, std::chrono::milliseconds duration) {
  ProbeLatency r;
  const auto end = Clock::now() + duration;
  while (Clock::now() < end) {
    grpc::ChannelArguments args;
    args.SetInt("grpc.use_local_subchannel_pool", 1);  // a new connection each time
    auto channel = grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials(),
                                             args);
    auto stub = grpc::health::v1::Health::NewStub(channel);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(1));
    grpc::health::v1::HealthCheckRequest req;
    grpc::health::v1::HealthCheckResponse resp;
    const auto t0 = Clock::now();
    const grpc::Status status = stub->Check(&ctx, req, &resp);
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    ++r.sent;
    if (status.ok() && resp.status() == grpc::health::v1::HealthCheckResponse::SERVING) ++r.ok;
    r.max_ms = std::max(r.max_ms, ms);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return r;
}

double Rejected(int metrics_port, const std::string& reason, const std::string& listener = "probe") {
  std::string body;
  if (HttpGet(metrics_port, "/metrics", &body) != 200) return -1;
  std::smatch m;
  const std::regex re("device_apiserver_" + listener + "_connections_rejected_total\\{reason=\"" + reason +
                      "\"\\} ([0-9.e+]+)");
  return std::regex_search(body, m, re) ? std::stod(m[1]) : -1;
}

struct ProbeAttackCase {
  const char* name;
  AttackKind kind;
  const char* reason;  // the metric's label the guard counts it under
};

void PrintTo(const ProbeAttackCase& c, std::ostream* os) { *os << c.name; }

class ProbeAttack : public ::testing::TestWithParam<ProbeAttackCase> {};

TEST_P(ProbeAttack, GuardCutsOffAttackProbesAnsweredS33) {
  TempDir dir;
  auto s = StartServer(dir.File("api.sock"), {}, RssMeasurementEnv());
  ASSERT_TRUE(s) << s.process->Stderr();
  ASSERT_GT(s.probe_port, 0);
  ASSERT_TRUE(WaitForHealth(TcpChannel(s.probe_port), grpc::health::v1::HealthCheckResponse::SERVING));
  EXPECT_EQ(Rejected(s.metrics_port, GetParam().reason), 0);

  ProbeLatency probes;
  std::uint64_t connections = 0, streams = 0, goaways = 0, calm = 0;
  {
    Attack attack(GetParam().kind, ProbeTarget(s.probe_port), 4);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // let it take hold
    probes = ProbeGrpcHealth(s.probe_port, std::chrono::seconds(3));
    attack.Stop();
    connections = attack.stats().connections;
    streams = attack.stats().streams;
    goaways = attack.stats().goaways;
    calm = attack.stats().calm_goaways;
  }
  const std::size_t rss = PeakRssBytes(s.process->pid());
  const double rejected = Rejected(s.metrics_port, GetParam().reason);
  std::printf("[ %s ] peak RSS %.1f MiB; attack: %llu connections, %llu streams queued, %llu GOAWAY "
              "(%llu ENHANCE_YOUR_CALM); rejected{reason=%s} %.0f; probes %d/%d ok, slowest %.1f ms\n",
              GetParam().name, rss / 1048576.0, static_cast<unsigned long long>(connections),
              static_cast<unsigned long long>(streams), static_cast<unsigned long long>(goaways),
              static_cast<unsigned long long>(calm), GetParam().reason, rejected, probes.ok, probes.sent,
              probes.max_ms);
  EXPECT_LT(rss, 256u << 20);
  EXPECT_GT(probes.sent, 10);
  EXPECT_EQ(probes.ok, probes.sent) << "every probe answered SERVING within 1 s";
  EXPECT_GT(calm, 0u) << "the attacking connections got a GOAWAY (ENHANCE_YOUR_CALM)";
  EXPECT_GT(rejected, 0) << "and were counted";
  EXPECT_GT(connections, 4u) << "the guard closed connections, the attack re-opened them";
  // Afterwards the port is fine, and the server shuts down in time (S34).
  EXPECT_EQ(CheckHealth(TcpChannel(s.probe_port)), grpc::health::v1::HealthCheckResponse::SERVING);
  s.process->Signal(SIGTERM);
  const ExitResult exit = s.process->Wait(std::chrono::seconds(10));
  EXPECT_TRUE(exit.exited);
  EXPECT_EQ(exit.code, 0) << exit.err;
  EXPECT_NE(exit.err.find("health-probe connection closed"), std::string::npos) << "logged at warn";
}

INSTANTIATE_TEST_SUITE_P(Attacks, ProbeAttack,
                         ::testing::Values(ProbeAttackCase{"RapidReset", AttackKind::kRapidReset, "rapid_reset"},
                                           ProbeAttackCase{"StreamFlood", AttackKind::kStreamFlood, "pending_streams"},
                                           ProbeAttackCase{"Continuation", AttackKind::kContinuation, "header_block"}),
                         [](const auto& info) { return std::string(info.param.name); });

// ---- the API socket ----

struct ApiLatency {
  std::vector<double> ms;  // of the calls that succeeded
  int failed = 0;
  double Percentile(double p) const {
    if (ms.empty()) return -1;
    std::vector<double> v = ms;
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
  }
};

// GetGpu on a connection of its own every 10 ms for `duration`, each with a
// 1 s deadline: a consumer that shares the socket with the attacker.
ApiLatency GetGpuDuring(const std::string& socket, std::chrono::milliseconds duration) {
  ApiLatency r;
  auto stub = v1::GpuService::NewStub(UnixChannel(socket));
  const auto end = Clock::now() + duration;
  while (Clock::now() < end) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(1));
    v1::GetGpuRequest req;
    req.set_name("gpu-0");
    v1::GetGpuResponse resp;
    const auto t0 = Clock::now();
    const grpc::Status status = stub->GetGpu(&ctx, req, &resp);
    if (status.ok()) {
      r.ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    } else {
      ++r.failed;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return r;
}

struct ApiAttackCase {
  const char* name;
  AttackKind kind;
  const char* reason;
};

void PrintTo(const ApiAttackCase& c, std::ostream* os) { *os << c.name; }

class ApiAttack : public ::testing::TestWithParam<ApiAttackCase> {};

TEST_P(ApiAttack, GuardCutsOffAttackOtherClientsServedS33) {
  TempDir dir;
  auto s = StartServer(dir.File("api.sock"), {}, RssMeasurementEnv());
  ASSERT_TRUE(s) << s.process->Stderr();
  ASSERT_TRUE(CreateGpu(UnixChannel(s.socket), "gpu-0").ok());
  EXPECT_EQ(Rejected(s.metrics_port, GetParam().reason, "api"), 0);

  ApiLatency gets;
  ProbeLatency probes;
  std::uint64_t connections = 0, streams = 0, calm = 0;
  {
    ChildAttack attack(GetParam().kind, ApiTarget(s.socket), 4);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // let it take hold
    std::thread prober([&] { probes = ProbeGrpcHealth(s.probe_port, std::chrono::seconds(3)); });
    gets = GetGpuDuring(s.socket, std::chrono::seconds(3));
    prober.join();
    attack.Stop();
    connections = attack.stats().connections;
    streams = attack.stats().streams;
    calm = attack.stats().calm_goaways;
  }
  const std::size_t rss = PeakRssBytes(s.process->pid());
  const double rejected = Rejected(s.metrics_port, GetParam().reason, "api");
  std::printf("[ API %s ] peak RSS %.1f MiB; attack: %llu connections, %llu streams queued, %llu GOAWAY "
              "(ENHANCE_YOUR_CALM); rejected{reason=%s} %.0f; GetGpu %zu ok, %d failed, p50 %.2f ms, p99 %.2f ms, "
              "max %.2f ms; probes %d/%d ok, slowest %.1f ms\n",
              GetParam().name, rss / 1048576.0, static_cast<unsigned long long>(connections),
              static_cast<unsigned long long>(streams), static_cast<unsigned long long>(calm), GetParam().reason,
              rejected, gets.ms.size(), gets.failed, gets.Percentile(0.5), gets.Percentile(0.99),
              gets.Percentile(1.0), probes.ok, probes.sent, probes.max_ms);
  EXPECT_LT(rss, 256u << 20);
  EXPECT_GT(gets.ms.size(), 50u);
  EXPECT_EQ(gets.failed, 0) << "every GetGpu of the other client answered within 1 s";
  EXPECT_EQ(probes.ok, probes.sent) << "every probe answered SERVING within 1 s";
  EXPECT_GT(calm, 0u) << "the attacking connections got a GOAWAY (ENHANCE_YOUR_CALM)";
  EXPECT_GT(rejected, 0) << "and were counted";
  EXPECT_GT(connections, 4u) << "the guard closed connections, the attack re-opened them";
  ASSERT_TRUE(ListGpus(UnixChannel(s.socket)).ok());
  s.process->Signal(SIGTERM);
  const ExitResult exit = s.process->Wait(std::chrono::seconds(10));
  EXPECT_TRUE(exit.exited);
  EXPECT_EQ(exit.code, 0) << exit.err;
  EXPECT_NE(exit.err.find("API connection closed"), std::string::npos) << "logged at warn";
}

INSTANTIATE_TEST_SUITE_P(Attacks, ApiAttack,
                         ::testing::Values(ApiAttackCase{"RapidReset", AttackKind::kRapidReset, "rapid_reset"},
                                           ApiAttackCase{"StreamFlood", AttackKind::kStreamFlood, "pending_streams"},
                                           ApiAttackCase{"AckedFlood", AttackKind::kAckedFlood, "pending_streams"},
                                           ApiAttackCase{"WatchFlood", AttackKind::kWatchFlood, "open_streams"},
                                           ApiAttackCase{"BigRequests", AttackKind::kBigRequests, "pending_bytes"},
                                           ApiAttackCase{"Continuation", AttackKind::kContinuation, "header_block"}),
                         [](const auto& info) { return std::string(info.param.name); });

// S32/S33: beyond --max-connections a new API connection is closed at once
// and the open ones (a consumer's watch) are untouched.
TEST(ApiConnectionCaps, NewConnectionRefusedOpenOnesKeptS33) {
  TempDir dir;
  auto s = StartServer(dir.File("api.sock"), {"--max-connections=4"});
  ASSERT_TRUE(s) << s.process->Stderr();
  EXPECT_EQ(s.started.value("max_connections", 0), 4);
  auto consumer = UnixChannel(s.socket);
  ASSERT_TRUE(CreateGpu(consumer, "gpu-0").ok());
  std::vector<int> idle;
  for (int i = 0; i < 6; ++i) idle.push_back(ConnectUnix(s.socket));
  // The 5th and 6th were closed by the server: EOF without a byte of gRPC's.
  for (int i = 4; i < 6; ++i) {
    pollfd p{idle[i], POLLIN, 0};
    ASSERT_EQ(::poll(&p, 1, 2000), 1) << i << " still open";
    char buf[64];
    EXPECT_LE(::recv(idle[i], buf, sizeof(buf), 0), 0) << i;
  }
  EXPECT_TRUE(ListGpus(consumer).ok()) << "the consumer's connection was kept";
  EXPECT_GE(Rejected(s.metrics_port, "connection_limit", "api"), 2);
  for (int fd : idle) ::close(fd);
}

// S34: a SIGTERM during the attack still ends the process within the grace
// period (BaseArgs: 5 s): the guard's thread closes every probe connection.
TEST(ProbeAttackShutdown, SigtermDuringRapidResetExitsInTimeS34) {
  TempDir dir;
  auto s = StartServer(dir.File("api.sock"));
  ASSERT_TRUE(s) << s.process->Stderr();
  Attack attack(AttackKind::kRapidReset, ProbeTarget(s.probe_port), 4);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  s.process->Signal(SIGTERM);
  const ExitResult exit = s.process->Wait(std::chrono::seconds(10));
  attack.Stop();
  EXPECT_TRUE(exit.exited);
  EXPECT_EQ(exit.code, 0) << exit.err;
  EXPECT_LT(exit.seconds, 5.0);
}

// S32/S33: connections beyond --probe-max-connections-per-peer close that
// peer's oldest one, so idle connections cannot lock the kubelet out.
TEST(ProbeConnectionCaps, OldestClosedFreshProbeGetsInS33) {
  TempDir dir;
  auto s = StartServer(dir.File("api.sock"), {"--probe-max-connections-per-peer=3"});
  ASSERT_TRUE(s) << s.process->Stderr();
  EXPECT_EQ(s.started.value("probe_max_connections_per_peer", 0), 3);
  std::vector<int> idle;
  for (int i = 0; i < 6; ++i) {
    idle.push_back(ConnectLoopback(s.probe_port));
    ASSERT_GE(idle.back(), 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // accept order = connect order
  }
  // Every probe still answers (each one evicts the oldest idle connection).
  for (int i = 0; i < 5; ++i) {
    grpc::ChannelArguments args;
    args.SetInt("grpc.use_local_subchannel_pool", 1);
    auto channel = grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(s.probe_port),
                                             grpc::InsecureChannelCredentials(), args);
    EXPECT_EQ(CheckHealth(channel), grpc::health::v1::HealthCheckResponse::SERVING) << i;
  }
  // The first idle connection was closed by the server (EOF or reset, after
  // gRPC's SETTINGS frame).
  char buf[256];
  ssize_t r = 1;
  for (int i = 0; i < 100 && r > 0; ++i) {
    pollfd p{idle[0], POLLIN, 0};
    ASSERT_EQ(::poll(&p, 1, 2000), 1) << "still open";
    r = ::recv(idle[0], buf, sizeof(buf), 0);
  }
  EXPECT_TRUE(r == 0 || (r < 0 && errno == ECONNRESET)) << r;
  EXPECT_GE(Rejected(s.metrics_port, "connection_limit"), 3);
  for (int fd : idle) ::close(fd);
}

// Before/after figures: each attack against another binary, for 3 s on one
// connection (and GetGpu from another client meanwhile, on the API
// socket), stopped at 1 GiB. Skipped unless asked for.
class AttackBaseline : public ::testing::TestWithParam<ApiAttackCase> {};

TEST_P(AttackBaseline, PeakRssOfOtherBinary) {
  const char* binary = std::getenv("DEVICEAPI_PROBE_ATTACK_BINARY");
  if (!binary || !*binary) GTEST_SKIP() << "set DEVICEAPI_PROBE_ATTACK_BINARY";
  const bool on_probe = std::string(GetParam().reason) == "probe";
  TempDir dir;
  auto args = BaseArgs(dir.File("api.sock"));
  args.insert(args.begin(), "--storage-type=memory");
  ServerProcess process(args, {}, binary);
  auto started = process.WaitStarted();
  ASSERT_TRUE(started) << process.Stderr();
  const int port = PortOf((*started)["health_probe"].get<std::string>());
  const std::string socket = dir.File("api.sock");
  if (!on_probe) {
    ASSERT_TRUE(CreateGpu(UnixChannel(socket), "gpu-0").ok());
  }
  std::size_t rss = 0;
  ApiLatency gets;
  const auto t0 = Clock::now();
  {
    ChildAttack attack(GetParam().kind, on_probe ? ProbeTarget(port) : ApiTarget(socket), 1);
    std::atomic<bool> done{false};
    std::thread getter([&] {
      if (!on_probe) gets = GetGpuDuring(socket, std::chrono::seconds(3));
      done.store(true);
    });
    while (Clock::now() - t0 < std::chrono::seconds(3) || !done.load()) {
      rss = std::max(rss, PeakRssBytes(process.pid()));
      if (rss > (1u << 30)) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (rss > (1u << 30)) process.Signal(SIGKILL);
    getter.join();
  }
  rss = std::max(rss, PeakRssBytes(process.pid()));
  std::printf("[ baseline %s ] %s: peak RSS %.1f MiB after %.1f s on 1 connection; GetGpu %zu ok, %d failed, "
              "p99 %.2f ms\n",
              GetParam().name, binary, rss / 1048576.0, std::chrono::duration<double>(Clock::now() - t0).count(),
              gets.ms.size(), gets.failed, gets.Percentile(0.99));
}

INSTANTIATE_TEST_SUITE_P(Attacks, AttackBaseline,
                         ::testing::Values(ApiAttackCase{"ProbeRapidReset", AttackKind::kRapidReset, "probe"},
                                           ApiAttackCase{"ApiRapidReset", AttackKind::kRapidReset, "api"},
                                           ApiAttackCase{"ApiStreamFlood", AttackKind::kStreamFlood, "api"},
                                           ApiAttackCase{"ApiAckedFlood", AttackKind::kAckedFlood, "api"},
                                           ApiAttackCase{"ApiWatchFlood", AttackKind::kWatchFlood, "api"},
                                           ApiAttackCase{"ApiBigRequests", AttackKind::kBigRequests, "api"},
                                           ApiAttackCase{"ProbeContinuation", AttackKind::kContinuation, "probe"},
                                           ApiAttackCase{"ApiContinuation", AttackKind::kContinuation, "api"}),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace deviceapi::testing
