// S32/S33 on the admin HTTP port of the real server binary: while slowloris
// clients, a flood of idle connections or clients pipelining /metrics without
// reading are at work, every /healthz probe is answered within 1 s, and the
// process stays well inside its memory limit.
#include <gtest/gtest.h>

#include "admin_attack.h"
#include "test_support.h"

namespace deviceapi::testing {
namespace {

class AdminAttack : public ::testing::TestWithParam<AttackCase> {};

TEST_P(AdminAttack, HealthzAnsweredDuringAttackS32) {
  TempDir dir;
  auto s = StartServer(dir.File("api.sock"));
  ASSERT_TRUE(s) << s.process->Stderr();
  // A registry with some series, so that /metrics answers are not trivial.
  for (int i = 0; i < 8; ++i) ASSERT_TRUE(CreateGpu(UnixChannel(s.socket), "gpu-" + std::to_string(i), i).ok());

  ProbeResult probes;
  {
    Attack attack(GetParam().kind, s.metrics_port, GetParam().connections);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));  // let it take hold
    probes = ProbeHealthz(s.metrics_port, std::chrono::seconds(4));
  }
  const std::size_t rss = PeakRssBytes(s.process->pid());
  PrintProbeSummary(GetParam().name, probes, rss);
  EXPECT_LE(probes.sent - probes.answered, GetParam().misses_allowed)
      << "every probe answered within 1 s (admin_attack.h says which attack may miss one)";
  EXPECT_LT(rss, 256u << 20);
  // And the port is still fine afterwards.
  EXPECT_EQ(HttpGet(s.metrics_port, "/healthz"), 200);
}

INSTANTIATE_TEST_SUITE_P(Attacks, AdminAttack, ::testing::ValuesIn(kAttackCases),
                         [](const auto& info) { return AttackCaseName(info.param); });

}  // namespace
}  // namespace deviceapi::testing
