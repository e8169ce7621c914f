// nvml-provider: the node's NVML health provider (see src/nvml/provider.h).
// Exit status: 0 after SIGINT/SIGTERM, 1 when NVML cannot be used, 2 on bad flags.
#include <signal.h>

#include <cstdio>

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "nvml/provider.h"

int main(int argc, char** argv) {
  using namespace deviceapi::nvml;
  auto parsed = ParseProviderFlags(argc, argv, ProcessEnv());
  if (!parsed.config) {
    std::fprintf(parsed.exit_code == 0 ? stdout : stderr, "%s\n", parsed.output.c_str());
    return parsed.exit_code;
  }
  // Structured, one line per record, UTC, to stderr.
  auto logger = spdlog::stderr_logger_mt("nvml-provider");
  logger->set_pattern("ts=%Y-%m-%dT%H:%M:%S.%fZ level=%l %v", spdlog::pattern_time_type::utc);
  logger->set_level(spdlog::level::from_str(parsed.config->log_level));
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(logger);

  // Signals go to sigwait below, never to a worker thread.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);

  Provider provider(*parsed.config);
  std::string error;
  if (!provider.Start(&error)) {
    spdlog::critical("cannot start: {}", error);
    return 1;
  }
  int sig = 0;
  sigwait(&set, &sig);
  spdlog::info("signal={} stopping", sig);
  provider.Stop();
  spdlog::info("stopped");
  return 0;
}
