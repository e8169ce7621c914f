#include "bench/server_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "bench/connection.h"
#include "bench/latency.h"

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

}  // namespace

ServerProcess::~ServerProcess() { Stop(std::chrono::seconds(5)); }

bool ServerProcess::Start(const std::vector<std::string>& argv_in, const std::string& log,
                          std::string* error) {
  log_ = log;
  std::vector<std::string> args = argv_in;
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  started_ns_ = NowNs();
  pid_ = fork();
  if (pid_ == 0) {
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    execv(argv[0], argv.data());
    _exit(127);
  }
  if (pid_ < 0) {
    *error = "fork failed";
    return false;
  }
  return true;
}

bool ServerProcess::WaitReady(const std::string& socket, std::chrono::milliseconds timeout,
                              std::string* error) {
  auto deadline = Clock::now() + timeout;
  // Raw connect first: a gRPC channel that fails to connect backs off.
  while (!SocketAccepts(socket)) {
    if (const int code = WaitExit(pid_, std::chrono::milliseconds(0)); code != -1) {
      pid_ = -1;
      *error = "server exited (status " + std::to_string(code) + ") before listening: " + LogTail();
      return false;
    }
    if (Clock::now() > deadline) {
      *error = "server not listening on " + socket + ": " + LogTail();
      return false;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  Connection conn("unix://" + socket, /*own_connection=*/true, /*fast_reconnect=*/true);
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  if (WaitServing(conn, std::max(left, std::chrono::milliseconds(1)), error)) return true;
  *error = "not ready: " + *error + " " + LogTail();
  return false;
}

int ServerProcess::Stop(std::chrono::milliseconds grace) {
  if (pid_ <= 0) return -2;
  kill(pid_, SIGTERM);
  int code = WaitExit(pid_, grace);
  if (code == -1) {
    kill(pid_, SIGKILL);
    WaitExit(pid_, std::chrono::seconds(5));
  }
  pid_ = -1;
  return code;
}

std::string ServerProcess::LogTail() const {
  std::ifstream in(log_);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  if (s.size() > 400) s = s.substr(s.size() - 400);
  for (auto& c : s)
    if (c == '\n') c = ' ';
  return s;
}

}  // namespace deviceapi::bench
