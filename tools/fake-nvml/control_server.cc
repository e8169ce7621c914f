#include "control_server.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <thread>

#include "fake_model.h"

namespace fakenvml {
namespace {
std::atomic<bool> g_stop{false};
std::thread g_thread;
int g_fd = -1;
std::string g_path;

void Serve(int client) {
  std::string buf;
  char chunk[4096];
  while (!g_stop) {
    pollfd p{client, POLLIN, 0};
    int pr = poll(&p, 1, 100);
    if (pr == 0) continue;
    if (pr < 0) break;
    ssize_t n = read(client, chunk, sizeof chunk);
    if (n <= 0) break;
    buf.append(chunk, static_cast<size_t>(n));
    if (buf.size() > (1u << 20)) break;  // a line this long is not a command
    size_t nl;
    while ((nl = buf.find('\n')) != std::string::npos) {
      std::string line = buf.substr(0, nl);
      buf.erase(0, nl + 1);
      std::string reply = TheModel().Apply(line) + "\n";
      if (write(client, reply.data(), reply.size()) < 0) return;
    }
  }
}

void Loop() {
  while (!g_stop) {
    pollfd p{g_fd, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    int c = accept(g_fd, nullptr, nullptr);
    if (c < 0) continue;
    Serve(c);  // one client at a time is plenty for tests and the demo
    close(c);
  }
}
}  // namespace

bool StartControlServer(const std::string& path, std::string* error) {
  if (g_fd >= 0) return true;
  sockaddr_un addr{};
  if (path.size() >= sizeof addr.sun_path) {
    *error = "control socket path too long";
    return false;
  }
  addr.sun_family = AF_UNIX;
  memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *error = strerror(errno);
    return false;
  }
  unlink(path.c_str());
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(fd, 8) != 0) {
    *error = "control socket " + path + ": " + strerror(errno);
    close(fd);
    return false;
  }
  g_fd = fd;
  g_path = path;
  g_stop = false;
  g_thread = std::thread(Loop);
  return true;
}

void StopControlServer() {
  if (g_fd < 0) return;
  g_stop = true;
  if (g_thread.joinable()) g_thread.join();
  close(g_fd);
  unlink(g_path.c_str());
  g_fd = -1;
}

}  // namespace fakenvml
