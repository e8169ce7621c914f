// Waits for something another thread or process does: polls `done` until it
// holds or `timeout` passes, so a test neither sleeps a fixed time nor hangs
// when the thing never happens. Header-only; test code only.
#pragma once

#include <chrono>
#include <thread>

namespace deviceapi::testing {

// True as soon as `done()` is; false when it still is not after `timeout`.
template <typename Done>
bool Eventually(Done done, std::chrono::milliseconds timeout = std::chrono::seconds(10),
                std::chrono::milliseconds poll = std::chrono::milliseconds(5)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(poll);
  }
  return true;
}

}  // namespace deviceapi::testing
