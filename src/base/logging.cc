#include "base/logging.h"

#include <google/protobuf/stubs/logging.h>
#include <grpc/support/log.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <chrono>
#include <cmath>
#include <ctime>
#include <memory>
#include <mutex>
#include <utility>

#include "base/line_budget.h"

namespace deviceapi::base {

namespace {

// Fields of the line being logged on this thread. spdlog's synchronous
// loggers format on the calling thread, so the sink can read them.
thread_local const LogFields* tl_fields = nullptr;

void AppendJsonString(std::string* out, std::string_view s) {
  out->push_back('"');
  for (std::size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '"': out->append("\\\""); break;
        case '\\': out->append("\\\\"); break;
        case '\n': out->append("\\n"); break;
        case '\r': out->append("\\r"); break;
        case '\t': out->append("\\t"); break;
        default:
          if (c < 0x20 || c == 0x7f) {
            char buf[8];
            std::snprintf(buf, sizeof(buf), "\\u%04x", c);
            out->append(buf);
          } else {
            out->push_back(static_cast<char>(c));
          }
      }
      ++i;
      continue;
    }
    // Copy a well-formed UTF-8 sequence; replace anything else with U+FFFD so
    // the line stays valid JSON whatever bytes a message carries.
    std::size_t len = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c < 0xe0 ? 2 : 0;
    bool ok = len > 0 && i + len <= s.size();
    for (std::size_t k = 1; ok && k < len; ++k) {
      ok = (static_cast<unsigned char>(s[i + k]) & 0xc0) == 0x80;
    }
    if (ok && len == 3) {
      unsigned char c1 = static_cast<unsigned char>(s[i + 1]);
      ok = !(c == 0xe0 && c1 < 0xa0) && !(c == 0xed && c1 >= 0xa0);  // overlong, surrogates
    }
    if (ok && len == 4) {
      unsigned char c1 = static_cast<unsigned char>(s[i + 1]);
      ok = !(c == 0xf0 && c1 < 0x90) && !(c == 0xf4 && c1 >= 0x90);
    }
    if (ok) {
      out->append(s.substr(i, len));
      i += len;
    } else {
      out->append("\xef\xbf\xbd");
      ++i;
    }
  }
  out->push_back('"');
}

// Shortest text that reads back as the same double (26.448728, not
// 26.448727999999999).
std::string FormatDouble(double d) {
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), d);
  return std::string(buf, res.ptr);
}

void AppendJsonValue(std::string* out, const LogValue& v) {
  switch (v.kind()) {
    case LogValue::Kind::kString: AppendJsonString(out, v.str()); break;
    case LogValue::Kind::kInt: out->append(std::to_string(v.i())); break;
    case LogValue::Kind::kUint: out->append(std::to_string(v.u())); break;
    case LogValue::Kind::kBool: out->append(v.b() ? "true" : "false"); break;
    case LogValue::Kind::kDouble:
      // JSON has no NaN or infinities: write them as strings.
      if (std::isfinite(v.d())) out->append(FormatDouble(v.d()));
      else AppendJsonString(out, std::isnan(v.d()) ? "NaN" : (v.d() > 0 ? "+Inf" : "-Inf"));
      break;
  }
}

std::string TextValue(const LogValue& v) {
  switch (v.kind()) {
    case LogValue::Kind::kString: {
      const std::string& s = v.str();
      bool plain = !s.empty();
      for (char c : s) {
        if (c == ' ' || c == '"' || c == '=' || static_cast<unsigned char>(c) < 0x20) plain = false;
      }
      if (plain) return s;
      std::string q;
      AppendJsonString(&q, s);
      return q;
    }
    case LogValue::Kind::kInt: return std::to_string(v.i());
    case LogValue::Kind::kUint: return std::to_string(v.u());
    case LogValue::Kind::kBool: return v.b() ? "true" : "false";
    case LogValue::Kind::kDouble: return FormatDouble(v.d());
  }
  return {};
}

const char* LevelWord(spdlog::level::level_enum l) {
  switch (l) {
    case spdlog::level::trace: return "trace";
    case spdlog::level::debug: return "debug";
    case spdlog::level::info: return "info";
    case spdlog::level::warn: return "warn";
    default: return "error";
  }
}

