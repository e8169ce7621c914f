// devicectl: see src/cli/app.h.
#include <csignal>
#include <iostream>
#include <string>
#include <vector>

#include "cli/app.h"

int main(int argc, char** argv) {
  // A reader that goes away (`devicectl get gpus -w | head -1`) is a failed
  // write, answered with exit code 1 and one line, not a death by SIGPIPE.
  std::signal(SIGPIPE, SIG_IGN);
  std::vector<std::string> args(argv + 1, argv + argc);
  return deviceapi::cli::Run(args, std::cout, std::cerr, deviceapi::cli::ProcessEnvironment());
}
