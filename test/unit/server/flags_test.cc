// Command line -> FlagsOutcome: the spellings operators use beyond CLI11's own.
#include "server/flags.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace deviceapi::server {
namespace {

FlagsOutcome Parse(std::vector<std::string> args) {
  args.insert(args.begin(), "device-api-server");
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  return ParseFlags(static_cast<int>(argv.size()), argv.data());
}

TEST(ParseFlags, NameEqualsNothingIsTheEmptyValue) {
  // Go's flag package reads "--metrics-bind-address=" as the empty value, which turns the
  // listener off; it must not be a usage error here.
  auto outcome = Parse({"--metrics-bind-address=", "--health-probe-bind-address=",
                        "--tcp-bind-address="});
  ASSERT_TRUE(outcome.run) << outcome.error;
  EXPECT_FALSE(outcome.config.metrics);
  EXPECT_FALSE(outcome.config.health_probe);
  EXPECT_FALSE(outcome.config.api_tcp);
}

TEST(ParseFlags, EmptyValueStillValidatedWhereEmptyIsWrong) {
  auto outcome = Parse({"--bind-address="});
  EXPECT_FALSE(outcome.run);
  EXPECT_EQ(outcome.exit_code, kExitUsage);
  EXPECT_NE(outcome.error.find("--bind-address"), std::string::npos) << outcome.error;
}

TEST(ParseFlags, ValueWithEqualsSignsIsKept) {
  auto outcome = Parse({"--metrics-bind-address=127.0.0.1:0", "-v=4"});
  ASSERT_TRUE(outcome.run) << outcome.error;
  ASSERT_TRUE(outcome.config.metrics);
  EXPECT_EQ(outcome.config.verbosity, 4);
}

TEST(ParseFlags, LastOfARepeatedFlagWins) {
  auto outcome = Parse({"--metrics-bind-address=127.0.0.1:0", "--metrics-bind-address="});
  ASSERT_TRUE(outcome.run) << outcome.error;
  EXPECT_FALSE(outcome.config.metrics);
}

}  // namespace
}  // namespace deviceapi::server
