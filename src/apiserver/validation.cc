#include "apiserver/validation.h"

#include <string>

#include "labels/names.h"

namespace deviceapi::apiserver {
namespace {

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool IsAlnum(char c) {
  return IsLowerAlnum(c) || (c >= 'A' && c <= 'Z');
}
bool IsHex(char c, bool lowercase_only) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) return true;
  return !lowercase_only && c >= 'A' && c <= 'F';
}

// At most `max_bytes` of `s`, then "..."; control characters and
// backslashes (and double quotes, when `quotes`) as \xNN.
std::string Escaped(std::string_view s, std::size_t max_bytes, bool quotes) {
  std::string out;
  for (char c : s.substr(0, max_bytes)) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f || (quotes && c == '"') || c == '\\') {
      static const char* kHex = "0123456789abcdef";
      out += "\\x";
      out += kHex[u >> 4];
      out += kHex[u & 15];
    } else {
      out += c;
    }
  }
  if (s.size() > max_bytes) out += "...";
  return out;
}

}  // namespace

std::string Quote(std::string_view s) { return "\"" + Escaped(s, 64, /*quotes=*/true) + "\""; }

std::string Printable(std::string_view s, std::size_t max_bytes) {
  return Escaped(s, max_bytes, /*quotes=*/false);
}

bool IsGpuUuid(std::string_view s, bool lowercase_only) {
  static constexpr std::size_t kGroups[] = {8, 4, 4, 4, 12};
  if (s.substr(0, 4) != "GPU-") return false;
  std::size_t pos = 4;
  for (std::size_t g = 0; g < 5; ++g) {
    if (g > 0) {
      if (pos >= s.size() || s[pos] != '-') return false;
      ++pos;
    }
    for (std::size_t i = 0; i < kGroups[g]; ++i, ++pos) {
      if (pos >= s.size() || !IsHex(s[pos], lowercase_only)) return false;
    }
  }
  return pos == s.size();
}

bool IsCamelCase(std::string_view s) {
  if (s.empty() || s.size() > 316) return false;
  if (!(s.front() >= 'A' && s.front() <= 'Z')) return false;
  for (char c : s) {
    if (!IsAlnum(c)) return false;
  }
  return true;
}

void ValidateObjectName(std::string_view name, bool allow_gpu_uuid, const std::string& path,
                        FieldErrors* errors) {
  if (name.empty()) {
    AddInvalid(errors, path, "Required value");
    return;
  }
  if (name.size() > 253) {
    AddInvalid(errors, path, "must be no more than 253 characters (got " +
                                 std::to_string(name.size()) + ")");
    return;
  }
  if (labels::IsDns1123Subdomain(name)) return;
  if (allow_gpu_uuid) {
    if (IsGpuUuid(name, /*lowercase_only=*/true)) return;
    if (IsGpuUuid(name, /*lowercase_only=*/false)) {
      AddInvalid(errors, path, Quote(name) + ": a GPU UUID name must use lowercase hex digits, "
                               "as NVML reports it");
      return;
    }
    AddInvalid(errors, path, Quote(name) + ": must be a DNS-1123 subdomain (lowercase "
                             "alphanumerics, '-' and '.') or a GPU UUID (GPU-xxxxxxxx-xxxx-xxxx-"
                             "xxxx-xxxxxxxxxxxx, lowercase hex)");
    return;
  }
  AddInvalid(errors, path, Quote(name) + ": must be a DNS-1123 subdomain (lowercase "
                           "alphanumerics, '-' and '.')");
}

void ValidateNamespace(std::string_view ns, const std::string& path, FieldErrors* errors) {
  if (!labels::IsDns1123Label(ns)) {
    AddInvalid(errors, path, Quote(ns) + ": must be a DNS-1123 label (at most 63 lowercase "
                             "alphanumerics or '-', starting and ending alphanumeric)");
  }
}

void ValidateLabelsAndAnnotations(const nvidia::nvsentinel::v1alpha1::ObjectMeta& meta,
                                  const ServiceLimits& limits, const std::string& path,
                                  FieldErrors* errors) {
  std::size_t total = 0;
  if (meta.labels_size() > static_cast<int>(limits.max_labels)) {
    AddTooMany(errors, path + ".labels", "must have at most " + std::to_string(limits.max_labels) +
                                             " entries (got " + std::to_string(meta.labels_size()) +
                                             ")");
  }
  if (meta.annotations_size() > static_cast<int>(limits.max_labels)) {
    AddTooMany(errors, path + ".annotations",
               "must have at most " + std::to_string(limits.max_labels) + " entries (got " +
                   std::to_string(meta.annotations_size()) + ")");
  }
  for (const auto& [key, value] : meta.labels()) {
    total += key.size() + value.size();
    const std::string p = path + ".labels[" + Quote(key) + "]";
    if (std::string why = labels::QualifiedNameError(key); !why.empty()) {
      AddInvalid(errors, p, "key must be a qualified name ([prefix/]name): " + why);
    }
    if (std::string why = labels::LabelValueError(value); !why.empty()) {
      AddInvalid(errors, p, "value " + Quote(value) + " " + why);
    }
  }
  for (const auto& [key, value] : meta.annotations()) {
    total += key.size() + value.size();
    if (std::string why = labels::QualifiedNameError(key); !why.empty()) {
      AddInvalid(errors, path + ".annotations[" + Quote(key) + "]",
                 "key must be a qualified name ([prefix/]name): " + why);
    }
  }
  if (total > limits.max_label_bytes) {
    AddTooMany(errors, path, "labels and annotations must total at most " +
                                 std::to_string(limits.max_label_bytes) + " bytes (got " +
                                 std::to_string(total) + ")");
  }
}

bool IsValidTimestamp(const google::protobuf::Timestamp& ts) {
  // Bounds of google.protobuf.Timestamp: 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59Z.
  constexpr std::int64_t kMinSeconds = -62135596800LL;
  constexpr std::int64_t kMaxSeconds = 253402300799LL;
  return ts.seconds() >= kMinSeconds && ts.seconds() <= kMaxSeconds && ts.nanos() >= 0 &&
         ts.nanos() <= 999999999;
}

void ValidateTimestamp(const google::protobuf::Timestamp& ts, const std::string& path,
                       FieldErrors* errors) {
  if (!IsValidTimestamp(ts)) {
    AddInvalid(errors, path, "must be a valid timestamp between 0001-01-01 and 9999-12-31");
  }
}

store::Error ToError(const FieldErrors& errors) {
  // A hostile request can carry thousands of bad fields; report the first
  // few so the error stays small.
  constexpr std::size_t kMaxListed = 10;
  bool invalid = false;
  std::string message;
  std::size_t listed = 0;
  for (const auto& e : errors) {
    if (e.kind == FieldError::Kind::kInvalid) invalid = true;
    if (listed == kMaxListed) continue;
    if (!message.empty()) message += "; ";
    message += e.path + ": " + e.detail;
    ++listed;
  }
  if (errors.size() > listed) {
    message += "; and " + std::to_string(errors.size() - listed) + " more errors";
  }
  return store::MakeError(invalid ? store::ErrorCode::kInvalid : store::ErrorCode::kResourceExhausted,
                          std::move(message));
}

bool IsConditionType(std::string_view type) {
  if (type.size() > 316) return false;
  std::size_t slash = type.find('/');
  if (slash == std::string_view::npos) return IsCamelCase(type);
  return labels::IsDns1123Subdomain(type.substr(0, slash)) && IsCamelCase(type.substr(slash + 1));
}

}  // namespace deviceapi::apiserver