std::string Rfc3339Millis(spdlog::log_clock::time_point tp) {
  using namespace std::chrono;
  auto ms = duration_cast<milliseconds>(tp.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  int millis = static_cast<int>(ms % 1000);
  if (millis < 0) {
    millis += 1000;
    --secs;
  }
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
  return buf;
}

bool Reserved(std::string_view key) {
  return key == "ts" || key == "level" || key == "msg" || key == "logger";
}

// Formats every record itself (JSON or text) and hands whole lines to the
// configured output; base_sink's mutex keeps lines from interleaving.
class LineSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  LineSink(bool json, std::function<void(std::string_view)> out)
      : json_(json), out_(std::move(out)) {}

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    std::string_view text(msg.payload.data(), msg.payload.size());
    std::string_view logger(msg.logger_name.data(), msg.logger_name.size());
    const LogFields* fields = tl_fields;
    std::string line;
    line.reserve(128 + text.size());
    if (json_) {
      line.append("{\"ts\":\"").append(Rfc3339Millis(msg.time)).append("\",\"level\":\"");
      line.append(LevelWord(msg.level)).append("\",\"msg\":");
      AppendJsonString(&line, text);
      if (!logger.empty() && logger != kDefaultName) {
        line.append(",\"logger\":");
        AppendJsonString(&line, logger);
      }
      if (fields) {
        for (const auto& [k, v] : *fields) {
          line.push_back(',');
          AppendJsonString(&line, Reserved(k) ? "_" + k : k);
          line.push_back(':');
          AppendJsonValue(&line, v);
        }
      }
      line.append("}\n");
    } else {
      std::string level = LevelWord(msg.level);
      for (char& c : level) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      level.resize(5, ' ');
      line.append(Rfc3339Millis(msg.time)).append(" ").append(level).append(" ");
      if (!logger.empty() && logger != kDefaultName) line.append("[").append(logger).append("] ");
      for (char c : text) line.push_back(c == '\n' ? ' ' : c);  // one record, one line
      if (fields) {
        for (const auto& [k, v] : *fields) line.append(" ").append(k).append("=").append(TextValue(v));
      }
      line.push_back('\n');
    }
    out_(line);
  }
  void flush_() override {}

 public:
  static constexpr std::string_view kDefaultName = "deviceapi";

 private:
  const bool json_;
  const std::function<void(std::string_view)> out_;
};

