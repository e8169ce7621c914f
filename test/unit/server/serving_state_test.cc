// What the health service answers: SERVING only between readiness and
// shutdown, and never again once shutdown began (S22).
#include <gtest/gtest.h>

#include "server/health_service.h"

namespace deviceapi::server {
namespace {

TEST(ServingState, FollowsReadinessUntilShutdownS22) {
  ServingState state({"svc"});
  EXPECT_FALSE(state.serving());
  state.SetServing(true);
  EXPECT_TRUE(state.serving());
  state.SetServing(false);
  EXPECT_FALSE(state.serving());
  state.SetServing(true);
  state.Shutdown();
  EXPECT_FALSE(state.serving());
  state.SetServing(true);
  EXPECT_FALSE(state.serving());
  EXPECT_TRUE(state.Knows(""));
  EXPECT_TRUE(state.Knows("svc"));
  EXPECT_FALSE(state.Knows("other"));
}

}  // namespace
}  // namespace deviceapi::server
