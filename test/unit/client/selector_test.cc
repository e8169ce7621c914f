// Client-side label selectors (S10 syntax, S17 exact matching), including
// hostile input.
#include <gtest/gtest.h>

#include <map>

#include "deviceapi/selector.h"

namespace deviceapi {
namespace {

using Labels = std::map<std::string, std::string>;

bool M(const std::string& sel, const Labels& l) {
  auto s = LabelSelector::Parse(sel);
  EXPECT_TRUE(s.ok()) << sel << ": " << s.status().message();
  return s.ok() && s->Matches(l);
}

// S10
TEST(Selector, Operators) {
  Labels l{{"zone", "a"}, {"tier", "gold"}, {"example.com/owner", "team-1"}};
  EXPECT_TRUE(M("", l));
  EXPECT_TRUE(M("zone=a", l));
  EXPECT_TRUE(M("zone==a", l));
  EXPECT_FALSE(M("zone=b", l));
  EXPECT_TRUE(M("zone!=b", l));
  EXPECT_TRUE(M("missing!=b", l));
  EXPECT_TRUE(M("zone in (a, b)", l));
  EXPECT_FALSE(M("zone notin (a,b)", l));
  EXPECT_TRUE(M("missing notin (a)", l));
  EXPECT_TRUE(M("tier", l));
  EXPECT_FALSE(M("!tier", l));
  EXPECT_TRUE(M("!drained", l));
  EXPECT_TRUE(M("zone=a, tier in (gold,silver), !drained", l));
  EXPECT_TRUE(M("example.com/owner=team-1", l));
  EXPECT_TRUE(M("zone=a,tier=", Labels{{"zone", "a"}, {"tier", ""}}));
  // As in Kubernetes (and the server), an empty slot in a set is the empty value.
  EXPECT_TRUE(M("tier in (a,)", Labels{{"tier", ""}}));
}

// S17: exact matching, no prefixes.
TEST(Selector, ExactValues) {
  EXPECT_FALSE(M("zone=a", Labels{{"zone", "ab"}}));
  EXPECT_FALSE(M("zone in (a)", Labels{{"zone", "ab"}}));
  EXPECT_FALSE(M("zon", Labels{{"zone", "a"}}));
  EXPECT_TRUE(M("inx", Labels{{"inx", "1"}}));  // a key, not the keyword
}

TEST(Selector, RejectsMalformed) {
  for (const char* bad : {"=a", "zone=a,", ",", "zone in a", "zone in (a",
                          "zone ~ a", "zone=a b", "-zone", "zone=-a", "a/b/c=1", "!",
                          "k=v/x", "zone in (a) extra", "Example.COM/zone=a", "a_b.com/x"}) {
    auto s = LabelSelector::Parse(bad);
    EXPECT_FALSE(s.ok()) << "accepted: " << bad;
    if (!s.ok()) {
      EXPECT_TRUE(s.status().IsInvalid());
      EXPECT_NE(s.status().message().find("invalid label selector"), std::string::npos);
    }
  }
  std::string huge(10000, 'a');
  EXPECT_FALSE(LabelSelector::Parse("k=" + huge).ok());
  EXPECT_FALSE(LabelSelector::Parse(huge).ok());
}

}  // namespace
}  // namespace deviceapi
