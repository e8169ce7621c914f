// How devicectl renders GPUs: kubectl-style tables, JSON, YAML and names.
// Pure functions of their inputs (the clock is a parameter), so golden tests
// can pin every byte.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "cli/yaml.h"
#include "deviceapi/types.h"

namespace deviceapi::cli {

using TimePoint = std::chrono::system_clock::time_point;

// `text` as one line of plain characters, for every human-readable cell
// (tables, describe, leases, error lines): C0 controls, DEL and C1 controls
// (U+0080-U+009F) become escapes (\n, \r, \t, \x1b, \u009b), and so do bytes
// that are not UTF-8 (\xff). Any client may write messages, annotations and
// device info; printed raw, a newline would forge rows and an ESC would drive
// the terminal. Other characters, non-ASCII ones included, are kept.
std::string Printable(std::string_view text);

// kubectl's HumanDuration: "12s", "3m4s", "5h", "2d3h", "1y30d".
std::string HumanAge(std::chrono::seconds age);
// Age of a protobuf timestamp at `now`; "<unknown>" when unset.
std::string AgeOf(const google::protobuf::Timestamp& ts, TimePoint now);

enum class OutputFormat { kTable, kWide, kJson, kYaml, kName };
// "", "wide", "json", "yaml", "name"; false for anything else.
bool ParseOutputFormat(const std::string& text, OutputFormat* out);

struct TableOptions {
  bool wide = false;
  bool show_namespace = false;  // -A
  bool color = false;           // ANSI colours for READY (TTY only)
  bool no_headers = false;      // --no-headers
  bool show_labels = false;     // --show-labels: a LABELS column (wide has one already)
  bool event_column = false;    // -w --output-watch-events: an EVENT column first
  // -L: one column per label key, headed by its last '/' segment in capitals.
  std::vector<std::string> label_columns;
  TimePoint now;
  // Columns are at least this wide (watch rows keep the first page's layout).
  std::vector<std::size_t> min_widths;
};

// The READY and REASON columns show the worst of the readiness conditions:
// "Ready" and every type ending in "Ready" (the NVML provider's "NVMLReady",
// "example.com/DriverReady"). The first False one, else the first that is
// not True (Unknown), else the first; null when there is none. So one
// provider's True never hides another's False, whatever their order.
inline constexpr const char* kReadyConditionType = "Ready";
const Condition* ReadyCondition(const GpuStatus& status);

// Header (unless options.no_headers) plus one row per GPU, columns padded
// like kubectl (3 spaces). `event` fills the EVENT column of every row.
std::string FormatTable(const std::vector<Gpu>& gpus, const TableOptions& options,
                        bool header = true, const std::string& event = "");
// Column widths FormatTable would use for these GPUs (header included; the
// EVENT column as wide as "MODIFIED").
std::vector<std::size_t> ColumnWidths(const std::vector<Gpu>& gpus, const TableOptions& options);
// The header's cells and one GPU's cells.
std::vector<std::string> TableHeader(const TableOptions& options);
std::vector<std::string> TableRow(const Gpu& gpu, const TableOptions& options,
                                  const std::string& event = "");

// What printed objects and server lists carry as apiVersion.
inline constexpr const char* kApiVersion = "device.nvidia.com/v1alpha1";

// The object as proto3 JSON (camelCase) after apiVersion and kind "Gpu", key
// order of the proto.
Json GpuToJson(const Gpu& gpu);
// A list the server returned: kind "GpuList", with its resourceVersion.
Json GpuListToJson(const GpuList& list);
// Objects gathered by the client (several names), as kubectl prints them:
// apiVersion "v1", kind "List", an empty resourceVersion.
Json ObjectListToJson(const std::vector<Gpu>& gpus);
std::string FormatJson(const Json& value);  // dump(2) + "\n"

// "gpu/<name>".
std::string FormatName(const Gpu& gpu);

// describe gpu NAME.
std::string FormatDescribe(const Gpu& gpu, TimePoint now);

// Reads a Gpu from JSON or YAML text (apiVersion/kind are accepted and
// ignored). INVALID_ARGUMENT with the parser's message otherwise.
StatusOr<Gpu> ParseGpu(const std::string& text);

}  // namespace deviceapi::cli
