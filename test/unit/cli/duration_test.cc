// --request-timeout's durations: Go syntax or bare seconds, as kubectl reads them.
#include <gtest/gtest.h>

#include "cli/duration.h"

namespace deviceapi::cli {
namespace {

using namespace std::chrono_literals;

TEST(ParseDuration, GoSyntaxAndBareSeconds) {
  EXPECT_EQ(ParseDuration("30s"), 30s);
  EXPECT_EQ(ParseDuration("30"), 30s);
  EXPECT_EQ(ParseDuration("0"), 0s);
  EXPECT_EQ(ParseDuration("2m"), 120s);
  EXPECT_EQ(ParseDuration("1h"), 3600s);
  EXPECT_EQ(ParseDuration("1m30s"), 90s);
  EXPECT_EQ(ParseDuration("1.5s"), 1500ms);
  EXPECT_EQ(ParseDuration("250ms"), 250ms);
  EXPECT_EQ(ParseDuration("10us"), 10us);
  EXPECT_EQ(ParseDuration("7ns"), 7ns);
  EXPECT_EQ(ParseDuration("1h2m3s4ms"), 1h + 2min + 3s + 4ms);
}

TEST(ParseDuration, RefusesEverythingElse) {
  for (const char* bad : {"", "s", "-1s", "10x", "1.s.", ".s", "1 s", "s1", "1m-5s",
                          "99999999999999h", "1e3s", "10000000000"}) {
    EXPECT_FALSE(ParseDuration(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace deviceapi::cli
