// The devicectl commands, each a function of its parsed arguments.
#pragma once

#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "cli/app.h"

namespace deviceapi::cli {

// What every command needs: where to write, the clock, the client.
struct Context {
  std::ostream& out;
  std::ostream& err;
  const Environment& env;
  std::string target;
  int timeout_s = 10;
  TimePoint now;
  std::shared_ptr<Client> client;
  CallOptions call() const {
    CallOptions c;
    c.timeout = std::chrono::seconds(timeout_s);
    return c;
  }
  // Prints ErrorLine(status) and returns kExitError.
  int Fail(const Status& status) const;
  // Prints "error: <message>" and returns kExitUsage.
  int Usage(const std::string& message) const;
};

struct GetArgs {
  std::string name;
  std::string output;
  std::string selector;
  std::string namespace_name;
  bool all_namespaces = false;
  bool watch = false;
  int watch_timeout_s = 0;  // 0: until interrupted
};

int CmdGet(Context& ctx, const GetArgs& args);
int CmdDescribe(Context& ctx, const std::string& name, const std::string& ns);
int CmdCreate(Context& ctx, const std::string& file);
int CmdDelete(Context& ctx, const std::string& name, const std::string& ns);
int CmdLabel(Context& ctx, const std::string& name, const std::string& ns,
             const std::vector<std::string>& changes, bool overwrite);
int CmdSetCondition(Context& ctx, const std::string& name, const std::string& ns,
                    const std::string& type_status, const std::string& reason,
                    const std::string& message);
int CmdHealth(Context& ctx);

}  // namespace deviceapi::cli
