// devicectl's command line: CLI11 wiring, global flags, exit codes.
#include "cli/app.h"

#include <unistd.h>

#include <cstdlib>
#include <iostream>

#include <CLI/CLI.hpp>

#include "base/command_line.h"
#include "cli/commands.h"
#include "cli/duration.h"
#include "deviceapi/build_info.h"

namespace deviceapi::cli {

Environment ProcessEnvironment() {
  Environment env;
  if (const char* s = std::getenv(kServerEnvVar)) env.server_env = s;
  if (const char* n = std::getenv("DEVICECTL_NOW"); n != nullptr && *n != '\0') {
    char* end = nullptr;
    long long secs = std::strtoll(n, &end, 10);
    if (end != nullptr && *end == '\0')
      env.now = TimePoint(std::chrono::seconds(secs));
  }
  const char* no_color = std::getenv("NO_COLOR");
  env.color = isatty(STDOUT_FILENO) == 1 && (no_color == nullptr || *no_color == '\0');
  env.in = &std::cin;
  env.connect = [](const std::string& target, std::chrono::milliseconds timeout) {
    ClientOptions o;
    o.target = target;
    o.default_timeout = timeout;
    o.user_agent = std::string("devicectl/") + build::kVersion;
    return std::make_shared<Client>(o);
  };
  return env;
}

TimePoint Context::Now() const {
  if (env.now) return *env.now;
  return env.clock ? env.clock() : std::chrono::system_clock::now();
}

namespace {

int RunCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
               const Environment& env) {
  CLI::App app{"devicectl: inspect and change the GPUs of a node's Device API Server", "devicectl"};
  app.require_subcommand(1);
  app.fallthrough();
  std::string server;
  std::string request_timeout = "10s";
  int timeout_s = 0;
  app.add_option("-s,--server", server,
                 "Server address: unix:///path or host:port (default: $DEVICE_API_SERVER, else " +
                     std::string(kDefaultServerTarget) + ")");
  app.add_option("--request-timeout", request_timeout,
                 "How long each request may take, e.g. 30s, 1m (up to 1h, default 10s)")
      ->type_name("DURATION");
  auto* timeout_opt =
      app.add_option("--timeout", timeout_s, "The older form of --request-timeout, in seconds (1-3600)")
          ->type_name("SECONDS");

  const char* ns_help = "Namespace (default: default)";
  auto resource_arg = [](CLI::App* cmd, std::string& resource, const std::string& help) {
    cmd->add_option("resource", resource, help)->required()->check(CLI::IsMember({"gpu", "gpus"}));
  };

  GetArgs get;
  std::string resource;
  auto* get_cmd = app.add_subcommand("get", "List GPUs or provider leases, or show some by name");
  get_cmd->add_option("resource", resource, "gpus (or gpu), leases (or lease)")
      ->required()
      ->check(CLI::IsMember({"gpu", "gpus", "lease", "leases"}));
  get_cmd->add_option("name", get.names, "Names of GPUs or leases");
  get_cmd->add_option("-o,--output", get.output, "Output format: wide, json, yaml or name");
  get_cmd->add_option("-l,--selector", get.selector, "Label selector, e.g. zone=a,!drained");
  get_cmd->add_option("-n,--namespace", get.namespace_name, ns_help);
  get_cmd->add_flag("-A,--all-namespaces", get.all_namespaces,
                    "All namespaces (adds a NAMESPACE column)");
  get_cmd->add_flag("-w,--watch", get.watch, "After listing, print changes as they happen");
  get_cmd->add_flag("--watch-only", get.watch_only, "Print changes only, without listing first");
  get_cmd->add_flag("--output-watch-events", get.output_watch_events,
                    "With -w: print each change with its event type (ADDED, MODIFIED, DELETED)");
  get_cmd->add_option("--watch-timeout", get.watch_timeout_s,
                      "With -w: stop after this many seconds (default: never)")
      ->type_name("SECONDS");
  get_cmd->add_flag("--no-headers", get.no_headers, "Tables without their header line");
  get_cmd->add_flag("--show-labels", get.show_labels, "Add a LABELS column");
  // One value per -L (split at commas), so that "-L zone gpu-1" leaves gpu-1 a name.
  get_cmd->add_option("-L,--label-columns", get.label_columns,
                      "Add a column with the value of this label (repeat, or key1,key2)")
      ->delimiter(',')
      ->expected(1)
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
      ->type_name("KEY");
  get_cmd->add_option("--sort-by", get.sort_by,
                      "Sort by a field, as a JSONPath: .metadata.name, "
                      "{.status.conditions[0].status}")
      ->type_name("PATH");

  Selection which;
  auto* describe_cmd = app.add_subcommand("describe", "Show GPUs in detail");
  resource_arg(describe_cmd, resource, "gpus (or gpu)");
  describe_cmd->add_option("name", which.names,
                           "Names of GPUs (default: every GPU the selector matches)");
  describe_cmd->add_option("-l,--selector", which.selector, "Label selector, e.g. zone=a");
  describe_cmd->add_option("-n,--namespace", which.namespace_name, ns_help);

  std::string file;
  auto* create_cmd = app.add_subcommand("create", "Create a GPU from a JSON or YAML file");
  create_cmd->add_option("-f,--filename", file, "File to read, - for standard input")->required();

  auto* delete_cmd = app.add_subcommand("delete", "Delete GPUs by name, by selector or all");
  resource_arg(delete_cmd, resource, "gpus (or gpu)");
  delete_cmd->add_option("name", which.names, "Names of GPUs");
  delete_cmd->add_option("-l,--selector", which.selector, "Delete the GPUs this selector matches");
  delete_cmd->add_flag("--all", which.all, "Delete every GPU of the namespace");
  delete_cmd->add_option("-n,--namespace", which.namespace_name, ns_help);

  std::string name, ns;
  std::vector<std::string> changes;
  bool overwrite = false;
  auto* label_cmd = app.add_subcommand("label", "Add, change (--overwrite) or remove (key-) labels");
  resource_arg(label_cmd, resource, "gpu");
  label_cmd->add_option("name", name, "Name of the GPU")->required();
  label_cmd->add_option("changes", changes, "key=value to set, key- to remove")->required();
  label_cmd->add_flag("--overwrite", overwrite, "Allow changing an existing label's value");
  label_cmd->add_option("-n,--namespace", ns, ns_help);

  std::string type_status, reason, message;
  auto* cond_cmd = app.add_subcommand("set-condition", "Set one condition of a GPU's status");
  resource_arg(cond_cmd, resource, "gpu");
  cond_cmd->add_option("name", name, "Name of the GPU")->required();
  cond_cmd->add_option("condition", type_status, "TYPE=STATUS, STATUS one of True, False, Unknown")
      ->required();
  cond_cmd->add_option("--reason", reason, "CamelCase reason");
  cond_cmd->add_option("--message", message, "Human-readable message");
  cond_cmd->add_option("-n,--namespace", ns, ns_help);

  PatchArgs patch;
  auto* patch_cmd = app.add_subcommand("patch", "Patch a GPU on the server: merge or strategic merge");
  resource_arg(patch_cmd, resource, "gpu");
  patch_cmd->add_option("name", patch.name, "Name of the GPU")->required();
  patch_cmd->add_option("-p,--patch", patch.patch, "The patch document, JSON");
  patch_cmd->add_option("--patch-file", patch.patch_file, "File holding the patch, - for standard input");
  patch_cmd->add_option("--type", patch.type,
                        "strategic (conditions merge by type; the default) or merge (RFC 7386)");
  patch_cmd->add_option("--subresource", patch.subresource,
                        "status: patch the status (else labels, annotations and spec)");
  patch_cmd->add_option("-n,--namespace", patch.namespace_name, ns_help);

  auto* health_cmd = app.add_subcommand("health", "Check the server's health and readiness");

  bool client_only = false;
  std::string version_output;
  auto* version_cmd =
      app.add_subcommand("version", "Print the versions of devicectl and of the server");
  version_cmd->add_flag("--client", client_only, "Only devicectl's version; no server call");
  version_cmd->add_option("-o,--output", version_output, "Output format: json or yaml");

  const std::vector<std::string> expanded = base::ExpandEmptyAssignments(args);
  std::vector<std::string> reversed(expanded.rbegin(), expanded.rend());
  try {
    app.parse(reversed);
  } catch (const CLI::CallForHelp&) {
    out << app.help();
    return kExitOk;
  } catch (const CLI::CallForAllHelp&) {
    out << app.help("", CLI::AppFormatMode::All);
    return kExitOk;
  } catch (const CLI::ParseError& e) {
    // Help of a subcommand arrives as CallForHelp from it; everything else is usage.
    err << "error: " << e.what() << "\nRun 'devicectl --help' for usage.\n";
    return kExitUsage;
  }

  auto usage = [&](const std::string& message) {
    err << "error: " << message << "\nRun 'devicectl --help' for usage.\n";
    return kExitUsage;
  };
  std::chrono::milliseconds timeout{0};
  if (timeout_opt->count() > 0) {
    if (timeout_s < 1 || timeout_s > 3600) return usage("--timeout must be between 1 and 3600 seconds");
    timeout = std::chrono::seconds(timeout_s);
  } else {
    auto parsed = ParseDuration(request_timeout);
    if (!parsed || *parsed < std::chrono::milliseconds(1) || *parsed > std::chrono::hours(1))
      return usage("--request-timeout \"" + request_timeout +
                   "\" is not a duration between 1ms and 1h (e.g. 30s, 2m)");
    timeout = std::chrono::duration_cast<std::chrono::milliseconds>(*parsed);
  }
  if (get.watch_timeout_s < 0) return usage("--watch-timeout must not be negative");

  std::string target = !server.empty()           ? server
                       : !env.server_env.empty() ? env.server_env
                                                 : kDefaultServerTarget;
  Context ctx{out, err, env, target, timeout, {}, nullptr};
  ctx.now = ctx.Now();
  if (version_cmd->parsed() && client_only) return CmdVersion(ctx, true, version_output);
  ctx.client = env.connect(target, timeout);

  if (get_cmd->parsed() && resource.rfind("lease", 0) == 0) return CmdGetLeases(ctx, get);
  if (get_cmd->parsed()) return CmdGet(ctx, get);
  if (describe_cmd->parsed()) return CmdDescribe(ctx, which);
  if (create_cmd->parsed()) return CmdCreate(ctx, file);
  if (delete_cmd->parsed()) return CmdDelete(ctx, which);
  if (label_cmd->parsed()) return CmdLabel(ctx, name, ns, changes, overwrite);
  if (patch_cmd->parsed()) return CmdPatch(ctx, patch);
  if (cond_cmd->parsed()) return CmdSetCondition(ctx, name, ns, type_status, reason, message);
  if (health_cmd->parsed()) return CmdHealth(ctx);
  if (version_cmd->parsed()) return CmdVersion(ctx, false, version_output);
  return ctx.Usage("no command given");
}

}  // namespace

int Run(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
        const Environment& env) {
  const int code = RunCommand(args, out, err, env);
  out.flush();
  if (out) return code;
  err << "error: cannot write the output (a full disk, or its reader went away)\n";
  return code == kExitOk ? kExitError : code;
}

}  // namespace deviceapi::cli
