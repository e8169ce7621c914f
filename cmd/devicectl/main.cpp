// devicectl: see src/cli/app.h.
#include <iostream>
#include <string>
#include <vector>

#include "cli/app.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  return deviceapi::cli::Run(args, std::cout, std::cerr, deviceapi::cli::ProcessEnvironment());
}
