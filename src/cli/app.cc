// devicectl's command line: CLI11 wiring, global flags, exit codes.
#include "cli/app.h"

#include <unistd.h>

#include <cstdlib>
#include <iostream>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
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
  env.connect = [](const std::string& target, int timeout_s) {
    ClientOptions o;
    o.target = target;
    o.default_timeout = std::chrono::seconds(timeout_s);
    o.user_agent = std::string("devicectl/") + build::kVersion;
    return std::make_shared<Client>(o);
  };
  return env;
}

int Run(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
        const Environment& env) {
  CLI::App app{"devicectl: inspect and change the GPUs of a node's Device API Server", "devicectl"};
  app.require_subcommand(1);
  app.fallthrough();
  std::string server;
  int timeout_s = 10;
  app.add_option("-s,--server", server,
                 "Server address: unix:///path or host:port (default: $DEVICE_API_SERVER, else " +
                     std::string(kDefaultServerTarget) + ")");
  app.add_option("--timeout", timeout_s, "Seconds each request may take (1-3600, default 10)")
      ->type_name("SECONDS");

  GetArgs get;
  std::string resource;
  auto* get_cmd = app.add_subcommand("get", "List GPUs, or show one");
  get_cmd->add_option("resource", resource, "gpus (or gpu)")->required()
      ->check(CLI::IsMember({"gpu", "gpus"}));
  get_cmd->add_option("name", get.name, "Name of one GPU");
  get_cmd->add_option("-o,--output", get.output, "Output format: wide, json, yaml or name");
  get_cmd->add_option("-l,--selector", get.selector, "Label selector, e.g. zone=a,!drained");
  get_cmd->add_option("-n,--namespace", get.namespace_name, "Namespace (default: default)");
  get_cmd->add_flag("-A,--all-namespaces", get.all_namespaces, "All namespaces");
  get_cmd->add_flag("-w,--watch", get.watch, "After listing, stream changes as they happen");
  get_cmd->add_option("--watch-timeout", get.watch_timeout_s,
                      "With -w: stop after this many seconds (default: never)")
      ->type_name("SECONDS");

  std::string name, ns;
  auto* describe_cmd = app.add_subcommand("describe", "Show one GPU in detail");
  describe_cmd->add_option("resource", resource, "gpu")->required()
      ->check(CLI::IsMember({"gpu", "gpus"}));
  describe_cmd->add_option("name", name, "Name of the GPU")->required();
  describe_cmd->add_option("-n,--namespace", ns, "Namespace (default: default)");

  std::string file;
  auto* create_cmd = app.add_subcommand("create", "Create a GPU from a JSON or YAML file");
  create_cmd->add_option("-f,--filename", file, "File to read, - for standard input")->required();

  auto* delete_cmd = app.add_subcommand("delete", "Delete a GPU");
  delete_cmd->add_option("resource", resource, "gpu")->required()
      ->check(CLI::IsMember({"gpu", "gpus"}));
  delete_cmd->add_option("name", name, "Name of the GPU")->required();
  delete_cmd->add_option("-n,--namespace", ns, "Namespace (default: default)");

  std::vector<std::string> changes;
  bool overwrite = false;
  auto* label_cmd = app.add_subcommand("label", "Add, change (--overwrite) or remove (key-) labels");
  label_cmd->add_option("resource", resource, "gpu")->required()
      ->check(CLI::IsMember({"gpu", "gpus"}));
  label_cmd->add_option("name", name, "Name of the GPU")->required();
  label_cmd->add_option("changes", changes, "key=value to set, key- to remove")->required();
  label_cmd->add_flag("--overwrite", overwrite, "Allow changing an existing label's value");
  label_cmd->add_option("-n,--namespace", ns, "Namespace (default: default)");

  std::string type_status, reason, message;
  auto* cond_cmd = app.add_subcommand("set-condition", "Set one condition of a GPU's status");
  cond_cmd->add_option("name", name, "Name of the GPU")->required();
  cond_cmd->add_option("condition", type_status, "TYPE=STATUS, STATUS one of True, False, Unknown")
      ->required();
  cond_cmd->add_option("--reason", reason, "CamelCase reason");
  cond_cmd->add_option("--message", message, "Human-readable message");
  cond_cmd->add_option("-n,--namespace", ns, "Namespace (default: default)");

  auto* health_cmd = app.add_subcommand("health", "Check the server's health and readiness");
  auto* version_cmd = app.add_subcommand("version", "Print the version of devicectl");

  std::vector<std::string> reversed(args.rbegin(), args.rend());
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

  if (timeout_s < 1 || timeout_s > 3600) {
    err << "error: --timeout must be between 1 and 3600 seconds\nRun 'devicectl --help' for usage.\n";
    return kExitUsage;
  }
  if (get.watch_timeout_s < 0) {
    err << "error: --watch-timeout must not be negative\nRun 'devicectl --help' for usage.\n";
    return kExitUsage;
  }
  if (version_cmd->parsed()) {
    out << "devicectl " << build::kVersion << " (commit " << build::kCommit << ", built "
        << build::kBuildDate << ")\n";
    return kExitOk;
  }

  std::string target = !server.empty()           ? server
                       : !env.server_env.empty() ? env.server_env
                                                 : kDefaultServerTarget;
  Context ctx{out, err, env, target, timeout_s,
              env.now ? *env.now : std::chrono::system_clock::now(), nullptr};
  ctx.client = env.connect(target, timeout_s);

  if (get_cmd->parsed()) return CmdGet(ctx, get);
  if (describe_cmd->parsed()) return CmdDescribe(ctx, name, ns);
  if (create_cmd->parsed()) return CmdCreate(ctx, file);
  if (delete_cmd->parsed()) return CmdDelete(ctx, name, ns);
  if (label_cmd->parsed()) return CmdLabel(ctx, name, ns, changes, overwrite);
  if (cond_cmd->parsed()) return CmdSetCondition(ctx, name, ns, type_status, reason, message);
  if (health_cmd->parsed()) return CmdHealth(ctx);
  return ctx.Usage("no command given");
}

}  // namespace deviceapi::cli
