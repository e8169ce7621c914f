// SIGTERM/SIGINT handling without async-signal-unsafe handlers: the signals
// are blocked in every thread and read from a signalfd by one thread, which
// runs an ordinary callback.
#pragma once

#include <functional>
#include <thread>

namespace deviceapi::base {

class SignalWaiter {
 public:
  // Blocks SIGTERM and SIGINT in the calling thread; threads created later
  // inherit the mask. Call first thing in main, before any thread exists.
  static void BlockShutdownSignals();

  // Calls `on_signal(signo)` on its own thread for each signal received.
  explicit SignalWaiter(std::function<void(int)> on_signal);
  ~SignalWaiter();  // stops the thread
  SignalWaiter(const SignalWaiter&) = delete;
  SignalWaiter& operator=(const SignalWaiter&) = delete;

 private:
  void Loop();
  std::function<void(int)> on_signal_;
  int signal_fd_ = -1;
  int stop_fd_ = -1;  // eventfd that ends the loop
  std::thread thread_;
};

}  // namespace deviceapi::base
