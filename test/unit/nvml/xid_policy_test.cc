#include "nvml/xid_policy.h"

#include <gtest/gtest.h>

namespace deviceapi::nvml {
namespace {

TEST(XidPolicy, EveryCatalogRowHasAVerdict) {
  XidPolicy p;
  for (auto& e : XidCatalog::Builtin().entries()) {
    auto v = p.Classify(e.xid);
    EXPECT_FALSE(v.reason.empty()) << e.xid;
    EXPECT_EQ(v.mnemonic, e.mnemonic);
    if (v.severity == Severity::kIgnore) {
      EXPECT_TRUE(v.recommended_action.empty()) << e.xid;
    }
    if (v.severity == Severity::kFatal) {
      EXPECT_FALSE(v.recommended_action.empty()) << e.xid;
    }
  }
}

TEST(XidPolicy, ClassesFollowTheImmediateAction) {
  XidPolicy p;
  EXPECT_EQ(p.Classify(63).severity, Severity::kIgnore);            // IGNORE
  EXPECT_EQ(p.Classify(8).severity, Severity::kWarning);            // RESTART_APP
  EXPECT_EQ(p.Classify(8).recommended_action, "RESTART_APP");
  EXPECT_EQ(p.Classify(95).severity, Severity::kFatal);             // RESET_GPU
  EXPECT_EQ(p.Classify(95).recommended_action, "RESET_GPU");
  EXPECT_EQ(p.Classify(48).severity, Severity::kFatal);             // WORKFLOW_XID_48
  EXPECT_EQ(p.Classify(48).recommended_action, "RESET_GPU");
  EXPECT_EQ(p.Classify(74).severity, Severity::kFatal);             // WORKFLOW_NVLINK_ERR
  EXPECT_EQ(p.Classify(154).severity, Severity::kFollowRecoveryAction);
  EXPECT_EQ(p.Classify(1).severity, Severity::kFatal);              // CONTACT_SUPPORT (unused)
  EXPECT_EQ(p.Classify(170).reason, "UnknownXid");                  // no action in the catalog
}

TEST(XidPolicy, Xid79IsGpuLost) {
  auto v = XidPolicy().Classify(79);
  EXPECT_EQ(v.severity, Severity::kFatal);
  EXPECT_EQ(v.reason, "GPULost");
  EXPECT_EQ(v.recommended_action, "RESTART_BM");
}

TEST(XidPolicy, UnknownXidIsFatal) {
  for (uint32_t x : {0u, 173u, 185u, 999u, 0xFFFFFFFFu}) {
    auto v = XidPolicy().Classify(x);
    EXPECT_EQ(v.severity, Severity::kFatal) << x;
    EXPECT_EQ(v.reason, "UnknownXid");
    EXPECT_EQ(v.mnemonic, "UNKNOWN");
  }
}

TEST(XidPolicy, KubernetesDefaultIgnoresButNot109) {
  XidPolicy p;
  for (uint32_t x : {13u, 31u, 43u, 45u, 68u}) EXPECT_EQ(p.Classify(x).severity, Severity::kIgnore) << x;
  EXPECT_EQ(p.Classify(109).severity, Severity::kFatal);  // the catalog says RESET_GPU
}

TEST(XidPolicy, IgnoreAndFatalFlags) {
  XidPolicyConfig c;
  c.ignore = {95};
  c.fatal = {13, 8};
  XidPolicy p(c);
  EXPECT_EQ(p.Classify(95).severity, Severity::kIgnore);
  EXPECT_EQ(p.Classify(13).severity, Severity::kFatal);
  EXPECT_EQ(p.Classify(8).severity, Severity::kFatal);
  EXPECT_EQ(p.Classify(8).recommended_action, "RESET_GPU");
}

TEST(XidPolicy, ParseXidList) {
  std::set<uint32_t> s;
  std::string err;
  EXPECT_TRUE(XidPolicyConfig::ParseXidList(" 13, 31,,43 ", &s, &err));
  EXPECT_EQ(s, (std::set<uint32_t>{13, 31, 43}));
  EXPECT_FALSE(XidPolicyConfig::ParseXidList("13,abc", &s, &err));
  EXPECT_NE(err.find("abc"), std::string::npos);
  EXPECT_FALSE(XidPolicyConfig::ParseXidList("-1", &s, &err));
  EXPECT_FALSE(XidPolicyConfig::ParseXidList("99999999999", &s, &err));
}

// Same meaning as NVIDIA's k8s-device-plugin.
// Xid 154 carries the driver's recovery action, which DP_DISABLE_HEALTHCHECKS=all does not
// silence (it turns Xid checks off, not recovery-action signals); naming 154 itself still does.
TEST(XidPolicy, IgnoreAllKeepsTheRecoveryActionXid) {
  std::vector<std::string> err;
  for (const char* disable : {"all", "xids"}) {
    XidPolicyConfig c;
    c.ApplyDevicePluginEnv(disable, "", &err);
    XidPolicy p(c);
    EXPECT_EQ(p.Classify(154).severity, Severity::kFollowRecoveryAction) << disable;
    EXPECT_EQ(p.Classify(95).severity, Severity::kIgnore) << disable;
  }
  XidPolicyConfig c;
  c.ApplyDevicePluginEnv("154", "", &err);
  EXPECT_EQ(XidPolicy(c).Classify(154).severity, Severity::kIgnore);
}

TEST(XidPolicy, DevicePluginEnvironment) {
  std::vector<std::string> err;
  {
    XidPolicyConfig c;
    c.ApplyDevicePluginEnv("all", "", &err);
    XidPolicy p(c);
    EXPECT_EQ(p.Classify(95).severity, Severity::kIgnore);
    EXPECT_EQ(p.Classify(79).severity, Severity::kIgnore);
  }
  {
    XidPolicyConfig c;
    c.ApplyDevicePluginEnv("xids", "48", &err);
    XidPolicy p(c);
    EXPECT_EQ(p.Classify(95).severity, Severity::kIgnore);
    EXPECT_EQ(p.Classify(48).severity, Severity::kFatal);
  }
  {
    XidPolicyConfig c;
    c.ApplyDevicePluginEnv("11,95", "95", &err);  // enable overrides disable
    XidPolicy p(c);
    EXPECT_EQ(p.Classify(11).severity, Severity::kIgnore);
    EXPECT_EQ(p.Classify(95).severity, Severity::kFatal);
    EXPECT_EQ(p.Classify(13).severity, Severity::kIgnore);
  }
  {
    XidPolicyConfig c;
    c.ApplyDevicePluginEnv("", "all", &err);  // nothing ignored, not even defaults
    XidPolicy p(c);
    EXPECT_NE(p.Classify(13).severity, Severity::kIgnore);
    EXPECT_NE(p.Classify(63).severity, Severity::kIgnore);
  }
  {
    XidPolicyConfig c;
    c.ApplyDevicePluginEnv("", "13", &err);  // enabled = marks unhealthy
    EXPECT_EQ(XidPolicy(c).Classify(13).severity, Severity::kFatal);
  }
  EXPECT_TRUE(err.empty());
  // As the plugin reads them: any case, "all"/"xids" as one token of a list, and a token that
  // is not an Xid skipped (and named) instead of stopping the provider.
  {
    XidPolicyConfig c;
    c.ApplyDevicePluginEnv("ALL", "", &err);
    EXPECT_EQ(XidPolicy(c).Classify(95).severity, Severity::kIgnore);
  }
  {
    XidPolicyConfig c;
    c.ApplyDevicePluginEnv("13, Xids", "", &err);
    EXPECT_EQ(XidPolicy(c).Classify(79).severity, Severity::kIgnore);
  }
  {
    XidPolicyConfig c;
    c.ApplyDevicePluginEnv("", "xids", &err);
    EXPECT_NE(XidPolicy(c).Classify(13).severity, Severity::kIgnore);
  }
  EXPECT_TRUE(err.empty());
  XidPolicyConfig bad;
  bad.ApplyDevicePluginEnv("13,x", "1;2,95", &err);
  ASSERT_EQ(err.size(), 2u);
  EXPECT_NE(err[0].find("DP_DISABLE_HEALTHCHECKS: skipped 'x'"), std::string::npos) << err[0];
  EXPECT_NE(err[1].find("DP_ENABLE_HEALTHCHECKS: skipped '1;2'"), std::string::npos) << err[1];
  XidPolicy p(bad);
  EXPECT_EQ(p.Classify(13).severity, Severity::kIgnore);
  EXPECT_EQ(p.Classify(95).severity, Severity::kFatal);
}

TEST(XidPolicy, ActionRankOrdersWorstLast) {
  EXPECT_LT(ActionRank(""), ActionRank("RESTART_APP"));
  EXPECT_LT(ActionRank("RESTART_APP"), ActionRank("RESET_GPU"));
  EXPECT_LT(ActionRank("RESET_GPU"), ActionRank("RESTART_VM"));
  EXPECT_LT(ActionRank("RESTART_VM"), ActionRank("RESTART_BM"));
}

}  // namespace
}  // namespace deviceapi::nvml
