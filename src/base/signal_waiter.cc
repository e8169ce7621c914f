#include "base/signal_waiter.h"

#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

namespace deviceapi::base {
namespace {

sigset_t ShutdownSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  return set;
}

}  // namespace

void SignalWaiter::BlockShutdownSignals() {
  sigset_t set = ShutdownSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

SignalWaiter::SignalWaiter(std::function<void(int)> on_signal) : on_signal_(std::move(on_signal)) {
  sigset_t set = ShutdownSignals();
  signal_fd_ = signalfd(-1, &set, SFD_CLOEXEC);
  stop_fd_ = eventfd(0, EFD_CLOEXEC);
  thread_ = std::thread([this] { Loop(); });
}

SignalWaiter::~SignalWaiter() {
  std::uint64_t one = 1;
  if (write(stop_fd_, &one, sizeof one) < 0) {
    // Nothing sensible to do; the join below would hang only if the eventfd
    // were broken, which cannot happen for a valid descriptor.
  }
  if (thread_.joinable()) thread_.join();
  close(signal_fd_);
  close(stop_fd_);
}

void SignalWaiter::Loop() {
  for (;;) {
    pollfd fds[2] = {{signal_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents != 0) return;
    if (fds[0].revents & POLLIN) {
      signalfd_siginfo info{};
      if (read(signal_fd_, &info, sizeof info) == sizeof info) {
        on_signal_(static_cast<int>(info.ssi_signo));
      }
    }
  }
}

}  // namespace deviceapi::base
