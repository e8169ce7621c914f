// get -w / --watch-only: list, then stream changes, printed as kubectl does:
// the objects themselves (rows, JSON, YAML documents, names), or with
// --output-watch-events each wrapped in its event ({type, object}, an EVENT
// column, "TYPE gpu/name").
#include <algorithm>
#include <iostream>

#include "cli/commands.h"
#include "cli/sort_by.h"

namespace deviceapi::cli {

int Watch(Context& ctx, const GetArgs& args, OutputFormat format, TableOptions table) {
  const std::string ns = args.all_namespaces ? "" : NamespaceOrDefault(args.namespace_name);
  StatusOr<GpuList> list = ListGpus(ctx, ns, args.selector);
  if (!list.ok()) return ctx.Fail(list.status());
  auto wanted = [&](const Gpu& g) {
    return args.names.empty() || std::find(args.names.begin(), args.names.end(),
                                           g.metadata().name()) != args.names.end();
  };
  std::vector<Gpu> initial;
  for (const auto& g : list->items())
    if (wanted(g)) initial.push_back(g);
  if (!args.sort_by.empty() && !args.watch_only) {
    if (Status s = SortByField(args.sort_by, &initial); !s.ok()) {
      return ctx.Error(s.message());
    }
  }

  const bool is_table = format == OutputFormat::kTable || format == OutputFormat::kWide;
  bool header_due = true;  // the header comes with the first rows; later rows keep its layout
  auto print = [&](const std::vector<Gpu>& gpus, const char* event) {
    if (gpus.empty()) return;
    if (is_table) {
      if (header_due) table.min_widths = ColumnWidths(gpus, table);
      ctx.out << FormatTable(gpus, table, header_due, event);
      header_due = false;
      return;
    }
    for (const auto& g : gpus) {
      if (format == OutputFormat::kName) {
        ctx.out << (args.output_watch_events ? std::string(event) + " " : "") << FormatName(g);
        continue;
      }
      Json doc = GpuToJson(g);
      if (args.output_watch_events) doc = Json::object({{"type", event}, {"object", doc}});
      if (format == OutputFormat::kJson) ctx.out << FormatJson(doc);
      else ctx.out << "---\n" << ToYaml(doc);
    }
  };
  if (!args.watch_only) print(initial, "ADDED");
  ctx.out.flush();
  if (!ctx.OutputOk()) return kExitError;  // Run() says why

  WatchOptions wo;
  wo.namespace_name = ns;
  wo.label_selector = args.selector;
  wo.resource_version = list->metadata().resource_version();
  wo.timeout_seconds = args.watch_timeout_s;
  auto stream = ctx.client->Watch(wo);
  WatchEvent ev;
  while (stream->Next(&ev)) {
    if (ev.type == EventType::kBookmark || !wanted(ev.object)) continue;
    table.now = ctx.Now();  // AGE as of this event, not of the command's start
    print({ev.object}, EventTypeName(ev.type));
    ctx.out.flush();
    if (!ctx.OutputOk()) {
      stream->Cancel();
      (void)stream->Finish();
      return kExitError;  // Run() says why
    }
  }
  Status st = stream->Finish();
  if (!st.ok()) return ctx.Fail(st);
  return kExitOk;
}

}  // namespace deviceapi::cli
