// S10: Kubernetes label selector syntax, matching and validation.
#include "store/selector.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace deviceapi::store {
namespace {

struct MatchCase {
  const char* selector;
  Labels labels;
  bool matches;
};

// S10
TEST(LabelSelector, S10_MatchesKubernetesOperators) {
  const Labels gpu{{"model", "h100"}, {"zone", "a"}, {"example.com/pool", "train"}};
  const std::vector<MatchCase> cases = {
      {"", gpu, true},
      {"   ", gpu, true},
      {"model=h100", gpu, true},
      {"model==h100", gpu, true},
      {"model=a100", gpu, false},
      {"model!=a100", gpu, true},
      {"model!=h100", gpu, false},
      {"missing!=x", gpu, true},  // != matches objects without the key, as in Kubernetes
      {"model in (a100,h100)", gpu, true},
      {"model in (a100)", gpu, false},
      {"missing in (x)", gpu, false},
      {"model notin (a100)", gpu, true},
      {"model notin (a100, h100)", gpu, false},
      {"missing notin (x)", gpu, true},
      {"model", gpu, true},
      {"missing", gpu, false},
      {"!missing", gpu, true},
      {"!model", gpu, false},
      {"model=h100,zone=a", gpu, true},
      {"model=h100,zone=b", gpu, false},
      {" model = h100 , zone in ( a , b ) , !missing ", gpu, true},
      {"example.com/pool=train", gpu, true},
      {"example.com/pool=infer", gpu, false},
      {"empty=", Labels{{"empty", ""}}, true},
      {"empty=", gpu, false},
      {"zone in (a,)", Labels{{"zone", ""}}, true},
  };
  for (const auto& c : cases) {
    auto sel = LabelSelector::Parse(c.selector);
    ASSERT_TRUE(sel.ok()) << c.selector << ": " << sel.error().message;
    EXPECT_EQ(sel->Matches(c.labels), c.matches) << c.selector;
  }
}

// S10
TEST(LabelSelector, S10_ParsesRequirementsStructurally) {
  auto sel = LabelSelector::Parse("a=1,b!=2,c in (x,y),d notin (z),e,!f");
  ASSERT_TRUE(sel.ok()) << sel.error().message;
  const auto& r = sel->requirements();
  ASSERT_EQ(r.size(), 6u);
  EXPECT_EQ(r[0].op, LabelSelector::Op::kEquals);
  EXPECT_EQ(r[1].op, LabelSelector::Op::kNotEquals);
  EXPECT_EQ(r[2].op, LabelSelector::Op::kIn);
  EXPECT_EQ(r[2].values, (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(r[3].op, LabelSelector::Op::kNotIn);
  EXPECT_EQ(r[4].op, LabelSelector::Op::kExists);
  EXPECT_EQ(r[5].op, LabelSelector::Op::kDoesNotExist);
  EXPECT_EQ(r[5].key, "f");
  EXPECT_TRUE(LabelSelector().Empty());
  EXPECT_TRUE(LabelSelector().Matches({}));
}

// S10: malformed selectors are refused with kInvalid and a message, never a crash.
TEST(LabelSelector, S10_RejectsMalformedSelectors) {
  const std::vector<std::string> bad = {
      ",",
      "a=b,",
      ",a=b",
      "a=b,,c=d",
      "=b",
      "!=b",
      "a=b=c",
      "a==",  // fine in k8s? "a==" is key a, op ==, empty value: allowed; checked below
      "a in",
      "a in (",
      "a in (b",
      "a in (b c)",
      "a in ()",
      "a notin ()",
      "a in b",
      "a (b)",
      "a b",
      "!a=b",
      "!",
      "!!a",
      "a>1",
      "a<1",
      "-a=b",
      "a-=b",
      "a=-b",
      "a=b-",
      "a=" + std::string(64, 'x'),
      std::string(64, 'k') + "=v",
      "Example.com/a=b",
      "example..com/a=b",
      "/a=b",
      "example.com/=b",
      "a/b/c=d",
      "a=b c",
      "a=(b)",
      "a in (b,c))",
      "a=b)",
      "a=\xff",
  };
  for (const auto& text : bad) {
    if (text == "a==") continue;
    auto sel = LabelSelector::Parse(text);
    EXPECT_FALSE(sel.ok()) << "accepted: " << text;
    if (!sel.ok()) {
      EXPECT_EQ(sel.error().code, ErrorCode::kInvalid) << text;
      EXPECT_NE(sel.error().message.find("invalid label selector"), std::string::npos) << text;
    }
  }
  // Boundaries that are valid.
  for (const std::string& ok : {std::string("a=") + std::string(63, 'x'), std::string(63, 'k') + "=v", std::string("a=="),
                               std::string("A_b.c-D=X_y.z-1"), std::string("a.b-c/D=1")}) {
    auto sel = LabelSelector::Parse(ok);
    EXPECT_TRUE(sel.ok()) << ok << ": " << (sel.ok() ? "" : sel.error().message);
  }
}

}  // namespace
}  // namespace deviceapi::store
