// RunServer: what main() does, kept here so that main.cc stays one line and
// the sequence is testable in-process.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <atomic>
#include <chrono>
#include <thread>

#include <absl/synchronization/mutex.h>
#include <grpc/grpc.h>

#include "server/flags.h"
#include "base/logging.h"
#include "server/server.h"
#include "base/signal_waiter.h"

namespace deviceapi::server {

using base::InitLogging;
using base::LogInfo;
using base::LogWarn;
using base::LoggingOptions;
using base::SignalWaiter;

namespace {

// S34: the process is gone once the grace period has passed since the first
// signal, whatever clients or the teardown do. The drain ends before the
// grace period (server.cc), so this fires only when something after it
// hangs; what was acknowledged is already committed (S24), so leaving
// without the remaining destructors loses nothing.
void ExitAfterGracePeriod(std::chrono::milliseconds grace) {
  std::thread([grace] {
    std::this_thread::sleep_for(grace);
    LogWarn("shutdown did not finish within the grace period; exiting without the rest of the teardown",
            {{"grace_period_ms", static_cast<std::int64_t>(grace.count())}});
    base::FlushSuppressedLogLines();
    std::fflush(nullptr);
    std::_Exit(0);
  }).detach();
}

}  // namespace

int RunServer(int argc, char** argv) {
  // Before any thread exists, so that only the SignalWaiter sees them.
  SignalWaiter::BlockShutdownSignals();
  // A client that goes away while TLS writes to it (OpenSSL's socket writes
  // do not pass MSG_NOSIGNAL) must cost an error, not the process.
  std::signal(SIGPIPE, SIG_IGN);
  // Debian builds Abseil without NDEBUG, which leaves absl::Mutex's deadlock
  // detection on: every lock gRPC takes updates a global lock-order graph
  // (about 3 % of the server's CPU under load). It only ever reports bugs
  // inside gRPC, so production turns it off.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);

  FlagsOutcome flags = ParseFlags(argc, argv);
  if (!flags.run) {
    if (!flags.output.empty()) std::fputs(flags.output.c_str(), stdout);
    if (!flags.error.empty()) std::fprintf(stderr, "device-api-server: %s\n", flags.error.c_str());
    return flags.exit_code;
  }

  LoggingOptions logging;
  logging.json = flags.config.log_format == LogFormat::kJson;
  logging.verbosity = flags.config.verbosity;
  InitLogging(logging);

  const std::chrono::milliseconds grace = flags.config.shutdown_grace_period;
  // A reference on gRPC's library for the life of the process, never
  // dropped: the last one dropped runs gRPC's global shutdown, which joins
  // its executor threads, and one of them can sit in a poll of up to 10 s
  // (the backup poller of a write a stalled client left pending). The
  // server is fully stopped before that point; the exit does not need it.
  grpc_init();
  Server server(std::move(flags.config));
  std::string error;
  if (!server.Start(&error)) {
    std::fprintf(stderr, "device-api-server: %s\n", error.c_str());
    return kExitUsage;
  }

  std::atomic<int> signals{0};
  SignalWaiter waiter([&](int signo) {
    if (signals.fetch_add(1) > 0) {
      // A second signal: the operator does not want to wait for the drain.
      LogWarn("second signal, exiting now", {{"signal", strsignal(signo)}});
      std::_Exit(1);
    }
    LogInfo("signal received", {{"signal", strsignal(signo)}});
    ExitAfterGracePeriod(grace);
    server.RequestShutdown();
  });
  server.WaitForShutdownRequest();
  server.Shutdown();
  base::FlushSuppressedLogLines();
  return 0;
}

}  // namespace deviceapi::server
