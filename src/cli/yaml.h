// YAML for devicectl: a kubectl-style emitter and a reader on yaml-cpp.
//
// Output: any JSON value as block-style YAML, lists at their key's indent
// as kubectl prints them; strings are double-quoted whenever plain style
// could be read back as something else, by this reader or by a YAML 1.1 one
// (numbers in any base, .inf/.nan, y/n and yes/no, timestamps), or hold a
// code point EscapeUnsafeCodePoints escapes; a key longer than 1,000 bytes as
// written (YAML's limit for "key: value" is 1024 characters) is written as
// an explicit entry, "? key" then ": value".
// Input: one YAML document (yaml-cpp): block and flow collections, plain,
// quoted and block scalars, anchors and aliases, the standard tags (!!str,
// !!int, !!bool, ...). Refused, with a message naming the line: invalid
// UTF-8, syntax errors, several documents, duplicate keys, keys that are not
// scalars, other tags, nesting deeper than 64 levels, and documents whose
// aliases expand to more than 100000 values.
// Typing: plain scalars stay strings (protobuf's JSON reader accepts numbers
// written as strings) except true/True/TRUE, false/False/FALSE and
// null/Null/NULL/~ (and an empty value: null); quoted scalars are strings.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "deviceapi/status.h"

namespace deviceapi::cli {

using Json = nlohmann::ordered_json;

std::string ToYaml(const Json& value);
StatusOr<Json> ParseYaml(std::string_view text);

// `json_text` (JSON as nlohmann's dump() writes it) with the code points a
// terminal or a YAML reader would act on written as \uXXXX escapes: the C1
// controls U+0080-U+009F (U+009B starts a terminal escape sequence), the
// separators U+2028 and U+2029, U+FEFF and the noncharacters U+FFFE and
// U+FFFF. dump() leaves them raw; only strings hold non-ASCII bytes, so only
// strings change.
std::string EscapeUnsafeCodePoints(const std::string& json_text);

}  // namespace deviceapi::cli
