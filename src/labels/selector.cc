// Selector's compact form, matching and canonical text. The grammar is in
// selector_parser.cc.
#include "labels/selector.h"

#include <algorithm>
#include <limits>

#include "labels/selector_builder.h"

namespace deviceapi::labels {

Selector SelectorBuilder::Build(std::vector<RequirementText> requirements) {
  std::stable_sort(requirements.begin(), requirements.end(),
                   [](const RequirementText& a, const RequirementText& b) { return a.key < b.key; });
  std::size_t chars = 0, values = 0;
  for (RequirementText& r : requirements) {
    std::sort(r.values.begin(), r.values.end());
    r.values.erase(std::unique(r.values.begin(), r.values.end()), r.values.end());
    chars += r.key.size();
    for (std::string_view v : r.values) chars += v.size();
    values += r.values.size();
  }
  Selector s;
  s.chars_.reserve(chars);
  s.values_.reserve(values);
  s.requirements_.reserve(requirements.size());
  auto append = [&s](std::string_view text) {
    const auto begin = static_cast<std::uint32_t>(s.chars_.size());
    s.chars_.append(text);
    return Selector::Span{begin, static_cast<std::uint32_t>(text.size())};
  };
  for (const RequirementText& r : requirements) {
    Selector::Requirement out;
    const Selector::Span key = append(r.key);
    out.key_begin = key.begin;
    out.key_size = key.size;
    out.op = r.op;
    out.number = r.number;
    out.values_begin = static_cast<std::uint32_t>(s.values_.size());
    out.values_count = static_cast<std::uint32_t>(r.values.size());
    for (std::string_view v : r.values) s.values_.push_back(append(v));
    s.requirements_.push_back(out);
  }
  return s;
}

std::optional<std::int64_t> ParseInt64(std::string_view s) {
  bool negative = false;
  if (!s.empty() && (s.front() == '+' || s.front() == '-')) {
    negative = s.front() == '-';
    s.remove_prefix(1);
  }
  if (s.empty()) return std::nullopt;
  // Accumulate as a negative number: its range holds INT64_MIN.
  std::int64_t value = 0;
  constexpr std::int64_t kMin = std::numeric_limits<std::int64_t>::min();
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    const int digit = c - '0';
    if (value < (kMin + digit) / 10) return std::nullopt;
    value = value * 10 - digit;
  }
  if (!negative) {
    if (value == kMin) return std::nullopt;
    value = -value;
  }
  return value;
}

bool Selector::HasValue(const Requirement& r, std::string_view value) const {
  const Span* first = values_.data() + r.values_begin;
  const Span* last = first + r.values_count;
  const Span* it = std::lower_bound(first, last, value, [this](const Span& span, std::string_view v) {
    return Chars(span.begin, span.size) < v;
  });
  return it != last && Chars(it->begin, it->size) == value;
}

bool Selector::Holds(const Requirement& r, std::optional<std::string_view> value) const {
  switch (r.op) {
    case Operator::kEquals:
    case Operator::kDoubleEquals:
    case Operator::kIn:
      return value && HasValue(r, *value);
    case Operator::kNotEquals:
    case Operator::kNotIn:
      return !value || !HasValue(r, *value);
    case Operator::kExists:
      return value.has_value();
    case Operator::kDoesNotExist:
      return !value;
    case Operator::kGreaterThan:
    case Operator::kLessThan: {
      // A label whose value is not an integer matches neither.
      const std::optional<std::int64_t> n = value ? ParseInt64(*value) : std::nullopt;
      if (!n) return false;
      return r.op == Operator::kGreaterThan ? *n > r.number : *n < r.number;
    }
  }
  return false;
}

std::vector<Selector::RequirementView> Selector::requirements() const {
  std::vector<RequirementView> out;
  out.reserve(requirements_.size());
  for (const Requirement& r : requirements_) {
    RequirementView view{Chars(r.key_begin, r.key_size), r.op, {}};
    for (std::uint32_t i = 0; i < r.values_count; ++i) {
      const Span& v = values_[r.values_begin + i];
      view.values.push_back(Chars(v.begin, v.size));
    }
    out.push_back(std::move(view));
  }
  return out;
}

std::string Selector::ToString() const {
  std::string out;
  for (const RequirementView& r : requirements()) {
    if (!out.empty()) out += ',';
    if (r.op == Operator::kDoesNotExist) out += '!';
    out += r.key;
    const char* op = nullptr;
    switch (r.op) {
      case Operator::kEquals: op = "="; break;
      case Operator::kDoubleEquals: op = "=="; break;
      case Operator::kNotEquals: op = "!="; break;
      case Operator::kIn: op = " in ("; break;
      case Operator::kNotIn: op = " notin ("; break;
      case Operator::kGreaterThan: op = ">"; break;
      case Operator::kLessThan: op = "<"; break;
      case Operator::kExists:
      case Operator::kDoesNotExist: continue;
    }
    out += op;
    for (std::size_t i = 0; i < r.values.size(); ++i) {
      if (i > 0) out += ',';
      out += r.values[i];
    }
    if (r.op == Operator::kIn || r.op == Operator::kNotIn) out += ')';
  }
  return out;
}

std::size_t Selector::MemoryUsage() const {
  // Heap-allocated strings only (a short string lives inside the object).
  const std::size_t chars = chars_.capacity() > std::string().capacity() ? chars_.capacity() + 1 : 0;
  return chars + requirements_.capacity() * sizeof(Requirement) + values_.capacity() * sizeof(Span);
}

}  // namespace deviceapi::labels
