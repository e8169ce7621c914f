// Command line and environment -> validated Config.
//
// Every flag has an environment variable (listed in --help); a flag given on
// the command line wins over its variable. Any bad value ends start-up with
// exit code 2 and one line on stderr naming the flag and the value, e.g.
//   device-api-server: --metrics-bind-address ":99999": port out of range
#pragma once

#include <string>

#include "server/config.h"

namespace deviceapi::server {

inline constexpr int kExitUsage = 2;

struct FlagsOutcome {
  // true: start the server with `config`. false: exit now with `exit_code`,
  // after printing `output` to stdout (help, version) or `error` to stderr.
  bool run = false;
  int exit_code = 0;
  std::string output;
  std::string error;  // one line, without the program name prefix
  Config config;
};

FlagsOutcome ParseFlags(int argc, const char* const* argv);

// The --version document: {"version","commit","buildDate","compiler"}, as /version.
std::string VersionJson();

}  // namespace deviceapi::server
