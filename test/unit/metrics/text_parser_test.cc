// The strict text-format parser: accepts valid expositions (including ones
// written by other Prometheus clients) and rejects every malformed one.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "metrics/text_parser.h"

namespace deviceapi::metrics {
namespace {

TEST(TextParserTest, ParsesAFullExposition) {
  const std::string text =
      "# A plain comment\n"
      "# HELP http_requests_total The total number of HTTP requests.\n"
      "# TYPE http_requests_total counter\n"
      "http_requests_total{method=\"post\",code=\"200\"} 1027 1395066363000\n"
      "http_requests_total{method=\"post\",code=\"400\"}    3 1395066363000\n"
      "\n"
      "msdos_file_access_time_seconds{path=\"C:\\\\DIR\\\\FILE.TXT\",error=\"Cannot find file:\\n\\\"FILE.TXT\\\"\"} 1.458255915e9\n"
      "metric_without_timestamp_and_labels 12.47\n"
      "something_weird{problem=\"division by zero\"} +Inf -3982045\n"
      "# HELP http_request_duration_seconds A histogram of the request duration.\n"
      "# TYPE http_request_duration_seconds histogram\n"
      "http_request_duration_seconds_bucket{le=\"0.05\"} 24054\n"
      "http_request_duration_seconds_bucket{le=\"0.1\"} 33444\n"
      "http_request_duration_seconds_bucket{le=\"+Inf\"} 144320\n"
      "http_request_duration_seconds_sum 53423\n"
      "http_request_duration_seconds_count 144320\n"
      "# TYPE rpc_duration_seconds summary\n"
      "rpc_duration_seconds{quantile=\"0.5\"} 4773\n"
      "rpc_duration_seconds_sum 1.7560473e+07\n"
      "rpc_duration_seconds_count 2693\n"
      "trailing_comma{a=\"1\",} NaN\n";
  ParseResult r = ParseText(text);
  ASSERT_TRUE(r.ok) << r.error;
  const ParsedExposition& e = r.exposition;
  EXPECT_EQ(e.families.size(), 7u);
  EXPECT_EQ(e.Family("http_requests_total")->type, "counter");
  EXPECT_EQ(e.Family("http_requests_total")->help, "The total number of HTTP requests.");
  EXPECT_EQ(e.Value("http_requests_total", {{"method", "post"}, {"code", "400"}}), 3.0);
  EXPECT_EQ(e.Samples("http_requests_total")[0]->timestamp_ms, 1395066363000);
  EXPECT_EQ(e.Value("msdos_file_access_time_seconds",
                    {{"path", "C:\\DIR\\FILE.TXT"}, {"error", "Cannot find file:\n\"FILE.TXT\""}}),
            1.458255915e9);
  EXPECT_EQ(e.Family("msdos_file_access_time_seconds")->type, "untyped");
  EXPECT_TRUE(std::isinf(*e.Value("something_weird", {{"problem", "division by zero"}})));
  EXPECT_EQ(e.Samples("something_weird")[0]->timestamp_ms, -3982045);
  EXPECT_EQ(e.Family("http_request_duration_seconds")->samples.size(), 5u);
  EXPECT_EQ(e.Value("http_request_duration_seconds_count"), 144320.0);
  EXPECT_EQ(e.Family("rpc_duration_seconds")->samples.size(), 3u);
  EXPECT_TRUE(std::isnan(*e.Value("trailing_comma", {{"a", "1"}})));
  EXPECT_FALSE(e.Value("http_requests_total", {{"method", "post"}}).has_value());
}

TEST(TextParserTest, EmptyInputIsValid) {
  EXPECT_TRUE(ParseText("").ok);
  EXPECT_TRUE(ParseText("\n\n").ok);
}

struct BadCase {
  const char* name;
  const char* text;
  const char* error_part;  // expected in the error message
};

class TextParserRejects : public ::testing::TestWithParam<BadCase> {};

TEST_P(TextParserRejects, Malformed) {
  ParseResult r = ParseText(GetParam().text);
  EXPECT_FALSE(r.ok) << "accepted:\n" << GetParam().text;
  EXPECT_NE(r.error.find(GetParam().error_part), std::string::npos)
      << "error was: " << r.error;
}

const BadCase kBadCases[] = {
    {"NoFinalNewline", "a 1", "line 1: missing final line feed"},
    {"BadMetricName", "1a 1\n", "invalid metric name"},
    {"DashInName", "a-b 1\n", "expected a blank"},
    {"NoValue", "a\n", "expected a blank"},
    {"BadValue", "a one\n", "invalid value"},
    {"HexValue", "a 0x10\n", "invalid value"},
    {"EmptyValueAfterLabels", "a{b=\"c\"}\n", "expected a blank"},
    {"TrailingGarbage", "a 1 2 3\n", "trailing text"},
    {"BadTimestamp", "a 1 1.5\n", "invalid timestamp"},
    {"UnterminatedLabels", "a{b=\"c\" 1\n", "expected ',' or '}'"},
    {"UnterminatedValue", "a{b=\"c} 1\n", "unterminated value"},
    {"UnquotedLabelValue", "a{b=c} 1\n", "expected '\"'"},
    {"BadLabelName", "a{1b=\"c\"} 1\n", "invalid label name"},
    {"ReservedLabelName", "a{__name__=\"c\"} 1\n", "reserved label name"},
    {"BadEscape", "a{b=\"\\t\"} 1\n", "invalid escape"},
    {"DuplicateLabel", "a{b=\"1\",b=\"2\"} 1\n", "duplicate label"},
    {"DuplicateSample", "a{b=\"1\"} 1\na{b=\"1\"} 2\n", "line 2: duplicate sample"},
    {"SecondHelp", "# HELP a x\n# HELP a y\n", "line 2: second HELP"},
    {"SecondType", "# TYPE a gauge\n# TYPE a gauge\n", "second TYPE"},
    {"TypeAfterSamples", "a 1\n# TYPE a gauge\n", "after its samples"},
    {"UnknownType", "# TYPE a thing\n", "unknown TYPE"},
    {"TypeTrailing", "# TYPE a gauge extra\n", "trailing text"},
    {"TypeNoName", "# TYPE\n", "without a metric name"},
    {"HelpBadEscape", "# HELP a bad \\q escape\n", "invalid escape in HELP"},
    {"NotContiguous", "a 1\nb 1\na{x=\"1\"} 1\n", "line 3: metric a appears again"},
    {"HelpAfterOtherFamily", "a 1\nb 1\n# HELP a late\n", "not contiguous"},
    {"NegativeCounter", "# TYPE c counter\nc -1\n", "negative counter"},
    {"BucketWithoutLe", "# TYPE h histogram\nh_bucket 1\n", "without a valid \"le\""},
    {"BucketBadLe", "# TYPE h histogram\nh_bucket{le=\"x\"} 1\n", "without a valid \"le\""},
    {"ForeignSampleInHistogram", "# TYPE h histogram\nh 1\n", "does not belong to histogram"},
    {"LeOnSum", "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_sum{le=\"1\"} 1\n", "must not carry"},
    {"MissingInf", "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n", "missing +Inf"},
    {"LeNotIncreasing",
     "# TYPE h histogram\nh_bucket{le=\"2\"} 1\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
     "not increasing"},
    {"CountsDecreasing",
     "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
     "decreasing"},
    {"InfDiffersFromCount",
     "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 3\n", "differs from _count"},
    {"MissingCount", "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\n", "missing _count"},
    {"MissingSum", "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_count 2\n", "missing _sum"},
    {"MissingInfInOneSeries",
     "# TYPE h histogram\nh_bucket{a=\"1\",le=\"+Inf\"} 1\nh_sum{a=\"1\"} 1\nh_count{a=\"1\"} 1\n"
     "h_bucket{a=\"2\",le=\"5\"} 1\nh_sum{a=\"2\"} 1\nh_count{a=\"2\"} 1\n",
     "missing +Inf"},
    {"SummaryWithoutQuantile", "# TYPE s summary\ns 1\n", "without a valid \"quantile\""},
    {"SummaryQuantileOutOfRange", "# TYPE s summary\ns{quantile=\"2\"} 1\n", "valid \"quantile\""},
};

INSTANTIATE_TEST_SUITE_P(Table, TextParserRejects, ::testing::ValuesIn(kBadCases),
                         [](const auto& info) { return std::string(info.param.name); });

// Hostile input: byte-level mutations of a valid exposition never crash the
// parser (run under ASan/UBSan), and whatever it still accepts obeys the
// histogram invariants it promises.
TEST(TextParserTest, MutatedInputNeverCrashes) {
  const std::string base =
      "# HELP h Latency.\n# TYPE h histogram\n"
      "h_bucket{m=\"a\\\"b\",le=\"0.1\"} 1\nh_bucket{m=\"a\\\"b\",le=\"+Inf\"} 2\n"
      "h_sum{m=\"a\\\"b\"} 0.3\nh_count{m=\"a\\\"b\"} 2\n"
      "# TYPE c counter\nc{x=\"1\"} 5 123\n# TYPE s summary\ns{quantile=\"0.5\"} 1\ns_sum 1\ns_count 1\n";
  ASSERT_TRUE(ParseText(base).ok) << ParseText(base).error;
  const std::string alphabet = "{}\",=\\\n #+-.eE0123456789abcINFaN_:\t";
  std::string alphabet_with_bytes = alphabet;
  alphabet_with_bytes.push_back('\0');
  alphabet_with_bytes.push_back('\xff');
  std::uint64_t state = 88172645463325252ull;  // xorshift: deterministic
  auto next = [&] {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  };
  int accepted = 0;
  for (int round = 0; round < 8000; ++round) {
    std::string text = base;
    const int edits = 1 + static_cast<int>(next() % 4);
    for (int k = 0; k < edits; ++k) {
      const std::size_t pos = next() % (text.size() + 1);
      const char c = alphabet_with_bytes[next() % alphabet_with_bytes.size()];
      switch (next() % 3) {
        case 0: if (pos < text.size()) text[pos] = c; break;
        case 1: text.insert(text.begin() + static_cast<std::ptrdiff_t>(pos), c); break;
        default: if (pos < text.size()) text.erase(pos, 1 + next() % 8); break;
      }
    }
    ParseResult r = ParseText(text);
    if (!r.ok) {
      EXPECT_EQ(r.error.rfind("line ", 0) == 0 || r.error.rfind("histogram ", 0) == 0, true) << r.error;
      continue;
    }
    ++accepted;
    for (const ParsedFamily& f : r.exposition.families) {
      if (f.type == "counter") {
        for (const ParsedSample& s : f.samples) EXPECT_FALSE(s.value < 0) << text;
      }
    }
  }
  EXPECT_GT(accepted, 0);  // some mutations stay valid (e.g. digits changed)
}

}  // namespace
}  // namespace deviceapi::metrics
