#include "cli/duration.h"

#include <cctype>
#include <cstdint>

namespace deviceapi::cli {
namespace {

// Nanoseconds per unit; 0 for an unknown unit.
std::int64_t UnitNanos(std::string_view unit) {
  if (unit == "h") return 3600'000'000'000;
  if (unit == "m") return 60'000'000'000;
  if (unit == "s") return 1'000'000'000;
  if (unit == "ms") return 1'000'000;
  if (unit == "us" || unit == "\u00b5s") return 1'000;
  if (unit == "ns") return 1;
  return 0;
}

bool IsDigit(char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; }

}  // namespace

std::optional<std::chrono::nanoseconds> ParseDuration(std::string_view text) {
  // Bounded so the arithmetic below cannot overflow.
  constexpr double kMaxNanos = 10000.0 * 3600 * 1e9;
  if (text.empty()) return std::nullopt;
  bool all_digits = true;
  for (char c : text) all_digits = all_digits && IsDigit(c);
  if (all_digits) {
    if (text.size() > 8) return std::nullopt;
    return std::chrono::seconds(std::stoll(std::string(text)));
  }
  double total = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    std::size_t start = i;
    while (i < text.size() && IsDigit(text[i])) ++i;
    std::size_t int_digits = i - start;
    std::size_t frac_digits = 0;
    if (i < text.size() && text[i] == '.') {
      ++i;
      std::size_t frac_start = i;
      while (i < text.size() && IsDigit(text[i])) ++i;
      frac_digits = i - frac_start;
    }
    if (int_digits + frac_digits == 0 || int_digits > 12 || frac_digits > 9) return std::nullopt;
    double number = std::stod(std::string(text.substr(start, i - start)));
    std::size_t unit_start = i;
    while (i < text.size() && !IsDigit(text[i]) && text[i] != '.') ++i;
    std::int64_t unit = UnitNanos(text.substr(unit_start, i - unit_start));
    if (unit == 0) return std::nullopt;
    total += number * static_cast<double>(unit);
    if (total > kMaxNanos) return std::nullopt;
  }
  return std::chrono::nanoseconds(static_cast<std::int64_t>(total));
}

}  // namespace deviceapi::cli
