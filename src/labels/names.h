// Kubernetes name rules (k8s.io/apimachinery/pkg/util/validation), one home
// for the store's selectors, the apiserver's validation and the SDK:
//
//   DNS-1123 label      [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63 characters
//   DNS-1123 subdomain  labels joined by '.', at most 253 characters in all
//                       (a single part may be longer than 63, as in Kubernetes)
//   qualified name      [prefix '/'] name: prefix a DNS-1123 subdomain, name
//                       ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9], at most 63
//   label value         empty, or a name as above (at most 63)
//
// Label keys and annotation keys are qualified names. Pure functions.
#pragma once

#include <string>
#include <string_view>

namespace deviceapi::labels {

inline constexpr std::size_t kMaxDns1123LabelLength = 63;
inline constexpr std::size_t kMaxDns1123SubdomainLength = 253;
inline constexpr std::size_t kMaxQualifiedNameLength = 63;  // the name part
inline constexpr std::size_t kMaxLabelValueLength = 63;

bool IsDns1123Label(std::string_view s);
bool IsDns1123Subdomain(std::string_view s);
bool IsQualifiedName(std::string_view s);
bool IsLabelValue(std::string_view s);

// Why `s` is not a qualified name (label key), in words; empty when it is.
std::string QualifiedNameError(std::string_view s);
// Why `s` is not a label value, in words; empty when it is.
std::string LabelValueError(std::string_view s);

}  // namespace deviceapi::labels
