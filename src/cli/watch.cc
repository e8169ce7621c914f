// get -w / --watch-only: list, then stream changes, printed as kubectl does:
// the objects themselves (rows, JSON, YAML documents, names), or with
// --output-watch-events each wrapped in its event ({type, object}, an EVENT
// column, "TYPE gpu/name").
#include <algorithm>
#include <condition_variable>
#include <iostream>
#include <mutex>
#include <optional>
#include <thread>

#include "cli/commands.h"
#include "cli/sort_by.h"

namespace deviceapi::cli {
namespace {

// The server ends a watch at its timeout_seconds; a stalled server (or one
// that ignores it) would keep the stream open until keepalive gave up, if
// ever. This cancels the stream `limit` after it started unless Done()
// came first.
class WatchCutoff {
 public:
  WatchCutoff(WatchStream& stream, std::chrono::milliseconds limit)
      : thread_([this, &stream, limit] {
          std::unique_lock lock(mu_);
          if (cv_.wait_for(lock, limit, [this] { return done_; })) return;
          cut_ = true;
          stream.Cancel();
        }) {}
  ~WatchCutoff() { (void)Done(); }
  // Stops the timer; true when it had cancelled the stream.
  bool Done() {
    {
      std::lock_guard lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    return cut_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  bool cut_ = false;
  std::thread thread_;  // last: starts once the rest is built
};

}  // namespace

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
  // --watch-timeout is the server's to keep; if it has not ended the watch
  // --request-timeout later, the watch is cut here and that is an error.
  std::optional<WatchCutoff> cutoff;
  if (args.watch_timeout_s > 0)
    cutoff.emplace(*stream, std::chrono::seconds(args.watch_timeout_s) + ctx.timeout);
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
  if (cutoff && cutoff->Done()) {
    return ctx.Error("the server did not end the watch at --watch-timeout (" +
                     std::to_string(args.watch_timeout_s) + "s) nor within --request-timeout after it");
  }
  if (!st.ok()) return ctx.Fail(st);
  return kExitOk;
}

}  // namespace deviceapi::cli
