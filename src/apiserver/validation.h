// Syntax checks shared by every resource kind (S20) and the metadata limits
// (S19). Pure functions; each appends FieldErrors naming the field path.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "apiserver/field_errors.h"
#include "device_api.pb.h"
#include "labels/selector.h"

namespace deviceapi::apiserver {

// The printable form of a user's string in an error message: in double
// quotes, control characters, quotes and backslashes as \xNN, at most 64
// bytes then "...", so that a 4 MiB name never comes back as a 4 MiB error.
std::string Quote(std::string_view s);

// As Quote, without the quotes (double quotes stay as they are) and at
// most `max_bytes` bytes of `s` then "...": for a longer text that is
// partly the client's (a parser's message that cites the value it refused).
std::string Printable(std::string_view s, std::size_t max_bytes);

// Limits the service enforces on objects (S19); the server process may
// override the defaults from its configuration.
struct ServiceLimits {
  std::size_t max_conditions = 32;                      // conditions per object
  std::size_t max_condition_message_bytes = 32u << 10;  // bytes per condition message
  std::size_t max_labels = 64;                          // labels, and annotations, each
  std::size_t max_label_bytes = 256u << 10;             // labels + annotations, keys + values
  // Label selectors of List and Watch (S33): text length and requirements.
  // A watcher keeps its selector and every write matches it once per
  // watcher under the store's write lock, so both are bounded.
  labels::SelectorLimits selector{.max_bytes = 4096, .max_requirements = 64};
};

// Name, label key and label value rules live in labels/names.h.
// "GPU-" + 8-4-4-4-12 hex digits. `lowercase_only` demands lowercase hex,
// the canonical form NVML reports.
bool IsGpuUuid(std::string_view s, bool lowercase_only);
// UpperCamelCase: [A-Z][A-Za-z0-9]*, at most 316 characters.
bool IsCamelCase(std::string_view s);
// A condition type (S20): CamelCase, or domain/CamelCase with a DNS-1123
// subdomain as the domain.
bool IsConditionType(std::string_view type);
// Checks an object's name: DNS-1123 subdomain, or a GPU UUID when
// `allow_gpu_uuid`; required.
void ValidateObjectName(std::string_view name, bool allow_gpu_uuid, const std::string& path,
                        FieldErrors* errors);
// Checks a namespace (already defaulted): a DNS-1123 label.
void ValidateNamespace(std::string_view ns, const std::string& path, FieldErrors* errors);
// Checks labels and annotations syntax and their S19 limits.
void ValidateLabelsAndAnnotations(const nvidia::nvsentinel::v1alpha1::ObjectMeta& meta,
                                  const ServiceLimits& limits, const std::string& path,
                                  FieldErrors* errors);
// Within google.protobuf.Timestamp's range, 0001-01-01 to 9999-12-31.
bool IsValidTimestamp(const google::protobuf::Timestamp& ts);
// Checks a timestamp is a valid google.protobuf.Timestamp
// (0001-01-01 .. 9999-12-31, nanos in [0, 1e9)).
void ValidateTimestamp(const google::protobuf::Timestamp& ts, const std::string& path,
                       FieldErrors* errors);

}  // namespace deviceapi::apiserver
