// Validation results: a list of problems, each naming the field path it is
// about (e.g. "gpu.status.conditions[3].type"), so a client can tell exactly
// which part of its request was refused (S20).
#pragma once

#include <string>
#include <vector>

#include "store/result.h"

namespace deviceapi::apiserver {

struct FieldError {
  enum class Kind {
    kInvalid,   // syntax or semantics: INVALID_ARGUMENT
    kTooMany,   // a configured size limit (S19): RESOURCE_EXHAUSTED
  };
  Kind kind = Kind::kInvalid;
  std::string path;    // "gpu.metadata.name"
  std::string detail;  // "must be a DNS-1123 subdomain ..."
};

using FieldErrors = std::vector<FieldError>;

inline void AddInvalid(FieldErrors* errors, std::string path, std::string detail) {
  errors->push_back({FieldError::Kind::kInvalid, std::move(path), std::move(detail)});
}
inline void AddTooMany(FieldErrors* errors, std::string path, std::string detail) {
  errors->push_back({FieldError::Kind::kTooMany, std::move(path), std::move(detail)});
}

// Folds errors into one store::Error: kInvalid if any error is a syntax error,
// else kResourceExhausted. The message lists every error as "path: detail",
// separated by "; ". Precondition: !errors.empty().
store::Error ToError(const FieldErrors& errors);

}  // namespace deviceapi::apiserver
