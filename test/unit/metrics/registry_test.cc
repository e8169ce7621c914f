// The registry's text exposition: exact format, escaping, histograms,
// callbacks, name validation; every output is checked with the strict parser.
#include <gtest/gtest.h>

#include <cmath>
#include <thread>

#include "metrics/registry.h"
#include "metrics/text_format.h"
#include "metrics/text_parser.h"

namespace deviceapi::metrics {
namespace {

ParsedExposition MustParse(const std::string& text) {
  ParseResult r = ParseText(text);
  EXPECT_TRUE(r.ok) << r.error << "\n" << text;
  return r.exposition;
}

TEST(RegistryTest, ExactTextForCounterAndGauge) {
  Registry r;
  r.AddCounter("requests_total", "Requests served.", {"code"}).WithLabels({"200"}).Inc(3);
  r.AddGauge("temperature", "Degrees.").Get().Set(-1.5);
  EXPECT_EQ(r.Serialize(),
            "# HELP requests_total Requests served.\n"
            "# TYPE requests_total counter\n"
            "requests_total{code=\"200\"} 3\n"
            "# HELP temperature Degrees.\n"
            "# TYPE temperature gauge\n"
            "temperature -1.5\n");
}

TEST(RegistryTest, EscapesLabelValuesAndHelp) {
  Registry r;
  const std::string hostile = "a\"b\\c\nd}{,=\xc3\xa9";
  r.AddGauge("g", "line one\nback\\slash", {"v"}).WithLabels({hostile}).Set(1);
  const std::string text = r.Serialize();
  EXPECT_NE(text.find("# HELP g line one\\nback\\\\slash\n"), std::string::npos) << text;
  EXPECT_NE(text.find("g{v=\"a\\\"b\\\\c\\nd}{,=\xc3\xa9\"} 1\n"), std::string::npos) << text;
  ParsedExposition e = MustParse(text);
  EXPECT_EQ(e.Family("g")->help, "line one\nback\\slash");
  EXPECT_EQ(e.Value("g", {{"v", hostile}}), 1.0);
}

TEST(RegistryTest, HistogramExposition) {
  Registry r;
  auto& h = r.AddHistogram("latency_seconds", "Latency.", {"method"}, {0.1, 1}).WithLabels({"Get"});
  h.Observe(0.05);
  h.Observe(0.5);
  h.Observe(3);
  const std::string text = r.Serialize();
  EXPECT_EQ(text,
            "# HELP latency_seconds Latency.\n"
            "# TYPE latency_seconds histogram\n"
            "latency_seconds_bucket{method=\"Get\",le=\"0.1\"} 1\n"
            "latency_seconds_bucket{method=\"Get\",le=\"1\"} 2\n"
            "latency_seconds_bucket{method=\"Get\",le=\"+Inf\"} 3\n"
            "latency_seconds_sum{method=\"Get\"} 3.55\n"
            "latency_seconds_count{method=\"Get\"} 3\n");
  ParsedExposition e = MustParse(text);
  EXPECT_EQ(e.Family("latency_seconds")->type, "histogram");
  EXPECT_EQ(e.Family("latency_seconds")->samples.size(), 5u);
}

TEST(RegistryTest, EmptyFamiliesAndCallbacks) {
  Registry r;
  r.AddCounter("never_total", "Never incremented.", {"x"});
  int calls = 0;
  r.AddCallbackGauge("cb_gauge", "From a callback.", [&] { return ++calls * 1.0; });
  r.AddCallbackCounter("cb_total", "Counter from a callback.", [] { return 7.0; });
  r.AddCallback(MetricType::kGauge, "cb_labelled", "Labelled.", {"k"}, [] {
    return std::vector<CallbackSample>{{{"a"}, 1}, {{"b"}, 2}, {{"too", "many"}, 3}};
  });
  ParsedExposition e = MustParse(r.Serialize());
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(e.Family("never_total")->samples.size(), 0u);
  EXPECT_EQ(e.Value("cb_gauge"), 1.0);
  EXPECT_EQ(e.Value("cb_total"), 7.0);
  EXPECT_EQ(e.Value("cb_labelled", {{"k", "b"}}), 2.0);
  EXPECT_EQ(e.Family("cb_labelled")->samples.size(), 2u);  // the malformed one is skipped
  MustParse(r.Serialize());
  EXPECT_EQ(calls, 2);  // evaluated at every scrape
}

TEST(RegistryTest, ThrowingCallbackDoesNotBreakTheScrape) {
  Registry r;
  r.AddCallbackGauge("broken", "Throws.", []() -> double { throw std::runtime_error("gone"); });
  r.AddGauge("fine", "Still here.").Get().Set(3);
  ParsedExposition e = MustParse(r.Serialize());
  EXPECT_EQ(e.Family("broken")->samples.size(), 0u);
  EXPECT_EQ(e.Value("fine"), 3.0);
}

TEST(RegistryTest, RejectsBadNamesAndDuplicates) {
  Registry r;
  EXPECT_THROW(r.AddCounter("", "h"), std::invalid_argument);
  EXPECT_THROW(r.AddCounter("1abc", "h"), std::invalid_argument);
  EXPECT_THROW(r.AddCounter("a-b", "h"), std::invalid_argument);
  EXPECT_THROW(r.AddCounter("ok", "h", {"bad-label"}), std::invalid_argument);
  EXPECT_THROW(r.AddCounter("ok", "h", {"__reserved"}), std::invalid_argument);
  EXPECT_THROW(r.AddCounter("ok", "h", {"a", "a"}), std::invalid_argument);
  EXPECT_THROW(r.AddHistogram("ok", "h", {"le"}), std::invalid_argument);
  EXPECT_THROW(r.AddHistogram("ok", "h", {}, {3, 2}), std::invalid_argument);
  EXPECT_FALSE(r.Has("ok"));
  r.AddCounter("ns:ok_total", "h", {"a"});
  EXPECT_TRUE(r.Has("ns:ok_total"));
  EXPECT_THROW(r.AddGauge("ns:ok_total", "h"), std::invalid_argument);
  EXPECT_THROW(r.AddCallbackGauge("cb", "h", nullptr), std::invalid_argument);
}

TEST(TextFormatTest, FormatValue) {
  EXPECT_EQ(FormatValue(0), "0");
  EXPECT_EQ(FormatValue(42), "42");
  EXPECT_EQ(FormatValue(0.1), "0.1");
  EXPECT_EQ(FormatValue(1e21), "1e+21");
  EXPECT_EQ(FormatValue(INFINITY), "+Inf");
  EXPECT_EQ(FormatValue(-INFINITY), "-Inf");
  EXPECT_EQ(FormatValue(NAN), "NaN");
  EXPECT_EQ(FormatValue(18446744073709551615.0), "18446744073709551616");
}

TEST(RegistryTest, ConcurrentRegistrationAndScrape) {
  Registry r;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        r.AddCounter("c_" + std::to_string(t) + "_" + std::to_string(i) + "_total", "h", {"l"})
            .WithLabels({"v"})
            .Inc();
        (void)r.Serialize();
      }
    });
  }
  for (auto& th : threads) th.join();
  ParsedExposition e = MustParse(r.Serialize());
  EXPECT_EQ(e.families.size(), 200u);
}

}  // namespace
}  // namespace deviceapi::metrics
