// SO_REUSEPORT is off on every gRPC listener of the server: a second server
// on a port already in use must fail to start instead of silently sharing
// the port (and half of the connections) with the first.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "server/config.h"
#include "server/grpc_options.h"

namespace deviceapi::server {
namespace {

std::unique_ptr<grpc::Server> Listen(const std::string& address, int* port, bool common_options) {
  grpc::ServerBuilder builder;
  if (common_options) ApplyCommonOptions(Config{}, builder);
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(), port);
  return builder.BuildAndStart();
}

TEST(ReusePort, SecondServerOnTheSamePortFails) {
  int first_port = 0;
  auto first = Listen("127.0.0.1:0", &first_port, true);
  ASSERT_TRUE(first);
  ASSERT_GT(first_port, 0);
  int second_port = 0;
  auto second = Listen("127.0.0.1:" + std::to_string(first_port), &second_port, true);
  EXPECT_FALSE(second) << "a second listener shared port " << first_port;
  EXPECT_EQ(second_port, 0);
  first->Shutdown();
}

TEST(ReusePort, GrpcDefaultWouldShareThePort) {
  // The control: without the option gRPC on Linux sets SO_REUSEPORT and both
  // servers bind, which is exactly what the option above prevents.
  int first_port = 0;
  auto first = Listen("127.0.0.1:0", &first_port, false);
  ASSERT_TRUE(first);
  int second_port = 0;
  auto second = Listen("127.0.0.1:" + std::to_string(first_port), &second_port, false);
  if (!second) GTEST_SKIP() << "this gRPC build does not use SO_REUSEPORT by default";
  EXPECT_EQ(second_port, first_port);
  second->Shutdown();
  first->Shutdown();
}

}  // namespace
}  // namespace deviceapi::server
