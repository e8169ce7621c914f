#include "base/units.h"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>

#include <absl/time/time.h>

namespace deviceapi::base {
namespace {

// Reads a non-negative decimal number ("12", "1.5") from the front of `s`.
std::optional<double> TakeNumber(std::string_view& s) {
  std::size_t i = 0;
  bool digits = false, dot = false;
  while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || (s[i] == '.' && !dot))) {
    if (s[i] == '.') dot = true; else digits = true;
    ++i;
  }
  if (!digits || i > 30) return std::nullopt;
  double v = std::stod(std::string(s.substr(0, i)));
  s.remove_prefix(i);
  return v;
}

}  // namespace

std::optional<std::chrono::milliseconds> ParseDuration(std::string_view text) {
  // absl::ParseDuration also takes signs, "inf" and a unit-less "0"; a flag
  // wants none of the first two. Go's "µs" spelling becomes Abseil's "us".
  if (text.empty() || text.front() == '+' || text.front() == '-' || text == "inf") return std::nullopt;
  std::string spelled(text);
  for (const char* micro : {"\xC2\xB5s", "\xCE\xBCs"}) {
    for (std::size_t at; (at = spelled.find(micro)) != std::string::npos;) spelled.replace(at, 3, "us");
  }
  absl::Duration d;
  if (!absl::ParseDuration(spelled, &d)) return std::nullopt;
  // Ten years is far beyond any sensible setting and keeps int64 safe.
  if (d < absl::ZeroDuration() || d > absl::Hours(10 * 365 * 24)) return std::nullopt;
  return std::chrono::milliseconds(absl::ToInt64Milliseconds(d));
}

std::optional<std::uint64_t> ParseSize(std::string_view text) {
  std::string_view s = text;
  auto n = TakeNumber(s);
  if (!n) return std::nullopt;
  double scale;
  if (s.empty() || s == "B") scale = 1;
  else if (s == "k" || s == "K" || s == "KB" || s == "kB") scale = 1e3;
  else if (s == "M" || s == "MB") scale = 1e6;
  else if (s == "G" || s == "GB") scale = 1e9;
  else if (s == "Ki" || s == "KiB") scale = 1024.0;
  else if (s == "Mi" || s == "MiB") scale = 1024.0 * 1024;
  else if (s == "Gi" || s == "GiB") scale = 1024.0 * 1024 * 1024;
  else return std::nullopt;
  double v = *n * scale;
  if (!std::isfinite(v) || v >= 9.0e18 || v != std::floor(v)) return std::nullopt;
  return static_cast<std::uint64_t>(v);
}

std::string FormatDuration(std::chrono::milliseconds d) {
  auto ms = d.count();
  if (ms == 0) return "0s";
  std::string out;
  if (ms % 1000 != 0 && ms < 1000) return std::to_string(ms) + "ms";
  if (ms >= 3600000) { out += std::to_string(ms / 3600000) + "h"; ms %= 3600000; }
  if (ms >= 60000) { out += std::to_string(ms / 60000) + "m"; ms %= 60000; }
  if (ms % 1000 == 0) {
    if (ms > 0) out += std::to_string(ms / 1000) + "s";
  } else {
    char buf[40];
    std::snprintf(buf, sizeof buf, "%lld.%03lld", static_cast<long long>(ms / 1000),
                  static_cast<long long>(ms % 1000));
    std::string frac(buf);
    while (frac.back() == '0') frac.pop_back();
    out += frac + "s";
  }
  return out;
}

}  // namespace deviceapi::base
