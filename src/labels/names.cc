#include "labels/names.h"

namespace deviceapi::labels {
namespace {

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool IsAlnum(char c) { return IsLowerAlnum(c) || (c >= 'A' && c <= 'Z'); }

// ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9], any length.
bool MatchesNameSyntax(std::string_view s) {
  if (s.empty() || !IsAlnum(s.front()) || !IsAlnum(s.back())) return false;
  for (char c : s) {
    if (!IsAlnum(c) && c != '-' && c != '_' && c != '.') return false;
  }
  return true;
}

// [a-z0-9]([-a-z0-9]*[a-z0-9])?, any length.
bool MatchesLabelSyntax(std::string_view s) {
  if (s.empty() || !IsLowerAlnum(s.front()) || !IsLowerAlnum(s.back())) return false;
  for (char c : s) {
    if (!IsLowerAlnum(c) && c != '-') return false;
  }
  return true;
}

const char kNameRule[] =
    "alphanumeric characters, '-', '_' or '.', starting and ending with an alphanumeric character";

}  // namespace

bool IsDns1123Label(std::string_view s) {
  return s.size() <= kMaxDns1123LabelLength && MatchesLabelSyntax(s);
}

bool IsDns1123Subdomain(std::string_view s) {
  if (s.size() > kMaxDns1123SubdomainLength) return false;
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = s.find('.', start);
    if (!MatchesLabelSyntax(s.substr(start, dot == std::string_view::npos ? s.npos : dot - start))) {
      return false;
    }
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

std::string QualifiedNameError(std::string_view s) {
  std::string_view name = s;
  const std::size_t slash = s.find('/');
  if (slash != std::string_view::npos) {
    const std::string_view prefix = s.substr(0, slash);
    name = s.substr(slash + 1);
    if (name.find('/') != std::string_view::npos) {
      return "must be a name with an optional DNS subdomain prefix and one '/' "
             "(e.g. 'example.com/MyName')";
    }
    if (prefix.empty()) return "prefix part must not be empty";
    if (prefix.size() > kMaxDns1123SubdomainLength) {
      return "prefix part must be no more than 253 characters";
    }
    if (!IsDns1123Subdomain(prefix)) {
      return "prefix part must be a lowercase RFC 1123 subdomain: lowercase alphanumeric "
             "characters, '-' or '.', each part starting and ending with an alphanumeric character";
    }
  }
  if (name.empty()) return "name part must not be empty";
  if (name.size() > kMaxQualifiedNameLength) return "name part must be no more than 63 characters";
  if (!MatchesNameSyntax(name)) return std::string("name part must consist of ") + kNameRule;
  return {};
}

std::string LabelValueError(std::string_view s) {
  if (s.size() > kMaxLabelValueLength) return "must be no more than 63 characters";
  if (!s.empty() && !MatchesNameSyntax(s)) {
    return std::string("must be empty or consist of ") + kNameRule;
  }
  return {};
}

bool IsQualifiedName(std::string_view s) { return QualifiedNameError(s).empty(); }

bool IsLabelValue(std::string_view s) { return LabelValueError(s).empty(); }

}  // namespace deviceapi::labels
