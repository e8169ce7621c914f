// Logging: JSON lines are valid JSON with ts/level/msg and typed fields,
// text lines are one per record, verbosity filters, spdlog and gRPC's own
// log land in the same stream.
#include <gtest/gtest.h>

#include <grpc/grpc.h>
#include <grpc/support/log.h>
#include <spdlog/spdlog.h>

#include <mutex>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "base/logging.h"

namespace deviceapi::base {
namespace {

class Capture {
 public:
  std::function<void(std::string_view)> Sink() {
    return [this](std::string_view line) {
      std::lock_guard<std::mutex> lock(mu_);
      lines_.emplace_back(line);
    };
  }
  std::vector<std::string> Lines() {
    std::lock_guard<std::mutex> lock(mu_);
    return lines_;
  }

 private:
  std::mutex mu_;
  std::vector<std::string> lines_;
};

nlohmann::json ParseLine(const std::string& line) {
  EXPECT_FALSE(line.empty());
  EXPECT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1) << "one record, one line: " << line;
  return nlohmann::json::parse(line);  // throws (fails the test) if invalid
}

TEST(LoggingTest, JsonLineHasTimestampLevelMessageAndTypedFields) {
  Capture cap;
  InitLogging({.json = true, .verbosity = 0, .sink = cap.Sink(), .route_grpc = false});
  LogInfo("listening", {{"socket", "/run/x.sock"}, {"port", 9090}, {"big", std::uint64_t{1} << 63},
                        {"ratio", 0.5}, {"ms", 26.448728}, {"tls", false}, {"neg", -3}});
  auto lines = cap.Lines();
  ASSERT_EQ(lines.size(), 1u);
  auto j = ParseLine(lines[0]);
  EXPECT_EQ(j["level"], "info");
  EXPECT_EQ(j["msg"], "listening");
  EXPECT_EQ(j["socket"], "/run/x.sock");
  EXPECT_EQ(j["port"], 9090);
  EXPECT_EQ(j["big"].get<std::uint64_t>(), std::uint64_t{1} << 63);
  EXPECT_EQ(j["ratio"], 0.5);
  EXPECT_NE(lines[0].find("\"ms\":26.448728,"), std::string::npos) << lines[0];  // shortest form
  EXPECT_EQ(j["tls"], false);
  EXPECT_EQ(j["neg"], -3);
  EXPECT_TRUE(std::regex_match(j["ts"].get<std::string>(),
                               std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")))
      << j["ts"];
  // Key order: ts, level, msg first (readable with plain tools too).
  EXPECT_EQ(lines[0].rfind("{\"ts\":", 0), 0u);
}

TEST(LoggingTest, HostileTextStaysValidJson) {
  Capture cap;
  InitLogging({.json = true, .verbosity = 0, .sink = cap.Sink(), .route_grpc = false});
  const std::string hostile = std::string("quote\" back\\ nl\n tab\t ctl\x01 bad\xff\xfe utf8 \xc3\xa9 ") +
                              std::string(1, '\0') + " end";
  LogWarn(hostile, {{hostile, hostile}, {"msg", "field named like a reserved key"}});
  auto lines = cap.Lines();
  ASSERT_EQ(lines.size(), 1u);
  auto j = ParseLine(lines[0]);
  EXPECT_EQ(j["level"], "warn");
  const std::string msg = j["msg"];
  EXPECT_NE(msg.find("quote\" back\\ nl\n tab\t ctl\x01"), std::string::npos);
  EXPECT_NE(msg.find("\xc3\xa9"), std::string::npos);          // valid UTF-8 kept
  EXPECT_NE(msg.find("\xef\xbf\xbd"), std::string::npos);      // invalid bytes replaced
  EXPECT_EQ(j["_msg"], "field named like a reserved key");      // no duplicate "msg" key
}

TEST(LoggingTest, VerbosityFilters) {
  Capture cap;
  InitLogging({.json = true, .verbosity = 0, .sink = cap.Sink(), .route_grpc = false});
  LogDebug("hidden");
  LogTrace("hidden");
  LogInfo("shown");
  LogError("shown");
  EXPECT_EQ(cap.Lines().size(), 2u);
  EXPECT_FALSE(LogEnabled(LogLevel::kDebug));

  Capture cap1;
  InitLogging({.json = true, .verbosity = 1, .sink = cap1.Sink(), .route_grpc = false});
  LogDebug("shown");
  LogTrace("hidden");
  ASSERT_EQ(cap1.Lines().size(), 1u);
  EXPECT_EQ(ParseLine(cap1.Lines()[0])["level"], "debug");

  Capture cap2;
  InitLogging({.json = true, .verbosity = 2, .sink = cap2.Sink(), .route_grpc = false});
  LogTrace("shown");
  ASSERT_EQ(cap2.Lines().size(), 1u);
  EXPECT_EQ(ParseLine(cap2.Lines()[0])["level"], "trace");
  EXPECT_EQ(LevelForVerbosity(7), LogLevel::kTrace);
}

TEST(LoggingTest, TextFormat) {
  Capture cap;
  InitLogging({.json = false, .verbosity = 0, .sink = cap.Sink(), .route_grpc = false});
  LogInfo("server started\nsecond line", {{"socket", "/run/a b.sock"}, {"port", 1}, {"empty", ""}});
  auto lines = cap.Lines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_TRUE(std::regex_match(
      lines[0], std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO  server started second line )"
                           R"(socket="/run/a b.sock" port=1 empty=""\n)")))
      << lines[0];
}

TEST(LoggingTest, SpdlogCallsLandInTheSameStream) {
  Capture cap;
  InitLogging({.json = true, .verbosity = 0, .sink = cap.Sink(), .route_grpc = false});
  spdlog::info("from spdlog {}", 42);
  spdlog::debug("filtered");
  auto lines = cap.Lines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(ParseLine(lines[0])["msg"], "from spdlog 42");
}

TEST(LoggingTest, GrpcLogIsRouted) {
  Capture cap;
  InitLogging({.json = true, .verbosity = 0, .sink = cap.Sink(), .route_grpc = true});
  // gRPC reads GRPC_VERBOSITY (default ERROR) in grpc_init and drops
  // everything before it; an ERROR then always passes.
  grpc_init();
  gpr_log(__FILE__, 123, GPR_LOG_SEVERITY_ERROR, "core says %d", 7);
  auto lines = cap.Lines();
  ASSERT_EQ(lines.size(), 1u);
  auto j = ParseLine(lines[0]);
  EXPECT_EQ(j["msg"], "core says 7");
  EXPECT_EQ(j["level"], "error");
  EXPECT_EQ(j["logger"], "grpc");
  EXPECT_EQ(j["line"], 123);
  EXPECT_NE(j["file"].get<std::string>().find("logging_test.cc"), std::string::npos);
  grpc_shutdown();
}

TEST(LoggingTest, ConcurrentLinesNeverInterleave) {
  Capture cap;
  InitLogging({.json = true, .verbosity = 0, .sink = cap.Sink(), .route_grpc = false});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([t] {
      for (int i = 0; i < 500; ++i) LogInfo("tick", {{"thread", t}, {"i", i}});
    });
  }
  for (auto& th : threads) th.join();
  auto lines = cap.Lines();
  ASSERT_EQ(lines.size(), 2000u);
  for (const auto& l : lines) ParseLine(l);
}

}  // namespace
}  // namespace deviceapi::base
