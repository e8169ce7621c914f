#include "server_process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <sstream>
#include <stdexcept>

extern char** environ;

namespace deviceapi::testing {

std::string ServerBinary() { return std::string(DEVICEAPI_BINARY_DIR) + "/cmd/device-api-server/device-api-server"; }

namespace {

bool ServerReads(const std::string& name) {
  return name.rfind("DEVICE_API_", 0) == 0 || name == "NODE_NAME" || name == "LOG_FORMAT";
}

}  // namespace

ServerProcess::ServerProcess(std::vector<std::string> args, Env env, std::string binary) {
  std::vector<std::string> envs;
  auto given = [&](const std::string& key) {
    for (auto& [k, v] : env)
      if (k == key) return true;
    return false;
  };
  for (char** e = environ; *e != nullptr; ++e) {
    std::string kv(*e);
    const std::string key = kv.substr(0, kv.find('='));
    if (!ServerReads(key) && !given(key)) envs.push_back(kv);  // a variable in `env` replaces the test's
  }
  for (auto& [k, v] : env) envs.push_back(k + "=" + v);
  // The server gets a fresh, stateless store unless the test names another
  // storage (a later flag wins).
  if (binary == ServerBinary()) args.insert(args.begin(), "--storage-type=memory");
  args.insert(args.begin(), binary);
  std::vector<char*> argv, envp;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto& e : envs) envp.push_back(e.data());
  envp.push_back(nullptr);

  int out_pipe[2], err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0) {
    throw std::runtime_error("pipe failed");
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
  // The test process may run with signals blocked or ignored (gtest does
  // not, but be explicit): the server must start with the defaults.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  started_ = std::chrono::steady_clock::now();
  int rc = posix_spawn(&pid_, argv[0], &actions, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  close(out_pipe[1]);
  close(err_pipe[1]);
  if (rc != 0) {
    close(out_pipe[0]);
    close(err_pipe[0]);
    throw std::runtime_error("posix_spawn " + binary + ": " + std::strerror(rc));
  }
  out_thread_ = std::thread([this, fd = out_pipe[0]] { Reader(fd, &out_); });
  err_thread_ = std::thread([this, fd = err_pipe[0]] { Reader(fd, &err_); });
}

ServerProcess::~ServerProcess() {
  if (!reaped_ && pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, &status_, 0);
  }
  if (out_thread_.joinable()) out_thread_.join();
  if (err_thread_.joinable()) err_thread_.join();
}

void ServerProcess::Reader(int fd, std::string* sink) {
  char buf[4096];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    std::lock_guard<std::mutex> lock(mu_);
    sink->append(buf, static_cast<std::size_t>(n));
    cv_.notify_all();
  }
  close(fd);
  std::lock_guard<std::mutex> lock(mu_);
  --open_pipes_;
  cv_.notify_all();
}

std::optional<nlohmann::json> ServerProcess::WaitStarted(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  std::optional<nlohmann::json> found;
  auto scan = [&] {
    for (const auto& line : Lines(err_)) {
      if (line.find("device-api-server started") == std::string::npos) continue;
      auto j = nlohmann::json::parse(line, nullptr, false);
      if (!j.is_discarded()) found = j;
      return true;
    }
    return open_pipes_ < 2;  // stderr closed: the process is gone
  };
  cv_.wait_for(lock, timeout, scan);
  return found;
}

bool ServerProcess::WaitForLog(const std::string& text, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return err_.find(text) != std::string::npos; });
}

void ServerProcess::Signal(int signo) {
  if (!reaped_) kill(pid_, signo);
}

ExitResult ServerProcess::Wait(std::chrono::milliseconds timeout) {
  ExitResult result;
  auto start = std::chrono::steady_clock::now();
  auto deadline = start + timeout;
  while (!reaped_) {
    pid_t r = waitpid(pid_, &status_, WNOHANG);
    if (r == pid_) {
      reaped_ = true;
      break;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status_, 0);
      reaped_ = true;
      result.exited = false;
      result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (out_thread_.joinable()) out_thread_.join();
      if (err_thread_.joinable()) err_thread_.join();
      result.out = Stdout();
      result.err = Stderr();
      return result;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));  // waitpid has no timeout
  }
  result.exited = true;
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  result.code = WIFEXITED(status_) ? WEXITSTATUS(status_) : 128 + WTERMSIG(status_);
  if (out_thread_.joinable()) out_thread_.join();
  if (err_thread_.joinable()) err_thread_.join();
  result.out = Stdout();
  result.err = Stderr();
  return result;
}

std::string ServerProcess::Stdout() {
  std::lock_guard<std::mutex> lock(mu_);
  return out_;
}

std::string ServerProcess::Stderr() {
  std::lock_guard<std::mutex> lock(mu_);
  return err_;
}

ExitResult RunToExit(std::vector<std::string> args, Env env, std::chrono::milliseconds timeout) {
  ServerProcess p(std::move(args), std::move(env));
  return p.Wait(timeout);
}

int PortOf(const std::string& address) {
  auto colon = address.rfind(':');
  if (colon == std::string::npos) return 0;
  return std::stoi(address.substr(colon + 1));
}

TempDir::TempDir() {
  char tmpl[] = "/tmp/das-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

}  // namespace deviceapi::testing
