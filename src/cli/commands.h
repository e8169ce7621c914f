// The devicectl commands, each a function of its parsed arguments.
#pragma once

#include <chrono>
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
  std::chrono::milliseconds timeout{10000};
  TimePoint now;  // when the command started: one AGE reference for its output
  std::shared_ptr<Client> client;
  // The time now: env.now if pinned, else env.clock or the system's clock.
  TimePoint Now() const;
  // False once `out` failed (a full disk, a reader gone); what the command
  // printed since is lost.
  bool OutputOk() const { return static_cast<bool>(out); }
  CallOptions call() const {
    CallOptions c;
    c.timeout = timeout;
    return c;
  }
  // Prints ErrorLine(status) and returns kExitError.
  int Fail(const Status& status) const;
  // Prints "error: <message>" and returns kExitUsage.
  int Usage(const std::string& message) const;
  // Prints "error: <message>" (one line) and returns kExitError.
  int Error(const std::string& message) const;
};

// -n: kubectl's rule, an empty namespace is "default" (never "all": that is -A).
std::string NamespaceOrDefault(const std::string& ns);

struct GetArgs {
  std::vector<std::string> names;
  std::string output;
  std::string selector;
  std::string namespace_name = "default";
  bool all_namespaces = false;
  bool watch = false;
  bool watch_only = false;           // watch without printing the current objects first
  bool output_watch_events = false;  // wrap watched objects in {type, object} / EVENT column
  int watch_timeout_s = 0;           // 0: until interrupted
  bool no_headers = false;
  bool show_labels = false;
  std::vector<std::string> label_columns;
  std::string sort_by;
};

// Which GPUs a describe or delete addresses: names, or a selector (-l), or
// (delete --all, describe with neither) every GPU of the namespace.
struct Selection {
  std::vector<std::string> names;
  std::string selector;
  std::string namespace_name = "default";
  bool all = false;
};

int CmdGet(Context& ctx, const GetArgs& args);
// get leases [NAME...]: holder, duration, last renewal, state, owned conditions.
int CmdGetLeases(Context& ctx, const GetArgs& args);
int CmdDescribe(Context& ctx, const Selection& which);
int CmdCreate(Context& ctx, const std::string& file);
int CmdDelete(Context& ctx, const Selection& which);
int CmdLabel(Context& ctx, const std::string& name, const std::string& ns,
             const std::vector<std::string>& changes, bool overwrite);
int CmdSetCondition(Context& ctx, const std::string& name, const std::string& ns,
                    const std::string& type_status, const std::string& reason,
                    const std::string& message);
// patch gpu NAME: PatchGpu (S31), kubectl's flags.
struct PatchArgs {
  std::string name;
  std::string namespace_name = "default";
  std::string type = "strategic";  // strategic | merge
  std::string subresource;         // "" | status
  std::string patch;               // -p/--patch: the document
  std::string patch_file;          // --patch-file: a file holding it, - for standard input
};
int CmdPatch(Context& ctx, const PatchArgs& args);
int CmdHealth(Context& ctx);
// Client version, then (unless client_only) the server's; `output` "", json or yaml.
int CmdVersion(Context& ctx, bool client_only, const std::string& output);

// Internal to the command files.
int Watch(Context& ctx, const GetArgs& args, OutputFormat format, TableOptions table);
// The GPUs of `ns` ("" all) matching `selector`, sorted as the server lists them.
StatusOr<GpuList> ListGpus(const Context& ctx, const std::string& ns, const std::string& selector);
// "No resources found in <ns> namespace." (ns "": all namespaces).
std::string NoResourcesFound(const std::string& ns);

}  // namespace deviceapi::cli
