#include "server/units.h"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <limits>

namespace deviceapi::server {
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
  if (text == "0") return std::chrono::milliseconds(0);
  if (text.empty()) return std::nullopt;
  std::string_view s = text;
  double total_ms = 0;
  while (!s.empty()) {
    auto n = TakeNumber(s);
    if (!n) return std::nullopt;
    std::size_t u = 0;
    while (u < s.size() && !std::isdigit(static_cast<unsigned char>(s[u])) && s[u] != '.') ++u;
    std::string_view unit = s.substr(0, u);
    s.remove_prefix(u);
    double scale;
    if (unit == "ns") scale = 1e-6;
    else if (unit == "us" || unit == "\xC2\xB5s" || unit == "\xCE\xBCs") scale = 1e-3;
    else if (unit == "ms") scale = 1;
    else if (unit == "s") scale = 1e3;
    else if (unit == "m") scale = 60e3;
    else if (unit == "h") scale = 3600e3;
    else return std::nullopt;
    total_ms += *n * scale;
    // Ten years is far beyond any sensible setting and keeps int64 safe.
    if (!std::isfinite(total_ms) || total_ms > 10.0 * 365 * 24 * 3600e3) return std::nullopt;
  }
  return std::chrono::milliseconds(static_cast<std::int64_t>(total_ms));
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

}  // namespace deviceapi::server
