// A small YAML emitter and a parser for the subset object files use.
//
// Output: any JSON value as block-style YAML; strings are double-quoted
// whenever plain style could be read back as something else.
// Input: block mappings and sequences, plain / single- / double-quoted
// scalars, comments, "---" at the start, and flow collections written as
// JSON ({...}, [...]). Anchors, aliases, tags, multi-document streams and
// block scalars (| >) are refused with a message naming the line.
// Plain scalars stay strings except true/false/null/~ (protobuf's JSON
// reader accepts numbers written as strings).
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "deviceapi/status.h"

namespace deviceapi::cli {

using Json = nlohmann::ordered_json;

std::string ToYaml(const Json& value);
StatusOr<Json> ParseYaml(std::string_view text);

}  // namespace deviceapi::cli
