// nvml-provider: the node's NVML health provider (see src/nvml/provider.h).
// Exit status: 0 after SIGINT/SIGTERM, 1 when NVML cannot be used or the admin
// port cannot be listened on, 2 on bad flags.
#include <signal.h>

#include <cstdio>
#include <cstring>
#include <atomic>
#include <future>

#include <spdlog/spdlog.h>

#include "base/logging.h"
#include "base/signal_waiter.h"
#include "nvml/provider.h"

int main(int argc, char** argv) {
  using namespace deviceapi;
  // Before any thread exists, so that only the SignalWaiter sees them.
  base::SignalWaiter::BlockShutdownSignals();
  signal(SIGPIPE, SIG_IGN);
  auto parsed = nvml::ParseProviderFlags(argc, argv, nvml::ProcessEnv());
  if (!parsed.config) {
    std::fprintf(parsed.exit_code == 0 ? stdout : stderr, "%s\n", parsed.output.c_str());
    return parsed.exit_code;
  }
  // The server's structured log: one JSON object per line on stderr.
  base::LoggingOptions logging;
  logging.level = base::ParseLogLevel(parsed.config->log_level);
  base::InitLogging(logging);
  for (const auto& warning : parsed.warnings) spdlog::warn("{}", warning);

  nvml::Provider provider(*parsed.config);
  std::string error;
  if (!provider.Start(&error)) {
    base::LogError("cannot start", {{"error", error}});
    return 1;
  }
  std::promise<int> signalled;
  std::atomic<bool> once{false};
  base::SignalWaiter waiter([&](int signo) {
    if (!once.exchange(true)) signalled.set_value(signo);
  });
  const int sig = signalled.get_future().get();
  base::LogInfo("signal received, stopping", {{"signal", strsignal(sig)}});
  provider.Stop();
  base::LogInfo("stopped");
  base::FlushSuppressedLogLines();
  return 0;
}
