// Command-line arguments as every program of this project reads them.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace deviceapi::base {

// Returns `args` with each "--name=" (a long option, '=' and nothing after it) split into
// "--name" and "". Go's flag package and kubectl read that spelling as the empty value;
// CLI11 instead takes the next argument as the value, or reports it missing at the end, so
// "--server= -o json" would connect to "-o" and "--admin-address= --driver-root /x" would
// serve on "--driver-root". Other arguments are returned unchanged, in order.
inline std::vector<std::string> ExpandEmptyAssignments(std::vector<std::string> args) {
  std::vector<std::string> out;
  out.reserve(args.size());
  for (auto& a : args) {
    const bool empty_assignment = a.size() > 3 && a.compare(0, 2, "--") == 0 &&
                                  a.back() == '=' && a.find('=') == a.size() - 1;
    if (empty_assignment) {
      a.pop_back();
      out.push_back(std::move(a));
      out.emplace_back();
    } else {
      out.push_back(std::move(a));
    }
  }
  return out;
}

// The arguments after the program name, expanded as above.
inline std::vector<std::string> CommandLineArgs(int argc, const char* const* argv) {
  return ExpandEmptyAssignments(std::vector<std::string>(argv + (argc > 0 ? 1 : 0), argv + argc));
}

}  // namespace deviceapi::base
