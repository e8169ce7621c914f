#include "base/units.h"

#include <gtest/gtest.h>

namespace deviceapi::base {
namespace {

using std::chrono::milliseconds;

TEST(ParseDuration, GoStyle) {
  EXPECT_EQ(ParseDuration("25s"), milliseconds(25000));
  EXPECT_EQ(ParseDuration("500ms"), milliseconds(500));
  EXPECT_EQ(ParseDuration("1m"), milliseconds(60000));
  EXPECT_EQ(ParseDuration("1m30s"), milliseconds(90000));
  EXPECT_EQ(ParseDuration("1h2m3.5s"), milliseconds(3723500));
  EXPECT_EQ(ParseDuration("1.5s"), milliseconds(1500));
  EXPECT_EQ(ParseDuration("0"), milliseconds(0));
  EXPECT_EQ(ParseDuration("0s"), milliseconds(0));
  EXPECT_EQ(ParseDuration("2500us"), milliseconds(2));
  EXPECT_EQ(ParseDuration("3000000ns"), milliseconds(3));
}

TEST(ParseDuration, RejectsHostileInput) {
  for (const char* bad : {"", "25", "s", "-5s", "+5s", "5 s", "5sec", "1..5s", ".s", "5s5", "1d",
                          "99999999999999999999h", "1e9s", "25S", "\xff", "5s\n"}) {
    EXPECT_FALSE(ParseDuration(bad).has_value()) << bad;
  }
}

TEST(ParseSize, UnitsAndPlainBytes) {
  EXPECT_EQ(ParseSize("1048576"), 1048576u);
  EXPECT_EQ(ParseSize("4Mi"), 4u << 20);
  EXPECT_EQ(ParseSize("16MiB"), 16u << 20);
  EXPECT_EQ(ParseSize("512Ki"), 512u << 10);
  EXPECT_EQ(ParseSize("1Gi"), 1u << 30);
  EXPECT_EQ(ParseSize("4M"), 4000000u);
  EXPECT_EQ(ParseSize("2k"), 2000u);
  EXPECT_EQ(ParseSize("1.5Ki"), 1536u);
  EXPECT_EQ(ParseSize("0"), 0u);
}

TEST(ParseSize, RejectsHostileInput) {
  for (const char* bad : {"", "-1", "4Zi", "4 Mi", "Mi", "0.5", "1.1Ki", "99999999999999999999",
                          "100000000000Gi", "4mi", "0x10"}) {
    EXPECT_FALSE(ParseSize(bad).has_value()) << bad;
  }
}

TEST(FormatDuration, RoundTrips) {
  for (const char* text : {"25s", "500ms", "1m", "1m30s", "1h2m3.5s", "0s", "2h"}) {
    auto d = ParseDuration(text);
    ASSERT_TRUE(d) << text;
    EXPECT_EQ(FormatDuration(*d), text);
  }
}

}  // namespace
}  // namespace deviceapi::base
