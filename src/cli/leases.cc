// devicectl get leases [NAME...]: the provider leases (S28-S30) and whether
// each still stands, as kubectl prints coordination.k8s.io Leases plus the
// conditions each one owns.
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>

#include <algorithm>

#include "cli/commands.h"
#include "cli/yaml.h"
#include "deviceapi/lease.h"

namespace deviceapi::cli {
namespace {

using google::protobuf::util::TimeUtil;

// "live" while renew time + duration is ahead of `now`, else "expired"; a
// lease without a holder is "released". The server decides expiry with its
// own clock and start time (S28); this is the same rule on devicectl's clock.
std::string State(const Lease& lease, TimePoint now) {
  const auto& spec = lease.spec();
  if (spec.holder_identity().empty()) return "released";
  if (!spec.has_renew_time()) return "expired";
  const auto renewed = TimePoint(std::chrono::milliseconds(TimeUtil::TimestampToMilliseconds(spec.renew_time())));
  return now < renewed + std::chrono::seconds(spec.lease_duration_seconds()) ? "live" : "expired";
}

std::string Joined(const google::protobuf::RepeatedPtrField<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ",") + item;
  return out.empty() ? "<none>" : out;
}

Json LeaseToJson(const Lease& lease) {
  std::string text;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = false;
  (void)google::protobuf::util::MessageToJsonString(lease, &text, options);
  Json out = Json::object();
  out["apiVersion"] = kApiVersion;
  out["kind"] = "Lease";
  const Json fields = Json::parse(text);
  for (auto it = fields.begin(); it != fields.end(); ++it) out[it.key()] = it.value();
  return out;
}

std::string Table(const std::vector<Lease>& leases, const GetArgs& args, TimePoint now) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> header{"NAME", "HOLDER", "DURATION", "RENEWED", "STATE", "CONDITIONS"};
  if (args.all_namespaces) header.insert(header.begin(), "NAMESPACE");
  if (!args.no_headers) rows.push_back(header);
  for (const Lease& lease : leases) {
    const auto& spec = lease.spec();
    std::vector<std::string> row{
        lease.metadata().name(),
        spec.holder_identity().empty() ? "<none>" : spec.holder_identity(),
        std::to_string(spec.lease_duration_seconds()) + "s",
        spec.has_renew_time() ? AgeOf(spec.renew_time(), now) + " ago" : "<never>",
        State(lease, now), Joined(spec.condition_types())};
    if (args.all_namespaces) row.insert(row.begin(), lease.metadata().namespace_());
    // The holder is whatever the provider sent: escaped before widths are measured.
    for (std::string& cell : row) cell = Printable(cell);
    rows.push_back(std::move(row));
  }
  std::vector<std::size_t> widths(header.size(), 0);
  for (const auto& row : rows)
    for (std::size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 3, ' ');
    }
    out += line + "\n";
  }
  return out;
}

}  // namespace

int CmdGetLeases(Context& ctx, const GetArgs& args) {
  OutputFormat format;
  if (!ParseOutputFormat(args.output, &format) || format == OutputFormat::kWide)
    return ctx.Usage("unknown output format \"" + args.output + "\" for leases (want json, yaml or name)");
  if (args.watch || args.watch_only || !args.sort_by.empty() || !args.label_columns.empty() ||
      args.show_labels)
    return ctx.Usage("leases support -o, -l, -n, -A and --no-headers only");
  if (!args.names.empty() && (!args.selector.empty() || args.all_namespaces))
    return ctx.Usage("a name cannot be combined with -l or --all-namespaces");
  LeaseClient leases(*ctx.client, ctx.timeout);
  std::vector<Lease> items;
  // As for GPUs: each name that fails gets its error line, the others are
  // still printed, and the exit code is 1.
  bool failed = false;
  if (!args.names.empty()) {
    for (const std::string& name : args.names) {
      GetOptions options;
      options.namespace_name = NamespaceOrDefault(args.namespace_name);
      options.call = ctx.call();
      StatusOr<Lease> lease = leases.Get(name, options);
      if (!lease.ok()) {
        ctx.Fail(lease.status());
        failed = true;
        continue;
      }
      items.push_back(*lease);
    }
    if (items.empty() && (failed || format == OutputFormat::kTable)) return failed ? kExitError : kExitOk;
  } else {
    ListOptions options;
    options.namespace_name = args.all_namespaces ? "" : NamespaceOrDefault(args.namespace_name);
    options.label_selector = args.selector;
    options.call = ctx.call();
    StatusOr<LeaseList> list = leases.List(options);
    if (!list.ok()) return ctx.Fail(list.status());
    items.assign(list->items().begin(), list->items().end());
  }
  if (items.empty() && (format == OutputFormat::kTable)) {
    ctx.err << NoResourcesFound(args.all_namespaces ? "" : NamespaceOrDefault(args.namespace_name));
    return kExitOk;
  }
  const int code = failed ? kExitError : kExitOk;
  switch (format) {
    case OutputFormat::kName:
      for (const Lease& lease : items) ctx.out << "lease/" << lease.metadata().name() << "\n";
      return code;
    case OutputFormat::kJson:
    case OutputFormat::kYaml: {
      Json value;
      if (args.names.size() == 1) {
        value = LeaseToJson(items[0]);
      } else {
        value = Json::object();
        value["apiVersion"] = "v1";
        value["kind"] = "List";
        value["items"] = Json::array();
        for (const Lease& lease : items) value["items"].push_back(LeaseToJson(lease));
      }
      ctx.out << (format == OutputFormat::kJson ? FormatJson(value) : ToYaml(value));
      return code;
    }
    default:
      ctx.out << Table(items, args, ctx.now);
      return code;
  }
}

}  // namespace deviceapi::cli
