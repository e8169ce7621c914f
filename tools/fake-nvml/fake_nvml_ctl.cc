// fake-nvml-ctl: drives a running fake NVML through its control socket.
//   fake-nvml-ctl [--socket PATH] xid GPU XID
//                                 ecc GPU sbe|dbe
//                                 lost GPU
//                                 recovery GPU ACTION(0..4)
//                                 reset GPU
//                                 remap GPU pending|failure|clear
//                                 unsupported CALL on|off
//                                 state | ping
//                                 raw JSON
// The socket defaults to $FAKE_NVML_CONTROL. Exit status 0 when the fake answered "ok".
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "control_client.h"

namespace {
int Usage() {
  fprintf(stderr,
          "usage: fake-nvml-ctl [--socket PATH] COMMAND ...\n"
          "  xid GPU XID | ecc GPU sbe|dbe | lost GPU | recovery GPU ACTION | reset GPU\n"
          "  remap GPU pending|failure|clear | unsupported CALL on|off | state | ping | raw JSON\n");
  return 2;
}

long Num(const std::string& s) {
  char* end = nullptr;
  long v = strtol(s.c_str(), &end, 10);
  if (s.empty() || *end) {
    fprintf(stderr, "fake-nvml-ctl: not a number: %s\n", s.c_str());
    exit(2);
  }
  return v;
}
}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  std::string sock = getenv("FAKE_NVML_CONTROL") ? getenv("FAKE_NVML_CONTROL") : "";
  if (args.size() >= 2 && args[0] == "--socket") {
    sock = args[1];
    args.erase(args.begin(), args.begin() + 2);
  }
  if (args.empty() || sock.empty()) return Usage();
  nlohmann::json c;
  const std::string& op = args[0];
  auto need = [&](size_t n) {
    if (args.size() != n) exit(Usage());
  };
  if (op == "xid") { need(3); c = {{"op", "xid"}, {"gpu", Num(args[1])}, {"xid", Num(args[2])}}; }
  else if (op == "ecc") { need(3); c = {{"op", "ecc"}, {"gpu", Num(args[1])}, {"kind", args[2]}}; }
  else if (op == "lost") { need(2); c = {{"op", "lost"}, {"gpu", Num(args[1])}}; }
  else if (op == "recovery") { need(3); c = {{"op", "recovery"}, {"gpu", Num(args[1])}, {"action", Num(args[2])}}; }
  else if (op == "reset") { need(2); c = {{"op", "reset"}, {"gpu", Num(args[1])}}; }
  else if (op == "remap") {
    need(3);
    c = {{"op", "remap"}, {"gpu", Num(args[1])}};
    if (args[2] == "pending") c["pending"] = true;
    else if (args[2] == "failure") c["failure"] = true;
    else if (args[2] == "clear") { c["pending"] = false; c["failure"] = false; c["retired_pending"] = false; }
    else return Usage();
  }
  else if (op == "unsupported") { need(3); c = {{"op", "unsupported"}, {"call", args[1]}, {"on", args[2] == "on"}}; }
  else if (op == "state" || op == "ping") { need(1); c = {{"op", op}}; }
  else if (op == "raw") { need(2); }
  else return Usage();
  std::string line = (op == "raw" ? args[1] : c.dump()) + "\n";

  std::string reply = fakenvml::SendControl(sock, line.substr(0, line.size() - 1));
  printf("%s\n", reply.c_str());
  if (reply.rfind("error", 0) == 0 || reply.empty()) return 1;
  return 0;
}
