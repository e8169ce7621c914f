// startup: exec the server binary on a fresh Unix socket, time from exec to
// the first grpc.health.v1 SERVING answer (empty store), then its idle RSS,
// then SIGTERM to exit (S22). Repeated --startup-runs times.
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "bench/proc_stats.h"
#include "bench/scenarios.h"

namespace deviceapi::bench {

namespace {

bool SocketAccepts(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return ok;
}

// Exit status, or -1 when it is still running after `timeout`.
int WaitExit(pid_t pid, std::chrono::milliseconds timeout) {
  auto end = Clock::now() + timeout;
  while (true) {
    int st = 0;
    pid_t r = waitpid(pid, &st, WNOHANG);
    if (r == pid) return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    if (r < 0) return -2;
    if (Clock::now() > end) return -1;
    std::this_thread::sleep_for(std::chrono::microseconds(500));
  }
}

std::string Tail(const std::string& file) {
  std::ifstream in(file);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  if (s.size() > 400) s = s.substr(s.size() - 400);
  for (auto& c : s)
    if (c == '\n') c = ' ';
  return s;
}

}  // namespace

std::vector<Result> RunStartup(BenchContext& ctx) {
  const auto& o = ctx.options;
  if (o.server_binary.empty()) return {Unavailable("startup", "needs --server-binary")};
  char tmpl[] = "/tmp/dab-XXXXXX";
  if (!mkdtemp(tmpl)) return {Unavailable("startup", "mkdtemp failed")};
  const std::string dir = tmpl;
  const std::string sock = dir + "/api.sock";
  const std::string log = dir + "/server.log";

  Result r;
  r.scenario = r.op = "startup";
  r.concurrency = 1;
  LatencyRecorder ready, shutdown;
  ProcSnapshot idle;
  auto begin = Clock::now();
  for (int run = 0; run < o.startup_runs; ++run) {
    std::vector<std::string> args = {o.server_binary, "--bind-address", "unix://" + sock,
                                     "--metrics-bind-address", "0",
                                     "--health-probe-bind-address", "0"};
    if (!o.storage.empty()) args.push_back("--storage-type=" + o.storage);
    // Always a database of its own, also when the server's default backend (sqlite) is
    // used: the default file is the node's real state. Before the caller's arguments, so a
    // --storage-endpoint there wins.
    args.push_back("--storage-endpoint=sqlite://" + dir + "/state.db");
    args.insert(args.end(), o.server_args.begin(), o.server_args.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::int64_t t0 = NowNs();
    pid_t pid = fork();
    if (pid == 0) {
      int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
      }
      execv(argv[0], argv.data());
      _exit(127);
    }
    if (pid < 0) {
      ++r.errors;
      r.first_error = "fork failed";
      break;
    }
    bool ok = false;
    std::string error;
    auto deadline = Clock::now() + std::chrono::seconds(10);
    // Raw connect first: a gRPC channel that fails to connect backs off.
    while (Clock::now() < deadline && !SocketAccepts(sock)) {
      if (WaitExit(pid, std::chrono::milliseconds(0)) != -1) {
        error = "server exited before listening: " + Tail(log);
        break;
      }
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    if (error.empty()) {
      Connection conn("unix://" + sock, /*own_connection=*/true, /*fast_reconnect=*/true);
      while (Clock::now() < deadline) {
        if (CheckServing(conn, std::chrono::milliseconds(500), &error)) {
          ok = true;
          break;
        }
        std::this_thread::sleep_for(std::chrono::microseconds(200));
      }
    }
    std::int64_t t1 = NowNs();
    if (ok) {
      ready.Add(t1 - t0);
      ++r.ops;
      if (run == 0 && o.server_pid == 0) {
        // Idle: let start-up allocations settle, then read RSS.
        std::this_thread::sleep_for(std::chrono::seconds(1));
        idle = ReadProc(pid);
      }
    } else {
      ++r.errors;
      if (r.first_error.empty()) r.first_error = "not ready: " + error + " " + Tail(log);
    }
    std::int64_t s0 = NowNs();
    kill(pid, SIGTERM);
    int code = WaitExit(pid, std::chrono::seconds(30));
    if (code == -1) {
      kill(pid, SIGKILL);
      WaitExit(pid, std::chrono::seconds(5));
    }
    if (code == 0) {
      shutdown.Add(NowNs() - s0);
    } else if (ok) {
      ++r.errors;
      if (r.first_error.empty()) r.first_error = "exit code " + std::to_string(code) + " after SIGTERM";
    }
  }
  r.seconds = std::chrono::duration<double>(Clock::now() - begin).count();
  r.latency = ready.Summarize();
  auto sd = shutdown.Summarize();
  r.extra["runs"] = o.startup_runs;
  r.extra["shutdown_p50_ms"] = sd.p50_ms;
  if (idle.ok) {
    r.extra["idle_rss_mib"] = idle.rss_mib;
    r.extra["idle_rss_anon_mib"] = idle.anon_mib;
    r.extra["idle_rss_file_mib"] = idle.file_mib;
  }
  r.note = "latency = exec to first health SERVING";
  if (!o.server_args.empty()) {
    std::string joined;
    for (auto& a : o.server_args) joined += (joined.empty() ? "" : " ") + a;
    r.note += "; server args: " + joined;
  }
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return {r};
}

}  // namespace deviceapi::bench
