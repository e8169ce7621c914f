// devicectl: the command-line client of the Device API Server.
//
// Run() is the whole program minus process wiring, so tests drive it
// in-process with their own streams, clock and client (e.g. a FakeClient).
// Exit codes: 0 success, 1 error (server or I/O), 2 usage.
#pragma once

#include <chrono>
#include <functional>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cli/format.h"
#include "deviceapi/client.h"

namespace deviceapi::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;
inline constexpr int kExitUsage = 2;

struct Environment {
  std::string server_env;          // $DEVICE_API_SERVER
  std::optional<TimePoint> now;    // $DEVICECTL_NOW (Unix seconds): pins AGE columns
  // The clock when `now` is unset (the system's when empty). A watch reads it
  // for every event it prints, so its AGE column moves on.
  std::function<TimePoint()> clock;
  bool color = false;              // stdout is a TTY and $NO_COLOR is unset
  std::istream* in = nullptr;      // for "create -f -"
  // Opens the client for a resolved target. Tests inject an in-process one.
  std::function<std::shared_ptr<Client>(const std::string& target,
                                        std::chrono::milliseconds timeout)>
      connect;
};

// Environment of the real process (getenv, isatty, gRPC clients).
Environment ProcessEnvironment();

// Runs one command. Output that cannot be written (a full disk, a reader
// gone with SIGPIPE ignored) ends it, a watch included, with exit code 1.
int Run(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
        const Environment& env);

// One-line error text for a failed call: the server's message, kubectl style:
// "Error from server (NotFound): gpu \"x\" not found"; when gRPC could not get
// the call to the server at all (no socket, connection refused, name not
// resolved), "error: cannot reach the server at <target>: <why>".
std::string ErrorLine(const Status& status, const std::string& target);

}  // namespace deviceapi::cli
