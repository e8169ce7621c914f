// get and describe: reading GPUs by name, by selector or all of a namespace.
#include <iostream>

#include "cli/commands.h"
#include "cli/sort_by.h"

namespace deviceapi::cli {
namespace {

// Prints `gpus` in `format`; `doc` is what json/yaml print (one object or a list).
void Print(Context& ctx, OutputFormat format, const TableOptions& table,
           const std::vector<Gpu>& gpus, const Json& doc) {
  switch (format) {
    case OutputFormat::kTable:
    case OutputFormat::kWide:
      if (!gpus.empty()) ctx.out << FormatTable(gpus, table);
      return;
    case OutputFormat::kName:
      for (const auto& g : gpus) ctx.out << FormatName(g);
      return;
    case OutputFormat::kJson:
      ctx.out << FormatJson(doc);
      return;
    case OutputFormat::kYaml:
      ctx.out << ToYaml(doc);
      return;
  }
}

bool IsTable(OutputFormat format) {
  return format == OutputFormat::kTable || format == OutputFormat::kWide;
}

// Each named GPU of `ns`; an error line for each that cannot be read.
std::vector<Gpu> GetNamed(Context& ctx, const std::vector<std::string>& names,
                          const std::string& ns, bool* failed) {
  std::vector<Gpu> found;
  for (const auto& name : names) {
    GetOptions go;
    go.namespace_name = ns;
    go.call = ctx.call();
    StatusOr<Gpu> gpu = ctx.client->Get(name, go);
    if (gpu.ok()) {
      found.push_back(std::move(*gpu));
    } else {
      ctx.Fail(gpu.status());
      *failed = true;
    }
  }
  return found;
}

}  // namespace

int CmdGet(Context& ctx, const GetArgs& args) {
  OutputFormat format;
  if (!ParseOutputFormat(args.output, &format))
    return ctx.Usage("unknown output format \"" + args.output +
                     "\" (want wide, json, yaml or name)");
  if (!args.names.empty() && !args.selector.empty())
    return ctx.Usage("a name and a label selector (-l) cannot be combined");
  const bool watch = args.watch || args.watch_only;
  if (!args.names.empty() && args.all_namespaces && !watch)
    return ctx.Usage("a name cannot be combined with --all-namespaces");
  if (args.output_watch_events && !watch)
    return ctx.Usage("--output-watch-events needs --watch or --watch-only");
  if (std::vector<Gpu> none; !args.sort_by.empty()) {
    // Sorting nothing checks only the path's syntax: a bad path is a usage error.
    if (Status s = SortByField(args.sort_by, &none); !s.ok()) return ctx.Usage(s.message());
  }
  TableOptions table;
  table.wide = format == OutputFormat::kWide;
  table.show_namespace = args.all_namespaces;
  table.color = ctx.env.color;
  table.now = ctx.now;
  table.no_headers = args.no_headers;
  table.show_labels = args.show_labels;
  table.label_columns = args.label_columns;
  table.event_column = args.output_watch_events;
  if (watch) return Watch(ctx, args, format, table);
  const std::string ns = NamespaceOrDefault(args.namespace_name);

  if (!args.names.empty()) {
    bool failed = false;
    std::vector<Gpu> gpus = GetNamed(ctx, args.names, ns, &failed);
    if (!args.sort_by.empty()) {
      if (Status s = SortByField(args.sort_by, &gpus); !s.ok()) {
        return ctx.Error(s.message());
      }
    }
    if (!gpus.empty() || !IsTable(format)) {
      if (args.names.size() == 1 && gpus.size() == 1) {
        Print(ctx, format, table, gpus, GpuToJson(gpus.front()));
      } else if (args.names.size() > 1) {
        Print(ctx, format, table, gpus, ObjectListToJson(gpus));
      }
    }
    return failed ? kExitError : kExitOk;
  }

  const std::string list_ns = args.all_namespaces ? "" : ns;
  StatusOr<GpuList> list = ListGpus(ctx, list_ns, args.selector);
  if (!list.ok()) return ctx.Fail(list.status());
  std::vector<Gpu> gpus(list->items().begin(), list->items().end());
  if (!args.sort_by.empty()) {
    if (Status s = SortByField(args.sort_by, &gpus); !s.ok()) {
      return ctx.Error(s.message());
    }
    list->clear_items();
    for (const auto& g : gpus) *list->add_items() = g;
  }
  if (gpus.empty() && IsTable(format)) ctx.err << NoResourcesFound(list_ns);
  Print(ctx, format, table, gpus, GpuListToJson(*list));
  return kExitOk;
}

int CmdDescribe(Context& ctx, const Selection& which) {
  if (!which.names.empty() && !which.selector.empty())
    return ctx.Usage("a name and a label selector (-l) cannot be combined");
  const std::string ns = NamespaceOrDefault(which.namespace_name);
  bool failed = false;
  std::vector<Gpu> gpus;
  if (!which.names.empty()) {
    gpus = GetNamed(ctx, which.names, ns, &failed);
  } else {
    StatusOr<GpuList> list = ListGpus(ctx, ns, which.selector);
    if (!list.ok()) return ctx.Fail(list.status());
    gpus.assign(list->items().begin(), list->items().end());
    if (gpus.empty()) ctx.err << NoResourcesFound(ns);
  }
  // Descriptions separated by a blank line.
  for (std::size_t i = 0; i < gpus.size(); ++i)
    ctx.out << (i == 0 ? "" : "\n") << FormatDescribe(gpus[i], ctx.now);
  return failed ? kExitError : kExitOk;
}

}  // namespace deviceapi::cli
