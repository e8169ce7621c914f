// Lines a client can make libraries write (protobuf logs an ERROR for every
// request carrying invalid UTF-8 in a string field) still come out in the
// process's log format, and a flood of them is rate-limited.
#include <gtest/gtest.h>

#include <csignal>

#include "test_support.h"

namespace deviceapi::testing {
namespace {

TEST(LogFormat, ClientTriggeredProtobufErrorsAreJsonAndRateLimited) {
  TempDir dir;
  auto s = StartServer(dir.File("api.sock"));
  ASSERT_TRUE(s) << s.process->Stderr();
  auto stub = v1::GpuService::NewStub(UnixChannel(s.socket));
  constexpr int kRequests = 1000;
  for (int i = 0; i < kRequests; ++i) {
    v1::CreateGpuRequest req;
    *req.mutable_gpu() = MakeGpu("gpu-" + std::to_string(i));
    req.mutable_gpu()->mutable_metadata()->set_name("bad\xff\xfe");
    v1::Gpu out;
    grpc::ClientContext ctx;
    ASSERT_EQ(stub->CreateGpu(&ctx, req, &out).error_code(), grpc::StatusCode::INVALID_ARGUMENT) << i;
  }
  s.process->Signal(SIGTERM);
  ExitResult r = s.process->Wait(std::chrono::seconds(10));
  ASSERT_EQ(r.code, 0) << r.err;
  const auto lines = Lines(r.err);
  int protobuf_lines = 0;
  bool counted = false;
  for (const std::string& line : lines) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << "not JSON: " << line;
    if (j.value("logger", "") != "protobuf") continue;
    ++protobuf_lines;
    if (j.contains("suppressed")) counted = true;
  }
  EXPECT_GE(protobuf_lines, 1) << "the first ones are logged";
  EXPECT_LE(lines.size(), 60u) << "a flood of client-triggered lines is rate-limited";
  EXPECT_TRUE(counted) << "suppressed lines are counted, not silently dropped:\n" << r.err;
}

}  // namespace
}  // namespace deviceapi::testing
