// Durations on the command line, as kubectl's --request-timeout reads them:
// Go duration syntax ("30s", "1m30s", "500ms", "2h"), or a bare integer
// meaning seconds ("30").
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

namespace deviceapi::cli {

// Units h, m, s, ms, us (µs), ns; fractions ("1.5s") allowed. nullopt on
// anything else (empty, negative, unknown unit, over 10000 hours).
std::optional<std::chrono::nanoseconds> ParseDuration(std::string_view text);

}  // namespace deviceapi::cli
