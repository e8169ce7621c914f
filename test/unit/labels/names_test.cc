// Name rules (S20) and label keys/values (S10, S19), with the good and bad
// cases of Kubernetes' own validation tests (k8s.io/apimachinery/pkg/util/
// validation), so that what this server stores is what Kubernetes would.
#include "labels/names.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace deviceapi::labels {
namespace {

TEST(Names, Dns1123LabelAsKubernetesS20) {
  for (const std::string& ok : std::vector<std::string>{"a", "ab", "abc", "a1", "a-1", "a--1--2--b", "0", "01", "012", "1a",
                               "1-a", "1--a--b--2"}) {
    EXPECT_TRUE(IsDns1123Label(ok)) << ok;
  }
  EXPECT_TRUE(IsDns1123Label(std::string(63, 'a')));
  for (const std::string& bad : std::vector<std::string>{"", "A", "ABC", "aBc", "A1", "A-1", "1-A", "-", "a-", "-a", "1-", "-1",
                                "_", "a_", "_a", "a_b", "1_", "_1", "1_2", ".", "a.", ".a", "a.b", "1.",
                                ".1", "1.2", " ", "a ", " a", "a b", "1 ", " 1", "1 2"}) {
    EXPECT_FALSE(IsDns1123Label(bad)) << bad;
  }
  EXPECT_FALSE(IsDns1123Label(std::string(64, 'a')));
}

TEST(Names, Dns1123SubdomainAsKubernetesS20) {
  for (const std::string ok :
       {"a", "ab", "abc", "a1", "a-1", "a--1--2--b", "0", "01", "012", "1a", "1-a", "1--a--b--2",
        "a.a", "ab.a", "abc.a", "a1.a", "a-1.a", "a--1--2--b.a", "a.1", "ab.1", "abc.1", "a1.1",
        "a-1.1", "a--1--2--b.1", "0.a", "01.a", "012.a", "1a.a", "1-a.a", "0.1", "01.1", "012.1",
        "1a.1", "1-a.1", "1--a--b--2.1", "a.b.c.d.e", "aa.bb.cc.dd.ee", "1.2.3.4.5",
        "11.22.33.44.55"}) {
    EXPECT_TRUE(IsDns1123Subdomain(ok)) << ok;
  }
  EXPECT_TRUE(IsDns1123Subdomain(std::string(253, 'a')));
  // One part longer than 63: Kubernetes' regex allows it, only 253 bounds.
  EXPECT_TRUE(IsDns1123Subdomain(std::string(100, 'a') + ".com"));
  for (const std::string bad :
       {"", "A", "ABC", "aBc", "A1", "A-1", "1-A", "-", "a-", "-a", "1-", "-1", "_", "a_", "_a",
        "a_b", "1_", "_1", "1_2", ".", "a.", ".a", "a..b", "1.", ".1", "1..2", " ", "a ", " a", "a b",
        "1 ", " 1", "1 2", "A.a", "aB.a", "ab.A", "A1.a", "a1.A", "A.1", "aB.1", "A1.1", "1A.1",
        "0.A", "01.A", "012.A", "1A.a", "1a.A", "A.B.C.D.E", "AA.BB.CC.DD.EE", "a.B.c.d.e",
        "aa.bB.cc.dd.ee", "a@b", "a,b", "a_b", "a;b", "a:b", "a%b", "a?b", "a$b"}) {
    EXPECT_FALSE(IsDns1123Subdomain(bad)) << bad;
  }
  EXPECT_FALSE(IsDns1123Subdomain(std::string(254, 'a')));
}

TEST(Names, QualifiedNameAsKubernetesS10) {
  for (const std::string ok :
       {"simple", "now-with-dashes", "1-starts-with-num", "1234", "simple/simple",
        "now-with-dashes/simple", "now-with-dashes/now-with-dashes", "now.with.dots/simple",
        "now-with.dashes-and.dots/simple", "1-num.2-num/3-num", "1234/5678", "1.2.3.4/5678",
        "Uppercase_Is_OK_123", "example.com/Uppercase_Is_OK_123", "requests.storage-foo"}) {
    EXPECT_TRUE(IsQualifiedName(ok)) << ok;
    EXPECT_EQ(QualifiedNameError(ok), "") << ok;
  }
  EXPECT_TRUE(IsQualifiedName(std::string(63, 'a')));
  EXPECT_TRUE(IsQualifiedName(std::string(253, 'a') + "/" + std::string(63, 'b')));
  for (const std::string& bad : std::vector<std::string>{"nospecialchars%^=@", "cantendwithadash-", "-cantstartwithadash-",
                                "only/one/slash", "Example.com/abc", "example_com/abc", "example.com/",
                                "/simple", ""}) {
    EXPECT_FALSE(IsQualifiedName(bad)) << bad;
    EXPECT_NE(QualifiedNameError(bad), "") << bad;
  }
  EXPECT_FALSE(IsQualifiedName(std::string(64, 'a')));
  EXPECT_FALSE(IsQualifiedName(std::string(254, 'a') + "/abc"));
  EXPECT_NE(QualifiedNameError(std::string(64, 'a')).find("63"), std::string::npos);
  EXPECT_NE(QualifiedNameError("Example.com/abc").find("prefix"), std::string::npos);
}

TEST(Names, LabelValueAsKubernetesS10) {
  for (const std::string& ok : std::vector<std::string>{"simple", "now-with-dashes", "1-starts-with-num", "end-with-num-1", "1234",
                               std::string(63, 'a'), std::string()}) {
    EXPECT_TRUE(IsLabelValue(ok)) << ok;
  }
  for (const std::string& bad : std::vector<std::string>{"nospecialchars%^=@", "Tama-nui-te-r\xc4\x81.is.M\xc4\x81ori.sun",
                                "\\backslashes\\are\\bad", "-starts-with-dash", "ends-with-dash-",
                                ".starts.with.dot", "ends.with.dot.", std::string(64, 'a')}) {
    EXPECT_FALSE(IsLabelValue(bad)) << bad;
    EXPECT_NE(LabelValueError(bad), "") << bad;
  }
}

}  // namespace
}  // namespace deviceapi::labels
