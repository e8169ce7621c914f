// Process logging: one stream (stderr by default), structured JSON lines by
// default or human-readable text, shared by the server's own messages,
// spdlog users and gRPC's internal log.
//
// JSON line: {"ts":"2026-11-27T09:46:16.123Z","level":"info","msg":"...","k":"v",...}
//   ts is RFC 3339 UTC with milliseconds; levels: trace debug info warn error.
//   Field values keep their JSON type (string, integer, number, bool).
// Text line: 2026-11-27T09:46:16.123Z INFO  msg k=v k2="v with spaces"
//
// Verbosity: 0 info, 1 debug, 2+ trace. gRPC's log is routed into the same
// stream as logger "grpc" with fields file and line; gRPC decides what it
// emits from GRPC_VERBOSITY (default ERROR), as usual.
//
// Protobuf's log is routed too, as logger "protobuf". A client decides what
// protobuf says (every request with invalid UTF-8 in a string field logs an
// ERROR), so at most kProtobufLinesPerSecond of its lines are written per
// second; the first line after dropped ones carries "suppressed": <count>,
// and FlushSuppressedLogLines() writes what is still uncounted (at exit).
//
// InitLogging() may be called more than once (tests); it replaces spdlog's
// default logger, so spdlog::info(...) anywhere lands in the same stream.
// Call it before starting threads that log through spdlog directly (spdlog
// reads its default logger without a lock); Log() itself is safe against a
// concurrent InitLogging(). Log() before any InitLogging() initialises the
// defaults (JSON, info, stderr).
// Log() is thread-safe; lines are never interleaved.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace deviceapi::base {

enum class LogLevel { kTrace, kDebug, kInfo, kWarn, kError };

// "trace" "debug" "info" "warn" "error".
const char* LogLevelName(LogLevel level);
// 0 -> info, 1 -> debug, 2+ -> trace; negative -> warn.
LogLevel LevelForVerbosity(int verbosity);
// "trace" "debug" "info" "warn" "error" -> the level; anything else nullopt.
std::optional<LogLevel> ParseLogLevel(std::string_view name);

struct LoggingOptions {
  bool json = true;  // false: text (--log-format=text; the flag's enum lives in config.h)
  int verbosity = 0;
  // When set, the lowest level written, instead of the one `verbosity` gives.
  std::optional<LogLevel> level{};
  // Receives each complete line (with its trailing "\n"). Null: stderr.
  // Tests use it to capture output.
  std::function<void(std::string_view line)> sink;
  // Route gpr_log (gRPC core) into this stream.
  bool route_grpc = true;
  // Route protobuf's log handler into this stream, rate-limited.
  bool route_protobuf = true;
};

void InitLogging(const LoggingOptions& options);

inline constexpr int kProtobufLinesPerSecond = 5;

// Writes one line per rate-limited source with lines dropped since its last
// line ("log lines suppressed", logger and count). Call before exiting.
void FlushSuppressedLogLines();

// A log field value that keeps its JSON type.
class LogValue {
 public:
  enum class Kind { kString, kInt, kUint, kDouble, kBool };
  LogValue(const char* v) : kind_(Kind::kString), s_(v ? v : "") {}
  LogValue(std::string v) : kind_(Kind::kString), s_(std::move(v)) {}
  LogValue(std::string_view v) : kind_(Kind::kString), s_(v) {}
  LogValue(bool v) : kind_(Kind::kBool), b_(v) {}
  LogValue(double v) : kind_(Kind::kDouble), d_(v) {}
  LogValue(float v) : kind_(Kind::kDouble), d_(v) {}
  template <typename I, std::enable_if_t<std::is_integral_v<I> && !std::is_same_v<I, bool>, int> = 0>
  LogValue(I v) {
    if constexpr (std::is_signed_v<I>) {
      kind_ = Kind::kInt;
      i_ = static_cast<std::int64_t>(v);
    } else {
      kind_ = Kind::kUint;
      u_ = static_cast<std::uint64_t>(v);
    }
  }

  Kind kind() const { return kind_; }
  const std::string& str() const { return s_; }
  std::int64_t i() const { return i_; }
  std::uint64_t u() const { return u_; }
  double d() const { return d_; }
  bool b() const { return b_; }

 private:
  Kind kind_ = Kind::kString;
  std::string s_;
  std::int64_t i_ = 0;
  std::uint64_t u_ = 0;
  double d_ = 0;
  bool b_ = false;
};

using LogFields = std::vector<std::pair<std::string, LogValue>>;

// True if a message at `level` would be written (skip building costly fields).
bool LogEnabled(LogLevel level);

// Log(LogLevel::kInfo, "listening", {{"socket", path}, {"port", 9090}});
void Log(LogLevel level, std::string_view msg, const LogFields& fields = {});
inline void LogTrace(std::string_view msg, const LogFields& f = {}) { Log(LogLevel::kTrace, msg, f); }
inline void LogDebug(std::string_view msg, const LogFields& f = {}) { Log(LogLevel::kDebug, msg, f); }
inline void LogInfo(std::string_view msg, const LogFields& f = {}) { Log(LogLevel::kInfo, msg, f); }
inline void LogWarn(std::string_view msg, const LogFields& f = {}) { Log(LogLevel::kWarn, msg, f); }
inline void LogError(std::string_view msg, const LogFields& f = {}) { Log(LogLevel::kError, msg, f); }

}  // namespace deviceapi::base
