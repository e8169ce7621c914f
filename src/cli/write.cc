// The commands that change GPUs: create, delete, label, set-condition.
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>

#include "cli/commands.h"
#include "deviceapi/conditions.h"
#include "deviceapi/retry.h"

namespace deviceapi::cli {
namespace {

std::string ReadAll(std::istream& in) {
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The text of `file` ("-": standard input) into `text`; otherwise the exit
// code of the one-line error it printed.
std::optional<int> ReadInput(Context& ctx, const std::string& file, std::string* text) {
  if (file == "-") {
    if (ctx.env.in == nullptr) return ctx.Usage("no standard input to read");
    *text = ReadAll(*ctx.env.in);
    return std::nullopt;
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) return ctx.Error("cannot read " + file);
  *text = ReadAll(in);
  return std::nullopt;
}

// Deletes one GPU; `uid` non-empty: only while it is still that object.
Status DeleteOne(Context& ctx, const std::string& name, const std::string& ns,
                 const std::string& uid) {
  DeleteOptions d;
  d.namespace_name = ns;
  d.precondition_uid = uid;
  d.call = ctx.call();
  Status st = ctx.client->Delete(name, d);
  if (st.ok()) ctx.out << "gpu/" << name << " deleted\n";
  return st;
}

}  // namespace

int CmdCreate(Context& ctx, const std::string& file) {
  std::string text;
  if (auto failed = ReadInput(ctx, file, &text)) return *failed;
  StatusOr<Gpu> gpu = ParseGpu(text);
  if (!gpu.ok()) return ctx.Error(file + ": " + gpu.status().message());
  CreateOptions co;
  co.call = ctx.call();
  StatusOr<Gpu> created = ctx.client->Create(*gpu, co);
  if (!created.ok()) return ctx.Fail(created.status());
  ctx.out << "gpu/" << created->metadata().name() << " created\n";
  return kExitOk;
}

int CmdDelete(Context& ctx, const Selection& which) {
  const bool by_selector = !which.selector.empty() || which.all;
  if (!which.names.empty() && by_selector)
    return ctx.Usage("a name cannot be combined with -l or --all");
  if (!which.selector.empty() && which.all)
    return ctx.Usage("-l and --all cannot be combined");
  if (which.names.empty() && !by_selector)
    return ctx.Usage("resource(s) were provided, but no name was specified (give names, -l or --all)");
  const std::string ns = NamespaceOrDefault(which.namespace_name);
  bool failed = false;
  if (!by_selector) {
    for (const auto& name : which.names) {
      if (Status st = DeleteOne(ctx, name, ns, ""); !st.ok()) {
        ctx.Fail(st);
        failed = true;
      }
    }
    return failed ? kExitError : kExitOk;
  }
  StatusOr<GpuList> list = ListGpus(ctx, ns, which.selector);
  if (!list.ok()) return ctx.Fail(list.status());
  if (list->items().empty()) {
    ctx.out << "No resources found\n";
    return kExitOk;
  }
  for (const auto& g : list->items()) {
    // Only the object listed: a GPU re-created meanwhile under its name stays.
    Status st = DeleteOne(ctx, g.metadata().name(), ns, g.metadata().uid());
    if (!st.ok() && !st.IsNotFound()) {  // gone already: what was asked for
      ctx.Fail(st);
      failed = true;
    }
  }
  return failed ? kExitError : kExitOk;
}

int CmdLabel(Context& ctx, const std::string& name, const std::string& ns,
             const std::vector<std::string>& changes, bool overwrite) {
  std::map<std::string, std::string> set;
  std::vector<std::string> remove;
  for (const auto& c : changes) {
    auto eq = c.find('=');
    if (eq != std::string::npos) {
      if (eq == 0) return ctx.Usage("invalid label \"" + c + "\": empty key");
      set[c.substr(0, eq)] = c.substr(eq + 1);
    } else if (c.size() > 1 && c.back() == '-') {
      remove.push_back(c.substr(0, c.size() - 1));
    } else {
      return ctx.Usage("invalid label change \"" + c + "\" (want key=value or key-)");
    }
  }
  if (changes.empty()) return ctx.Usage("at least one label change is required");
  GetOptions go;
  go.namespace_name = NamespaceOrDefault(ns);
  go.call = ctx.call();
  std::string refused;
  Status st = RetryOnConflict([&]() -> Status {
    StatusOr<Gpu> gpu = ctx.client->Get(name, go);
    if (!gpu.ok()) return gpu.status();
    auto* labels = gpu->mutable_metadata()->mutable_labels();
    for (const auto& [k, v] : set) {
      auto it = labels->find(k);
      if (it != labels->end() && it->second != v && !overwrite) {
        refused = k;
        return Status();
      }
      (*labels)[k] = v;
    }
    for (const auto& k : remove) labels->erase(k);
    UpdateOptions uo;
    uo.call = ctx.call();
    return ctx.client->Update(*gpu, uo).status();
  });
  if (!st.ok()) return ctx.Fail(st);
  if (!refused.empty())
    return ctx.Error("label \"" + refused + "\" already has a value; use --overwrite to replace it");
  ctx.out << "gpu/" << name << " labeled\n";
  return kExitOk;
}

int CmdSetCondition(Context& ctx, const std::string& name, const std::string& ns,
                    const std::string& type_status, const std::string& reason,
                    const std::string& message) {
  auto eq = type_status.find('=');
  if (eq == std::string::npos || eq == 0)
    return ctx.Usage("invalid condition \"" + type_status + "\" (want TYPE=STATUS)");
  std::string type = type_status.substr(0, eq);
  std::string status = type_status.substr(eq + 1);
  if (status != kConditionTrue && status != kConditionFalse && status != kConditionUnknown)
    return ctx.Usage("invalid condition status \"" + status + "\" (want True, False or Unknown)");
  GetOptions go;
  go.namespace_name = NamespaceOrDefault(ns);
  go.call = ctx.call();
  Condition c = MakeCondition(type, status, reason, message);
  StatusOr<Gpu> gpu = UpdateStatusWithRetry(
      *ctx.client, name, [&](GpuStatus* s) { return SetCondition(s, c); }, go);
  if (!gpu.ok()) return ctx.Fail(gpu.status());
  ctx.out << "gpu/" << name << " condition " << type << "=" << status << "\n";
  return kExitOk;
}

int CmdPatch(Context& ctx, const PatchArgs& args) {
  PatchType type;
  if (args.type == "strategic") {
    type = PatchType::kStrategicMerge;
  } else if (args.type == "merge") {
    type = PatchType::kMerge;
  } else if (args.type == "json") {
    return ctx.Usage("--type json (RFC 6902 JSON patch) is not supported; use strategic or merge");
  } else {
    return ctx.Usage("--type must be strategic or merge, not \"" + args.type + "\"");
  }
  if (!args.subresource.empty() && args.subresource != "status")
    return ctx.Usage("--subresource must be status (or left out), not \"" + args.subresource + "\"");
  if (args.patch.empty() == args.patch_file.empty())
    return ctx.Usage("give the patch with exactly one of -p/--patch and --patch-file");
  std::string text = args.patch;
  if (!args.patch_file.empty()) {
    if (auto failed = ReadInput(ctx, args.patch_file, &text)) return *failed;
  }
  PatchOptions po;
  po.namespace_name = NamespaceOrDefault(args.namespace_name);
  po.call = ctx.call();
  StatusOr<Gpu> patched = args.subresource == "status"
                              ? ctx.client->PatchStatus(args.name, type, text, po)
                              : ctx.client->Patch(args.name, type, text, po);
  if (!patched.ok()) return ctx.Fail(patched.status());
  ctx.out << "gpu/" << args.name << " patched\n";
  return kExitOk;
}

}  // namespace deviceapi::cli
