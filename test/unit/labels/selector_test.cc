// S10, S17: the label selector language of Kubernetes' labels.Parse, from the
// cases of apimachinery's own selector tests, plus hostile input and the
// bounds untrusted clients are held to (S33).
#include "labels/selector.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

namespace deviceapi::labels {
namespace {

using Set = std::map<std::string, std::string>;

bool Match(const std::string& selector, const Set& labels) {
  ParsedSelector s = Selector::Parse(selector);
  EXPECT_TRUE(s.ok()) << selector << ": " << s.error();
  return s.ok() && s->Matches(labels);
}

// Kubernetes' TestSelectorParse: good strings round-trip through ToString
// with their spaces removed; bad strings are refused.
TEST(Selector, ParsesAsKubernetesS10) {
  for (const std::string& good : std::vector<std::string>{"x=a,y=b,z=c", "", "x!=a,y=b", "x=", "x= ", "x=,z= ", "x= ,z= ", "!x",
                                 "x>1", "x>1,z<5"}) {
    ParsedSelector s = Selector::Parse(good);
    ASSERT_TRUE(s.ok()) << good << ": " << s.error();
    std::string compact = good;
    compact.erase(std::remove(compact.begin(), compact.end(), ' '), compact.end());
    EXPECT_EQ(s->ToString(), compact);
  }
  for (const std::string& bad : std::vector<std::string>{"x=a||y=b", "x==a==b", "!x=a", "x<a"}) {
    EXPECT_FALSE(Selector::Parse(bad).ok()) << bad;
  }
  // TestDeterministicParse: requirements come out in key order.
  EXPECT_EQ(Selector::Parse("x=a,a=x")->ToString(), Selector::Parse("a=x,x=a")->ToString());
}

// Kubernetes' TestSelectorMatches and TestRequirementSelectorMatching.
TEST(Selector, MatchesAsKubernetesS10) {
  EXPECT_TRUE(Match("", {{"x", "y"}}));
  EXPECT_TRUE(Match("x=y", {{"x", "y"}}));
  EXPECT_TRUE(Match("x=y,z=w", {{"x", "y"}, {"z", "w"}}));
  EXPECT_TRUE(Match("x!=y,z!=w", {{"x", "z"}, {"z", "a"}}));
  EXPECT_TRUE(Match("notin=in", {{"notin", "in"}}));  // in and notin as key and value
  EXPECT_TRUE(Match("x", {{"x", "z"}}));
  EXPECT_TRUE(Match("!x", {{"y", "z"}}));
  EXPECT_TRUE(Match("x>1", {{"x", "2"}}));
  EXPECT_TRUE(Match("x<1", {{"x", "0"}}));
  EXPECT_FALSE(Match("x=z", {}));
  EXPECT_FALSE(Match("x=y", {{"x", "z"}}));
  EXPECT_FALSE(Match("x=y,z=w", {{"x", "w"}, {"z", "w"}}));
  EXPECT_FALSE(Match("x!=y,z!=w", {{"x", "z"}, {"z", "w"}}));
  EXPECT_FALSE(Match("x", {{"y", "z"}}));
  EXPECT_FALSE(Match("!x", {{"x", "z"}}));
  EXPECT_FALSE(Match("x>1", {{"x", "0"}}));
  EXPECT_FALSE(Match("x<1", {{"x", "2"}}));
  const Set labelset{{"foo", "bar"}, {"baz", "blah"}};
  EXPECT_TRUE(Match("foo=bar", labelset));
  EXPECT_TRUE(Match("baz=blah", labelset));
  EXPECT_TRUE(Match("foo=bar,baz=blah", labelset));
  EXPECT_FALSE(Match("foo=blah", labelset));
  EXPECT_FALSE(Match("baz=bar", labelset));
  EXPECT_FALSE(Match("foo=bar,foobar=bar,baz=blah", labelset));

  EXPECT_TRUE(Match("x in (foo),y notin (alpha)", {{"x", "foo"}, {"y", "baz"}}));
  EXPECT_FALSE(Match("x in (foo),y in (alpha)", {{"x", "foo"}, {"y", "baz"}}));
  EXPECT_TRUE(Match("x notin (),y", {{"y", ""}}));
  EXPECT_TRUE(Match("!x,y", {{"y", ""}}));
  EXPECT_FALSE(Match("x notin (),!y", {{"y", ""}}));
  EXPECT_FALSE(Match("x in ()", {{"y", "baz"}}));
  EXPECT_TRUE(Match("z>1", {{"z", "2"}}));
  EXPECT_FALSE(Match("z>1", {{"z", "v2"}}));  // not an integer: matches neither > nor <
  EXPECT_FALSE(Match("z<1", {{"z", "v2"}}));
  EXPECT_FALSE(Match("z>1", {}));
}

// S17: exact matching, no prefixes.
TEST(Selector, MatchesValuesAndKeysExactlyS17) {
  EXPECT_FALSE(Match("zone=a", {{"zone", "ab"}}));
  EXPECT_FALSE(Match("zone in (a)", {{"zone", "ab"}}));
  EXPECT_FALSE(Match("zon", {{"zone", "a"}}));
  EXPECT_TRUE(Match("inx", {{"inx", "1"}}));  // a key, not the keyword
  EXPECT_TRUE(Match("zone notin (a)", {{"zone", "ab"}}));
  EXPECT_TRUE(Match("missing!=x", {}));  // != and notin match objects without the key
  EXPECT_TRUE(Match("missing notin (x)", {}));
}

struct ParserCase {
  std::string in;
  std::string canonical;  // ToString() when valid
  bool valid;
};

// Kubernetes' TestSetSelectorParser, each valid case with its parsed form.
TEST(Selector, SetBasedSyntaxAsKubernetesS10) {
  const std::vector<ParserCase> cases = {
      {"", "", true},
      {"\rx", "x", true},
      {"this-is-a-dns.domain.com/key-with-dash", "this-is-a-dns.domain.com/key-with-dash", true},
      {"this-is-another-dns.domain.com/key-with-dash in (so,what)",
       "this-is-another-dns.domain.com/key-with-dash in (so,what)", true},
      {"0.1.2.domain/99 notin (10.10.100.1, tick.tack.clock)",
       "0.1.2.domain/99 notin (10.10.100.1,tick.tack.clock)", true},
      {"foo  in\t (abc)", "foo in (abc)", true},
      {"x notin\n (abc)", "x notin (abc)", true},
      {"x  notin\t\t\t(abc,def)", "x notin (abc,def)", true},
      {"x in (abc,def)", "x in (abc,def)", true},
      {"x in (abc,)", "x in (,abc)", true},
      {"x in ()", "x in ()", true},
      {"x notin (abc,,def),bar,z in (),w", "bar,w,x notin (,abc,def),z in ()", true},
      {"x,y in (a)", "x,y in (a)", true},
      {"x=a", "x=a", true},
      {"x>1", "x>1", true},
      {"x<7", "x<7", true},
      {"x=a,y!=b", "x=a,y!=b", true},
      {"x=a,y!=b,z in (h,i,j)", "x=a,y!=b,z in (h,i,j)", true},
      {"x=a||y=b", "", false},
      {"x,,y", "", false},
      {",x,y", "", false},
      {"x nott in (y)", "", false},
      {"x notin ( )", "x notin ()", true},
      {"x notin (, a)", "x notin (,a)", true},
      {"a in (xyz),", "", false},
      {"a in (xyz)b notin ()", "", false},
      {"a ", "a", true},
      {"a in (x,y,notin, z,in)", "a in (in,notin,x,y,z)", true},  // in/notin as values
      {"a in (xyz abc)", "", false},                              // no comma
      {"a notin(", "", false},
      {"a (", "", false},
      {"(", "", false},
  };
  for (const ParserCase& c : cases) {
    ParsedSelector s = Selector::Parse(c.in);
    EXPECT_EQ(s.ok(), c.valid) << c.in << ": " << s.error();
    if (s.ok() && c.valid) {
      EXPECT_EQ(s->ToString(), c.canonical) << c.in;
    }
  }
}

// The parsed form: requirements by key, values sorted and unique.
TEST(Selector, RequirementsInKeyOrderS10) {
  ParsedSelector s = Selector::Parse("f,b!=2,!g,a=1,c in (y,x,y),d notin (z),e==3,h>4,i<5");
  ASSERT_TRUE(s.ok()) << s.error();
  const auto r = s->requirements();
  ASSERT_EQ(r.size(), 9u);
  EXPECT_EQ(r[0].key, "a");
  EXPECT_EQ(r[0].op, Operator::kEquals);
  EXPECT_EQ(r[1].op, Operator::kNotEquals);
  EXPECT_EQ(r[2].op, Operator::kIn);
  EXPECT_EQ(r[2].values, (std::vector<std::string_view>{"x", "y"}));
  EXPECT_EQ(r[3].op, Operator::kNotIn);
  EXPECT_EQ(r[4].op, Operator::kDoubleEquals);
  EXPECT_EQ(r[5].op, Operator::kExists);
  EXPECT_EQ(r[6].op, Operator::kDoesNotExist);
  EXPECT_EQ(r[6].key, "g");
  EXPECT_EQ(r[7].op, Operator::kGreaterThan);
  EXPECT_EQ(r[8].op, Operator::kLessThan);
  EXPECT_TRUE(Selector().Empty());
  EXPECT_TRUE(Selector().Matches(Set{}));
}

// Keys and values follow labels/names.h: exactly what validation stores.
TEST(Selector, KeysAndValuesAsValidationS10) {
  // A prefix part longer than 63 is a valid subdomain, so a valid label key
  // that a selector must be able to name.
  const std::string long_prefix = std::string(64, 'a') + ".example.com/zone";
  EXPECT_TRUE(Match(long_prefix + "=a", {{long_prefix, "a"}}));
  EXPECT_TRUE(Selector::Parse(std::string(253, 'p') + "/" + std::string(63, 'n')).ok());
  EXPECT_TRUE(Selector::Parse("a=" + std::string(63, 'x')).ok());
  EXPECT_TRUE(Selector::Parse("A_b.c-D=X_y.z-1").ok());
  for (const std::string& bad : std::vector<std::string>{"Example.COM/zone=a", "a_b.com/x", "example..com/a=b", "/a=b",
                                "example.com/=b", "a/b/c=d", "-a=b", "a-=b", "a=-b", "a=b-", "x>-1",
                                "x>+1", "x>99999999999999999999", "a=" + std::string(64, 'x'),
                                std::string(64, 'k') + "=v", std::string(254, 'p') + "/n"}) {
    ParsedSelector s = Selector::Parse(bad);
    EXPECT_FALSE(s.ok()) << "accepted: " << bad;
    EXPECT_NE(s.error().find("invalid label selector"), std::string::npos) << bad;
  }
}

// Hostile input: refused with a message, never a crash, and a message that
// never echoes a huge selector back.
TEST(Selector, RefusesMalformedInputBrieflyS10) {
  for (const std::string& bad : std::vector<std::string>{",", "a=b,", ",a=b", "a=b,,c=d", "=b", "!=b", "a=b=c", "a in", "a in (",
                                "a in (b", "a in (b c)", "a in b", "a (b)", "a b", "!", "!!a", "a=b c",
                                "a=(b)", "a in (b,c))", "a=b)", "a=\xff", std::string("a\0b", 3),
                                std::string("a \0", 3), "a>", "a<=1", "a>=1", "a===b"}) {
    ParsedSelector s = Selector::Parse(bad);
    EXPECT_FALSE(s.ok()) << "accepted: " << bad;
  }
  const std::string huge = "k=" + std::string(1 << 20, 'v');
  ParsedSelector s = Selector::Parse(huge);
  ASSERT_FALSE(s.ok());
  EXPECT_LT(s.error().size(), 512u);
}

TEST(Selector, IntegerComparisonsAsGoParseIntS10) {
  EXPECT_EQ(ParseInt64("0"), 0);
  EXPECT_EQ(ParseInt64("-9223372036854775808"), INT64_MIN);
  EXPECT_EQ(ParseInt64("9223372036854775807"), INT64_MAX);
  EXPECT_EQ(ParseInt64("+7"), 7);
  EXPECT_EQ(ParseInt64("007"), 7);
  for (const char* bad : {"", "-", "+", "9223372036854775808", "-9223372036854775809", "1a", " 1", "1_0"}) {
    EXPECT_FALSE(ParseInt64(bad).has_value()) << bad;
  }
  EXPECT_TRUE(Match("x>9", {{"x", "10"}}));  // numeric, not lexical
  EXPECT_TRUE(Match("x<10", {{"x", "09"}}));
}

// S33: the bounds for untrusted selectors name the limit.
TEST(Selector, LimitsBoundTextAndRequirementsS33) {
  const SelectorLimits limits{64, 3};
  EXPECT_TRUE(Selector::Parse("a,b,c", limits).ok());
  ParsedSelector many = Selector::Parse("a,b,c,d", limits);
  ASSERT_FALSE(many.ok());
  EXPECT_NE(many.error().find("too many requirements"), std::string::npos) << many.error();
  EXPECT_NE(many.error().find("3"), std::string::npos) << many.error();
  ParsedSelector longer = Selector::Parse("k in (" + std::string(60, 'v') + ")", limits);
  ASSERT_FALSE(longer.ok());
  EXPECT_NE(longer.error().find("the limit is 64"), std::string::npos) << longer.error();
  EXPECT_TRUE(Selector::Parse(std::string(64, ' '), limits).ok());
}

// S33: the parsed form is compact: about the text, not a string per value.
TEST(Selector, ParsedFormIsCompactS33) {
  std::string text = "k in (";
  for (int i = 0; i < 1000; ++i) text += (i ? "," : "") + std::to_string(i);
  text += ")";
  ParsedSelector s = Selector::Parse(text);
  ASSERT_TRUE(s.ok()) << s.error();
  EXPECT_LE(s->MemoryUsage(), text.size() + 1000 * 8 + 256);
  EXPECT_TRUE(s->Matches(Set{{"k", "999"}}));
  EXPECT_FALSE(s->Matches(Set{{"k", "1000"}}));
}

}  // namespace
}  // namespace deviceapi::labels
