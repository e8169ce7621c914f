// Low-level pieces of the Prometheus text exposition format 0.0.4, shared by
// the writer (registry) and the tests' parser (test/support/metrics/text_parser.h).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace deviceapi::metrics {

// Label values escape backslash, double quote and line feed.
std::string EscapeLabelValue(std::string_view value);
// HELP text escapes backslash and line feed.
std::string EscapeHelp(std::string_view help);
// Shortest text that parses back to the same double; "+Inf", "-Inf", "NaN".
std::string FormatValue(double v);

// Appends `name{l1="v1",...} value\n` (braces omitted with no labels).
void AppendSample(std::string* out, std::string_view name,
                  const std::vector<std::string>& label_names,
                  const std::vector<std::string>& label_values, double value);

}  // namespace deviceapi::metrics