void WriteStderr(std::string_view line) {
  const char* p = line.data();
  std::size_t left = line.size();
  while (left > 0) {
    ssize_t n = ::write(STDERR_FILENO, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;  // nowhere left to report it
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
}

spdlog::level::level_enum ToSpd(LogLevel l) {
  switch (l) {
    case LogLevel::kTrace: return spdlog::level::trace;
    case LogLevel::kDebug: return spdlog::level::debug;
    case LogLevel::kInfo: return spdlog::level::info;
    case LogLevel::kWarn: return spdlog::level::warn;
    case LogLevel::kError: return spdlog::level::err;
  }
  return spdlog::level::info;
}

std::mutex g_mu;
std::shared_ptr<spdlog::logger> g_logger;       // guarded by g_mu
std::shared_ptr<spdlog::logger> g_grpc_logger;  // guarded by g_mu
std::atomic<int> g_min_level{static_cast<int>(spdlog::level::info)};

std::shared_ptr<spdlog::logger> CurrentLogger() {
  std::lock_guard<std::mutex> lock(g_mu);
  return g_logger;
}

void GrpcLogFunction(gpr_log_func_args* args) {
  std::shared_ptr<spdlog::logger> logger;
  {
    std::lock_guard<std::mutex> lock(g_mu);
    logger = g_grpc_logger;
  }
  if (!logger) return;
  spdlog::level::level_enum level = spdlog::level::info;
  if (args->severity == GPR_LOG_SEVERITY_DEBUG) level = spdlog::level::debug;
  else if (args->severity == GPR_LOG_SEVERITY_ERROR) level = spdlog::level::err;
  LogFields fields{{"file", args->file ? args->file : ""}, {"line", args->line}};
  const LogFields* saved = tl_fields;
  tl_fields = &fields;
  logger->log(level, "{}", args->message ? args->message : "");
  tl_fields = saved;
}

LineBudget g_protobuf_budget(kProtobufLinesPerSecond);
std::shared_ptr<spdlog::logger> g_protobuf_logger;  // guarded by g_mu

std::shared_ptr<spdlog::logger> ProtobufLogger() {
  std::lock_guard<std::mutex> lock(g_mu);
  return g_protobuf_logger;
}

void ProtobufLogFunction(google::protobuf::LogLevel level, const char* file, int line,
                         const std::string& message) {
  std::shared_ptr<spdlog::logger> logger = ProtobufLogger();
  if (!logger) return;
  const bool fatal = level == google::protobuf::LOGLEVEL_FATAL;
  std::uint64_t dropped = 0;
  if (!g_protobuf_budget.Admit(&dropped) && !fatal) return;
  spdlog::level::level_enum spd = spdlog::level::info;
  if (level == google::protobuf::LOGLEVEL_WARNING) spd = spdlog::level::warn;
  else if (level >= google::protobuf::LOGLEVEL_ERROR) spd = spdlog::level::err;
  LogFields fields{{"file", file ? file : ""}, {"line", line}};
  if (dropped > 0) fields.emplace_back("suppressed", dropped);
  const LogFields* saved = tl_fields;
  tl_fields = &fields;
  logger->log(spd, "{}", message);
  tl_fields = saved;
}

}  // namespace

void FlushSuppressedLogLines() {
  const std::uint64_t dropped = g_protobuf_budget.TakeDropped();
  std::shared_ptr<spdlog::logger> logger = ProtobufLogger();
  if (dropped == 0 || !logger) return;
  LogFields fields{{"suppressed", dropped}};
  const LogFields* saved = tl_fields;
  tl_fields = &fields;
  logger->log(spdlog::level::warn, "log lines suppressed");
  tl_fields = saved;
}

const char* LogLevelName(LogLevel level) { return LevelWord(ToSpd(level)); }

LogLevel LevelForVerbosity(int verbosity) {
  if (verbosity < 0) return LogLevel::kWarn;
  if (verbosity == 0) return LogLevel::kInfo;
  if (verbosity == 1) return LogLevel::kDebug;
  return LogLevel::kTrace;
}

std::optional<LogLevel> ParseLogLevel(std::string_view name) {
  for (LogLevel l : {LogLevel::kTrace, LogLevel::kDebug, LogLevel::kInfo, LogLevel::kWarn, LogLevel::kError}) {
    if (name == LogLevelName(l)) return l;
  }
  return std::nullopt;
}

void InitLogging(const LoggingOptions& options) {
  auto out = options.sink ? options.sink : std::function<void(std::string_view)>(WriteStderr);
  auto sink = std::make_shared<LineSink>(options.json, std::move(out));
  auto logger = std::make_shared<spdlog::logger>(std::string(LineSink::kDefaultName), sink);
  const auto level = ToSpd(options.level.value_or(LevelForVerbosity(options.verbosity)));
  logger->set_level(level);
  logger->flush_on(spdlog::level::trace);
  // gRPC filters its own messages (GRPC_VERBOSITY); everything it emits is kept.
  auto grpc_logger = std::make_shared<spdlog::logger>("grpc", sink);
  grpc_logger->set_level(spdlog::level::trace);
  auto protobuf_logger = std::make_shared<spdlog::logger>("protobuf", sink);
  protobuf_logger->set_level(spdlog::level::trace);
  {
    std::lock_guard<std::mutex> lock(g_mu);
    g_logger = logger;
    g_grpc_logger = options.route_grpc ? grpc_logger : nullptr;
    g_protobuf_logger = options.route_protobuf ? protobuf_logger : nullptr;
    g_min_level.store(static_cast<int>(level));
  }
  spdlog::set_default_logger(logger);
  if (options.route_grpc) gpr_set_log_function(GrpcLogFunction);
  // Not thread-safe in protobuf; InitLogging runs before the servers start.
  if (options.route_protobuf) google::protobuf::SetLogHandler(ProtobufLogFunction);
}

bool LogEnabled(LogLevel level) {
  return static_cast<int>(ToSpd(level)) >= g_min_level.load(std::memory_order_relaxed);
}

void Log(LogLevel level, std::string_view msg, const LogFields& fields) {
  if (!LogEnabled(level)) return;
  std::shared_ptr<spdlog::logger> logger = CurrentLogger();
  if (!logger) {
    // Before InitLogging: JSON to stderr rather than nothing.
    InitLogging({});
    logger = CurrentLogger();
  }
  const LogFields* saved = tl_fields;
  tl_fields = fields.empty() ? nullptr : &fields;
  logger->log(ToSpd(level), "{}", msg);
  tl_fields = saved;
}

}  // namespace deviceapi::base
