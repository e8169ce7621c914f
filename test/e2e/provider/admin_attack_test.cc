// S32/S33 on nvml-provider's admin port (the real binaries, fake NVML): the
// same hostile clients as against the server's, the same promise — every
// /healthz probe answered within 1 s, memory well bounded.
#include <gtest/gtest.h>

#include "admin_attack.h"
#include "harness.h"

namespace e2e {
namespace {

using deviceapi::testing::Attack;
using deviceapi::testing::AttackCase;
using deviceapi::testing::AttackCaseName;
using deviceapi::testing::kAttackCases;
using deviceapi::testing::PeakRssBytes;
using deviceapi::testing::PrintProbeSummary;
using deviceapi::testing::ProbeHealthz;
using deviceapi::testing::ProbeResult;

class ProviderAdminAttack : public ::testing::TestWithParam<AttackCase> {};

TEST_P(ProviderAdminAttack, HealthzAnsweredDuringAttackS32) {
  Env env(std::string("attack-") + GetParam().name);
  env.StartServer();
  env.StartProvider();
  const int port = env.AdminPort();
  ASSERT_GT(port, 0) << env.ProviderLog();
  ProbeResult probes;
  {
    Attack attack(GetParam().kind, port, GetParam().connections);
    std::this_thread::sleep_for(500ms);
    probes = ProbeHealthz(port, 4s);
  }
  const auto rss = PeakRssBytes(env.provider()->pid());
  PrintProbeSummary(GetParam().name, probes, rss);
  EXPECT_LE(probes.sent - probes.answered, GetParam().misses_allowed)
      << "every probe answered within 1 s (admin_attack.h says which attack may miss one)";
  EXPECT_LT(rss, 256u << 20);
}

INSTANTIATE_TEST_SUITE_P(Attacks, ProviderAdminAttack, ::testing::ValuesIn(kAttackCases),
                         [](const auto& info) { return AttackCaseName(info.param); });

}  // namespace
}  // namespace e2e
