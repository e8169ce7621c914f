// A strict parser for the Prometheus text exposition format 0.0.4, used by
// tests to check everything the server exposes on /metrics.
//
// Rejects (with the 1-based line number in the error):
//   - lines not ending in "\n" (including the last one), blank lines are allowed;
//   - malformed metric or label names, unterminated or badly escaped label
//     values, duplicate label names, values that are not floats
//     (NaN, +Inf, -Inf accepted), timestamps that are not integers;
//   - HELP or TYPE given twice for a name, TYPE after that family's samples,
//     unknown TYPE words, HELP with a bad escape;
//   - a family's samples not contiguous (the same family appearing again after
//     another one), duplicate samples (same name and label set);
//   - counters with negative values;
//   - histograms: _bucket without a valid "le", le not increasing, bucket
//     counts decreasing, missing +Inf bucket, +Inf bucket != _count, missing
//     _sum or _count, sample names other than _bucket/_sum/_count;
//   - summaries: quantile samples without a valid "quantile" label.
// Samples without a TYPE form an "untyped" family named after the sample.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace deviceapi::metrics {

using LabelMap = std::map<std::string, std::string>;

struct ParsedSample {
  std::string name;                       // full sample name, e.g. x_bucket
  LabelMap labels;                        // unescaped values
  double value = 0;
  std::optional<std::int64_t> timestamp_ms;
};

struct ParsedFamily {
  std::string name;
  std::string help;         // unescaped; empty without HELP
  std::string type;         // counter|gauge|histogram|summary|untyped
  std::vector<ParsedSample> samples;
};

struct ParsedExposition {
  std::vector<ParsedFamily> families;  // in order of appearance

  const ParsedFamily* Family(std::string_view name) const;
  // Every sample with this exact sample name.
  std::vector<const ParsedSample*> Samples(std::string_view sample_name) const;
  // The value of the sample with this name and exactly these labels.
  std::optional<double> Value(std::string_view sample_name, const LabelMap& labels = {}) const;
};

struct ParseResult {
  bool ok = false;
  std::string error;       // "line N: what is wrong" when !ok
  ParsedExposition exposition;
};

ParseResult ParseText(std::string_view text);

}  // namespace deviceapi::metrics
