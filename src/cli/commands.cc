#include "cli/commands.h"

#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include "deviceapi/conditions.h"
#include "deviceapi/retry.h"

namespace deviceapi::cli {
namespace {

std::string OneLine(std::string s) {
  for (char& c : s)
    if (c == '\n' || c == '\r') c = ' ';
  return s;
}

const char* ReasonOf(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::NOT_FOUND: return "NotFound";
    case grpc::StatusCode::ALREADY_EXISTS: return "AlreadyExists";
    case grpc::StatusCode::ABORTED: return "Conflict";
    case grpc::StatusCode::INVALID_ARGUMENT: return "Invalid";
    case grpc::StatusCode::OUT_OF_RANGE: return "Expired";
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return "TooManyRequests";
    case grpc::StatusCode::DEADLINE_EXCEEDED: return "Timeout";
    case grpc::StatusCode::UNAVAILABLE: return "ServiceUnavailable";
    case grpc::StatusCode::PERMISSION_DENIED: return "Forbidden";
    case grpc::StatusCode::UNAUTHENTICATED: return "Unauthorized";
    case grpc::StatusCode::UNIMPLEMENTED: return "NotImplemented";
    default: return "InternalError";
  }
}

// Prints GPUs in the chosen format; `single` prints one object, not a list.
void Print(Context& ctx, OutputFormat format, const TableOptions& table,
           const std::vector<Gpu>& gpus, const GpuList* list, bool single) {
  switch (format) {
    case OutputFormat::kTable:
    case OutputFormat::kWide:
      if (gpus.empty() && !single) {
        ctx.err << "No resources found\n";
        return;
      }
      ctx.out << FormatTable(gpus, table);
      return;
    case OutputFormat::kName:
      for (const auto& g : gpus) ctx.out << FormatName(g);
      return;
    case OutputFormat::kJson:
    case OutputFormat::kYaml: {
      Json doc = single ? GpuToJson(gpus.front()) : GpuListToJson(*list);
      ctx.out << (format == OutputFormat::kJson ? FormatJson(doc) : ToYaml(doc));
      return;
    }
  }
}

int Watch(Context& ctx, const GetArgs& args, OutputFormat format, TableOptions table) {
  ListOptions lo;
  lo.namespace_name = args.all_namespaces ? "" : args.namespace_name;
  lo.label_selector = args.selector;
  lo.call = ctx.call();
  StatusOr<GpuList> list = ctx.client->List(lo);
  if (!list.ok()) return ctx.Fail(list.status());
  std::vector<Gpu> initial;
  for (const auto& g : list->items())
    if (args.name.empty() || g.metadata().name() == args.name) initial.push_back(g);
  bool is_table = format == OutputFormat::kTable || format == OutputFormat::kWide;
  if (is_table) {
    ctx.out << FormatTable(initial, table);
    table.min_widths = ColumnWidths(initial, table);
  } else {
    for (const auto& g : initial) {
      if (format == OutputFormat::kName) ctx.out << FormatName(g);
      else if (format == OutputFormat::kJson) ctx.out << FormatJson(GpuToJson(g));
      else ctx.out << "---\n" << ToYaml(GpuToJson(g));
    }
  }
  ctx.out.flush();
  WatchOptions wo;
  wo.namespace_name = lo.namespace_name;
  wo.label_selector = args.selector;
  wo.resource_version = list->metadata().resource_version();
  wo.timeout_seconds = args.watch_timeout_s;
  auto stream = ctx.client->Watch(wo);
  WatchEvent ev;
  while (stream->Next(&ev)) {
    if (ev.type == EventType::kBookmark) continue;
    if (!args.name.empty() && ev.object.metadata().name() != args.name) continue;
    if (is_table) {
      // A row per change, aligned under the first page's columns.
      ctx.out << FormatTable({ev.object}, table, /*header=*/false);
    } else if (format == OutputFormat::kName) {
      ctx.out << FormatName(ev.object);
    } else if (format == OutputFormat::kJson) {
      Json e = Json::object();
      e["type"] = EventTypeName(ev.type);
      e["object"] = GpuToJson(ev.object);
      ctx.out << FormatJson(e);
    } else {
      Json e = Json::object();
      e["type"] = EventTypeName(ev.type);
      e["object"] = GpuToJson(ev.object);
      ctx.out << "---\n" << ToYaml(e);
    }
    ctx.out.flush();
  }
  Status st = stream->Finish();
  if (!st.ok()) return ctx.Fail(st);
  return kExitOk;
}

std::string ReadAll(std::istream& in) {
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

std::string ErrorLine(const Status& status, const std::string& target) {
  if (status.IsUnavailable() && status.message().find("not ready") == std::string::npos)
    return "error: cannot reach the server at " + target + ": " + OneLine(status.message());
  return std::string("Error from server (") + ReasonOf(status.code()) +
         "): " + OneLine(status.message());
}

int Context::Fail(const Status& status) const {
  err << ErrorLine(status, target) << "\n";
  return kExitError;
}

int Context::Usage(const std::string& message) const {
  err << "error: " << OneLine(message) << "\nRun 'devicectl --help' for usage.\n";
  return kExitUsage;
}

int CmdGet(Context& ctx, const GetArgs& args) {
  OutputFormat format;
  if (!ParseOutputFormat(args.output, &format))
    return ctx.Usage("unknown output format \"" + args.output +
                     "\" (want wide, json, yaml or name)");
  if (!args.name.empty() && !args.selector.empty())
    return ctx.Usage("a name and a label selector (-l) cannot be combined");
  if (!args.name.empty() && args.all_namespaces && !args.watch)
    return ctx.Usage("a name cannot be combined with --all-namespaces");
  TableOptions table;
  table.wide = format == OutputFormat::kWide;
  table.show_namespace = args.all_namespaces;
  table.color = ctx.env.color;
  table.now = ctx.now;
  if (args.watch) return Watch(ctx, args, format, table);
  if (!args.name.empty()) {
    GetOptions go;
    go.namespace_name = args.namespace_name;
    go.call = ctx.call();
    StatusOr<Gpu> gpu = ctx.client->Get(args.name, go);
    if (!gpu.ok()) return ctx.Fail(gpu.status());
    Print(ctx, format, table, {*gpu}, nullptr, true);
    return kExitOk;
  }
  ListOptions lo;
  lo.namespace_name = args.all_namespaces ? "" : args.namespace_name;
  lo.label_selector = args.selector;
  lo.call = ctx.call();
  StatusOr<GpuList> list = ctx.client->List(lo);
  if (!list.ok()) return ctx.Fail(list.status());
  std::vector<Gpu> gpus(list->items().begin(), list->items().end());
  Print(ctx, format, table, gpus, &*list, false);
  return kExitOk;
}

int CmdDescribe(Context& ctx, const std::string& name, const std::string& ns) {
  GetOptions go;
  go.namespace_name = ns;
  go.call = ctx.call();
  StatusOr<Gpu> gpu = ctx.client->Get(name, go);
  if (!gpu.ok()) return ctx.Fail(gpu.status());
  ctx.out << FormatDescribe(*gpu, ctx.now);
  return kExitOk;
}

int CmdCreate(Context& ctx, const std::string& file) {
  std::string text;
  if (file == "-") {
    if (ctx.env.in == nullptr) return ctx.Usage("no standard input to read");
    text = ReadAll(*ctx.env.in);
  } else {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
      ctx.err << "error: cannot read " << file << "\n";
      return kExitError;
    }
    text = ReadAll(in);
  }
  StatusOr<Gpu> gpu = ParseGpu(text);
  if (!gpu.ok()) {
    ctx.err << "error: " << file << ": " << OneLine(gpu.status().message()) << "\n";
    return kExitError;
  }
  CreateOptions co;
  co.call = ctx.call();
  StatusOr<Gpu> created = ctx.client->Create(*gpu, co);
  if (!created.ok()) return ctx.Fail(created.status());
  ctx.out << "gpu/" << created->metadata().name() << " created\n";
  return kExitOk;
}

int CmdDelete(Context& ctx, const std::string& name, const std::string& ns) {
  DeleteOptions d;
  d.namespace_name = ns;
  d.call = ctx.call();
  Status st = ctx.client->Delete(name, d);
  if (!st.ok()) return ctx.Fail(st);
  ctx.out << "gpu/" << name << " deleted\n";
  return kExitOk;
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
  go.namespace_name = ns;
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
  if (!refused.empty()) {
    ctx.err << "error: label \"" << refused
            << "\" already has a value; use --overwrite to replace it\n";
    return kExitError;
  }
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
  go.namespace_name = ns;
  go.call = ctx.call();
  Condition c = MakeCondition(type, status, reason, message);
  StatusOr<Gpu> gpu = UpdateStatusWithRetry(
      *ctx.client, name, [&](GpuStatus* s) { return SetCondition(s, c); }, go);
  if (!gpu.ok()) return ctx.Fail(gpu.status());
  ctx.out << "gpu/" << name << " condition " << type << "=" << status << "\n";
  return kExitOk;
}

int CmdHealth(Context& ctx) {
  Status health = ctx.client->CheckHealth("", ctx.call());
  ListOptions lo;
  lo.call = ctx.call();
  lo.label_selector = "deviceapi.devicectl/health-probe";  // matches nothing: a cheap read
  Status ready = ctx.client->List(lo).status();
  ctx.out << "server:  " << ctx.target << "\n";
  ctx.out << "health:  "
          << (health.ok() ? "SERVING"
                          : (health.IsUnavailable() && health.message() == "NOT_SERVING"
                                 ? "NOT_SERVING"
                                 : "error (" + OneLine(health.ToString()) + ")"))
          << "\n";
  ctx.out << "ready:   " << (ready.ok() ? "true" : "false (" + OneLine(ready.message()) + ")")
          << "\n";
  return health.ok() && ready.ok() ? kExitOk : kExitError;
}

}  // namespace deviceapi::cli
