// Parsing of the human units operators write in flags and environment
// variables: Go-style durations ("25s", "500ms", "1m30s") and byte sizes
// ("4Mi", "16MiB", "512k", "1048576"). Both return std::nullopt on anything
// malformed, negative or overflowing; callers turn that into a start-up error.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace deviceapi::base {

// absl::ParseDuration, the one duration syntax of every daemon here: units
// ns, us (or µs), ms, s, m, h; components may repeat ("1h2m3.5s"). A bare
// "0" is accepted; any other number needs a unit. Signs, "inf" and more
// than ten years are refused. Sub-millisecond remainders are truncated.
std::optional<std::chrono::milliseconds> ParseDuration(std::string_view text);

// Plain bytes or a number with a suffix: k/K/Ki/KiB/KB ... up to G. Binary
// (Ki, KiB) and decimal (k, K, KB) suffixes follow Kubernetes quantity rules.
std::optional<std::uint64_t> ParseSize(std::string_view text);

// "25s", "1m30s", "500ms": the inverse of ParseDuration, for logs and --help.
std::string FormatDuration(std::chrono::milliseconds d);

}  // namespace deviceapi::base
