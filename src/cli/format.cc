#include "cli/format.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <map>
#include <string_view>
#include <sstream>

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>

namespace deviceapi::cli {
namespace {

using google::protobuf::util::TimeUtil;

std::string OrNone(const std::string& s) { return s.empty() ? "<none>" : s; }

std::string Colorize(const std::string& status, const std::string& text) {
  const char* code = status == kConditionTrue    ? "\033[32m"
                     : status == kConditionFalse ? "\033[31m"
                                                 : "\033[33m";
  return code + text + "\033[0m";
}

std::string FormatBytes(std::uint64_t bytes) {
  if (bytes == 0) return "<none>";
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  std::uint64_t v = bytes;
  while (v >= 1024 && v % 1024 == 0 && u < 4) {
    v /= 1024;
    ++u;
  }
  return std::to_string(v) + units[u];
}

std::string LabelsText(const Gpu& gpu) {
  std::vector<std::string> kv;
  for (const auto& [k, v] : gpu.metadata().labels()) kv.push_back(k + "=" + v);
  std::sort(kv.begin(), kv.end());
  std::string out;
  for (const auto& s : kv) out += (out.empty() ? "" : ",") + s;
  return OrNone(out);
}

// Length of the well-formed UTF-8 sequence at text[i] (2 to 4 bytes, as
// Unicode's table 3-7 allows: no overlongs, surrogates or code points past
// U+10FFFF), 0 when there is none.
std::size_t Utf8Length(std::string_view text, std::size_t i) {
  auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char b = byte(i);
  std::size_t n = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // bounds of the second byte
  if (b >= 0xC2 && b <= 0xDF) {
    n = 2;
  } else if (b >= 0xE0 && b <= 0xEF) {
    n = 3;
    if (b == 0xE0) lo = 0xA0;  // overlong
    if (b == 0xED) hi = 0x9F;  // surrogates
  } else if (b >= 0xF0 && b <= 0xF4) {
    n = 4;
    if (b == 0xF0) lo = 0x90;  // overlong
    if (b == 0xF4) hi = 0x8F;  // past U+10FFFF
  } else {
    return 0;
  }
  if (i + n > text.size() || byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (std::size_t k = 2; k < n; ++k)
    if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return 0;
  return n;
}

}  // namespace

std::string Printable(std::string_view text) {
  static const char* kHex = "0123456789abcdef";
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    const unsigned char b = static_cast<unsigned char>(text[i]);
    if (b >= 0x20 && b < 0x7F) {
      out += text[i++];
      continue;
    }
    if (b == '\n' || b == '\r' || b == '\t') {
      out += b == '\n' ? "\\n" : b == '\r' ? "\\r" : "\\t";
      ++i;
      continue;
    }
    const std::size_t n = b < 0x80 ? 0 : Utf8Length(text, i);
    if (n == 0) {  // another C0 control, DEL, or a byte that is not UTF-8
      out += "\\x";
      out += kHex[b >> 4];
      out += kHex[b & 15];
      ++i;
      continue;
    }
    const unsigned char second = static_cast<unsigned char>(text[i + 1]);
    if (b == 0xC2 && second <= 0x9F) {  // U+0080-U+009F: C1 controls (0x9B is a CSI)
      out += "\\u00";
      out += kHex[second >> 4];
      out += kHex[second & 15];
    } else {
      out.append(text.substr(i, n));
    }
    i += n;
  }
  return out;
}

std::string HumanAge(std::chrono::seconds age) {
  long long s = age.count();
  if (s < -1) return "<invalid>";
  if (s < 0) return "0s";
  if (s < 120) return std::to_string(s) + "s";
  long long m = s / 60;
  if (m < 10) {
    long long rem = s % 60;
    return rem == 0 ? std::to_string(m) + "m" : std::to_string(m) + "m" + std::to_string(rem) + "s";
  }
  if (m < 180) return std::to_string(m) + "m";
  long long h = s / 3600;
  if (h < 8) {
    long long rem = m % 60;
    return rem == 0 ? std::to_string(h) + "h" : std::to_string(h) + "h" + std::to_string(rem) + "m";
  }
  if (h < 48) return std::to_string(h) + "h";
  if (h < 24 * 8) {
    long long rem = h % 24;
    return rem == 0 ? std::to_string(h / 24) + "d"
                    : std::to_string(h / 24) + "d" + std::to_string(rem) + "h";
  }
  if (h < 24 * 365 * 2) return std::to_string(h / 24) + "d";
  long long y = h / (24 * 365);
  if (y < 8) {
    long long days = (h / 24) % 365;
    return days == 0 ? std::to_string(y) + "y" : std::to_string(y) + "y" + std::to_string(days) + "d";
  }
  return std::to_string(y) + "y";
}

std::string AgeOf(const google::protobuf::Timestamp& ts, TimePoint now) {
  if (ts.seconds() == 0 && ts.nanos() == 0) return "<unknown>";
  auto now_s = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  return HumanAge(std::chrono::seconds(now_s - ts.seconds()));
}

bool ParseOutputFormat(const std::string& text, OutputFormat* out) {
  if (text.empty()) *out = OutputFormat::kTable;
  else if (text == "wide") *out = OutputFormat::kWide;
  else if (text == "json") *out = OutputFormat::kJson;
  else if (text == "yaml") *out = OutputFormat::kYaml;
  else if (text == "name") *out = OutputFormat::kName;
  else return false;
  return true;
}

namespace {

bool IsReadinessType(const std::string& type) {
  constexpr std::string_view kSuffix = "Ready";
  return type.size() >= kSuffix.size() &&
         type.compare(type.size() - kSuffix.size(), kSuffix.size(), kSuffix) == 0;
}

// How bad a condition's status is for readiness: False, then Unknown (or
// anything else a writer put there), then True.
int Badness(const std::string& status) {
  if (status == "True") return 0;
  if (status == "False") return 2;
  return 1;
}

}  // namespace

const Condition* ReadyCondition(const GpuStatus& status) {
  const Condition* worst = nullptr;
  for (const auto& c : status.conditions()) {
    if (!IsReadinessType(c.type())) continue;
    if (worst == nullptr || Badness(c.status()) > Badness(worst->status())) worst = &c;
  }
  return worst;
}

std::vector<std::string> TableHeader(const TableOptions& o) {
  std::vector<std::string> h;
  if (o.event_column) h.push_back("EVENT");
  if (o.show_namespace) h.push_back("NAMESPACE");
  for (const char* c : {"NAME", "UUID", "READY", "REASON", "ACTION", "AGE"}) h.push_back(c);
  if (o.wide)
    for (const char* c : {"PRODUCT", "BUS-ID", "MEMORY", "DRIVER"}) h.push_back(c);
  for (const auto& key : o.label_columns) {
    std::string head = key.substr(key.rfind('/') + 1);
    for (char& c : head) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    h.push_back(Printable(head));
  }
  if (o.wide || o.show_labels) h.push_back("LABELS");
  return h;
}

std::vector<std::string> TableRow(const Gpu& gpu, const TableOptions& o, const std::string& event) {
  std::vector<std::string> r;
  const auto& meta = gpu.metadata();
  if (o.event_column) r.push_back(event);
  if (o.show_namespace) r.push_back(meta.namespace_());
  r.push_back(meta.name());
  r.push_back(OrNone(gpu.spec().uuid()));
  std::string ready = kConditionUnknown, reason;
  if (const Condition* c = ReadyCondition(gpu.status())) {
    ready = c->status();
    reason = c->reason();
  }
  r.push_back(ready);
  r.push_back(OrNone(reason));
  r.push_back(OrNone(gpu.status().recommended_action()));
  r.push_back(AgeOf(meta.creation_timestamp(), o.now));
  if (o.wide) {
    const auto& d = gpu.status().device_info();
    r.push_back(OrNone(d.product_name()));
    r.push_back(OrNone(d.pci_bus_id()));
    r.push_back(FormatBytes(d.memory_total_bytes()));
    r.push_back(OrNone(d.driver_version()));
  }
  for (const auto& key : o.label_columns) {
    auto it = meta.labels().find(key);
    r.push_back(it == meta.labels().end() ? "" : it->second);
  }
  if (o.wide || o.show_labels) r.push_back(LabelsText(gpu));
  // Before any width is measured: the escapes are what is printed.
  for (std::string& cell : r) cell = Printable(cell);
  return r;
}

std::vector<std::size_t> ColumnWidths(const std::vector<Gpu>& gpus, const TableOptions& o) {
  std::vector<std::vector<std::string>> rows = {TableHeader(o)};
  for (const auto& g : gpus) rows.push_back(TableRow(g, o));
  std::vector<std::size_t> width(rows[0].size(), 0);
  for (const auto& row : rows)
    for (std::size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  if (o.event_column) width[0] = std::max<std::size_t>(width[0], std::strlen("MODIFIED"));
  return width;
}

std::string FormatTable(const std::vector<Gpu>& gpus, const TableOptions& o, bool header,
                        const std::string& event) {
  header = header && !o.no_headers;
  std::vector<std::vector<std::string>> rows;
  if (header) rows.push_back(TableHeader(o));
  for (const auto& g : gpus) rows.push_back(TableRow(g, o, event));
  if (rows.empty()) return "";
  std::vector<std::size_t> width(rows[0].size(), 0);
  for (std::size_t i = 0; i < width.size() && i < o.min_widths.size(); ++i)
    width[i] = o.min_widths[i];
  for (const auto& row : rows)
    for (std::size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  const std::size_t ready_col = (o.event_column ? 1 : 0) + (o.show_namespace ? 1 : 0) + 2;
  std::ostringstream out;
  for (std::size_t r = 0; r < rows.size(); ++r) {
    const auto& row = rows[r];
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      std::string cell = row[i];
      bool last = i + 1 == row.size();
      std::string pad = last ? "" : std::string(width[i] - cell.size() + 3, ' ');
      bool is_data = !(header && r == 0);
      if (o.color && is_data && i == ready_col) cell = Colorize(cell, cell);
      line += cell + pad;
    }
    // An empty last cell (a label the GPU lacks) leaves no trailing blanks.
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out << line << "\n";
  }
  return out.str();
}

Json GpuToJson(const Gpu& gpu) {
  std::string text;
  google::protobuf::util::JsonPrintOptions opts;
  (void)google::protobuf::util::MessageToJsonString(gpu, &text, opts);
  Json doc = Json::object();
  doc["apiVersion"] = kApiVersion;
  doc["kind"] = "Gpu";
  doc.update(Json::parse(text));
  // Protobuf maps have no order; sort them so output is stable.
  if (doc.contains("metadata")) {
    for (const char* field : {"labels", "annotations"}) {
      auto& meta = doc["metadata"];
      if (!meta.contains(field)) continue;
      std::map<std::string, Json> sorted;
      for (auto& [k, v] : meta[field].items()) sorted[k] = v;
      Json out = Json::object();
      for (auto& [k, v] : sorted) out[k] = v;
      meta[field] = std::move(out);
    }
  }
  return doc;
}

Json GpuListToJson(const GpuList& list) {
  Json out = Json::object();
  out["apiVersion"] = kApiVersion;
  out["kind"] = "GpuList";
  out["metadata"] = Json::object();
  out["metadata"]["resourceVersion"] = list.metadata().resource_version();
  out["items"] = Json::array();
  for (const auto& g : list.items()) out["items"].push_back(GpuToJson(g));
  return out;
}

Json ObjectListToJson(const std::vector<Gpu>& gpus) {
  Json out = Json::object();
  out["apiVersion"] = "v1";
  out["kind"] = "List";
  out["metadata"] = Json::object();
  out["metadata"]["resourceVersion"] = "";
  out["items"] = Json::array();
  for (const auto& g : gpus) out["items"].push_back(GpuToJson(g));
  return out;
}

std::string FormatJson(const Json& value) { return EscapeUnsafeCodePoints(value.dump(2)) + "\n"; }

std::string FormatName(const Gpu& gpu) { return "gpu/" + gpu.metadata().name() + "\n"; }

StatusOr<Gpu> ParseGpu(const std::string& text) {
  std::size_t first = text.find_first_not_of(" \t\r\n");
  Json doc;
  if (first != std::string::npos && text[first] == '{') {
    doc = Json::parse(text, nullptr, false);
    if (doc.is_discarded())
      return Status(grpc::StatusCode::INVALID_ARGUMENT, "file is not valid JSON");
  } else {
    StatusOr<Json> y = ParseYaml(text);
    if (!y.ok()) return y.status();
    doc = std::move(*y);
  }
  if (!doc.is_object())
    return Status(grpc::StatusCode::INVALID_ARGUMENT, "file must hold one GPU object");
  doc.erase("apiVersion");
  if (doc.contains("kind")) {
    if (doc["kind"] != "Gpu" && doc["kind"] != "GPU")
      return Status(grpc::StatusCode::INVALID_ARGUMENT,
                    "unsupported kind " + doc["kind"].dump() + " (want Gpu)");
    doc.erase("kind");
  }
  Gpu gpu;
  auto st = google::protobuf::util::JsonStringToMessage(doc.dump(), &gpu);
  if (!st.ok())
    return Status(grpc::StatusCode::INVALID_ARGUMENT, "not a Gpu: " + std::string(st.message()));
  return gpu;
}

std::string FormatDescribe(const Gpu& gpu, TimePoint now) {
  std::ostringstream out;
  const auto& m = gpu.metadata();
  auto field = [&](const std::string& k, const std::string& v) {
    std::string label = k + ":";
    out << label << std::string(label.size() < 20 ? 20 - label.size() : 1, ' ') << Printable(v)
        << "\n";
  };
  auto map_field = [&](const std::string& k,
                       const google::protobuf::Map<std::string, std::string>& map) {
    std::vector<std::string> kv;
    for (const auto& [a, b] : map) kv.push_back(a + "=" + b);
    std::sort(kv.begin(), kv.end());
    if (kv.empty()) return field(k, "<none>");
    field(k, kv[0]);
    for (std::size_t i = 1; i < kv.size(); ++i)
      out << std::string(20, ' ') << Printable(kv[i]) << "\n";
  };
  field("Name", m.name());
  field("Namespace", OrNone(m.namespace_()));
  field("UID", OrNone(m.uid()));
  field("Resource Version", OrNone(m.resource_version()));
  field("Generation", std::to_string(m.generation()));
  field("Created", m.has_creation_timestamp()
                       ? TimeUtil::ToString(m.creation_timestamp()) + " (" +
                             AgeOf(m.creation_timestamp(), now) + " ago)"
                       : "<unknown>");
  map_field("Labels", m.labels());
  map_field("Annotations", m.annotations());
  field("UUID", OrNone(gpu.spec().uuid()));
  field("Recommended Action", OrNone(gpu.status().recommended_action()));
  const auto& d = gpu.status().device_info();
  if (gpu.status().has_device_info()) {
    out << "Device Info:\n";
    auto info = [&](const std::string& k, const std::string& v) {
      if (v.empty()) return;
      std::string label = "  " + k + ":";
      out << label << std::string(label.size() < 24 ? 24 - label.size() : 1, ' ') << Printable(v)
          << "\n";
    };
    info("Product Name", d.product_name());
    info("Architecture", d.architecture());
    info("PCI Bus ID", d.pci_bus_id());
    info("Memory", d.memory_total_bytes() ? FormatBytes(d.memory_total_bytes()) : "");
    info("Driver Version", d.driver_version());
    info("CUDA Driver", d.cuda_driver_version());
    info("Serial", d.serial());
    info("VBIOS Version", d.vbios_version());
    info("Board Part Number", d.board_part_number());
    info("Index", std::to_string(d.index()));
    info("Minor Number", std::to_string(d.minor_number()));
  } else {
    field("Device Info", "<none>");
  }
  if (gpu.status().conditions().empty()) {
    field("Conditions", "<none>");
  } else {
    out << "Conditions:\n";
    std::vector<std::vector<std::string>> rows = {{"TYPE", "STATUS", "REASON", "AGE", "MESSAGE"}};
    for (const auto& c : gpu.status().conditions())
      rows.push_back({Printable(c.type()), Printable(c.status()), Printable(OrNone(c.reason())),
                      AgeOf(c.last_transition_time(), now), Printable(c.message())});
    std::vector<std::size_t> w(5, 0);
    for (const auto& r : rows)
      for (std::size_t i = 0; i < 5; ++i) w[i] = std::max(w[i], r[i].size());
    for (const auto& r : rows) {
      std::string line = "  ";
      for (std::size_t i = 0; i < 5; ++i) {
        line += r[i];
        if (i + 1 < 5) line += std::string(w[i] - r[i].size() + 3, ' ');
      }
      while (line.back() == ' ') line.pop_back();
      out << line << "\n";
    }
  }
  return out.str();
}

}  // namespace deviceapi::cli
