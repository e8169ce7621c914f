// Status predicates and the hand-written grpc.health.v1 codec.
#include <gtest/gtest.h>

#include <vector>

#include <grpcpp/support/slice.h>

#include "client/health_codec.h"
#include "deviceapi/retry.h"
#include "deviceapi/status.h"

namespace deviceapi {
namespace {

TEST(Status, PredicatesFollowTheContract) {
  EXPECT_TRUE(Status().ok());
  EXPECT_EQ(Status().ToString(), "OK");
  EXPECT_TRUE(Status(grpc::StatusCode::NOT_FOUND, "x").IsNotFound());
  EXPECT_TRUE(Status(grpc::StatusCode::ALREADY_EXISTS, "x").IsAlreadyExists());
  EXPECT_TRUE(Status(grpc::StatusCode::ABORTED, "x").IsConflict());
  EXPECT_TRUE(Status(grpc::StatusCode::OUT_OF_RANGE, "x").IsExpired());
  EXPECT_TRUE(Status(grpc::StatusCode::UNAVAILABLE, "x").IsUnavailable());
  EXPECT_TRUE(Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "x").IsResourceExhausted());
  EXPECT_FALSE(Status(grpc::StatusCode::ABORTED, "x").IsNotFound());
  EXPECT_EQ(Status(grpc::StatusCode::NOT_FOUND, "gpu x not found").ToString(),
            "NOT_FOUND: gpu x not found");
  StatusOr<int> bad = Status();
  EXPECT_FALSE(bad.ok());  // an OK status never masquerades as a value
  StatusOr<int> good = 3;
  EXPECT_TRUE(good.ok());
  EXPECT_EQ(*good, 3);
}

std::string Bytes(const grpc::ByteBuffer& b) {
  std::vector<grpc::Slice> slices;
  (void)b.Dump(&slices);
  std::string out;
  for (auto& s : slices) out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  return out;
}

grpc::ByteBuffer Buffer(const std::string& s) {
  grpc::Slice slice(s);
  return grpc::ByteBuffer(&slice, 1);
}

TEST(HealthCodec, EncodesAndDecodes) {
  EXPECT_EQ(Bytes(EncodeHealthCheckRequest("")), "");
  EXPECT_EQ(Bytes(EncodeHealthCheckRequest("abc")), std::string("\x0a\x03" "abc", 5));
  EXPECT_EQ(DecodeHealthCheckResponse(Buffer(std::string("\x08\x01", 2))), 1);
  EXPECT_EQ(DecodeHealthCheckResponse(Buffer(std::string("\x08\x02", 2))), 2);
  EXPECT_EQ(DecodeHealthCheckResponse(Buffer("")), 0);
  // Unknown fields are skipped.
  EXPECT_EQ(DecodeHealthCheckResponse(Buffer(std::string("\x12\x01x\x08\x01", 5))), 1);
}

TEST(HealthCodec, HostileBytesAreRejected) {
  EXPECT_EQ(DecodeHealthCheckResponse(Buffer(std::string("\x08", 1))), -1);
  EXPECT_EQ(DecodeHealthCheckResponse(Buffer(std::string("\x12\xff\xff\xff\xff\x0f", 6))), -1);
  EXPECT_EQ(DecodeHealthCheckResponse(Buffer(std::string("\x0f", 1))), -1);
  EXPECT_EQ(DecodeHealthCheckResponse(Buffer(std::string(11, '\xff'))), -1);
}

TEST(Backoff, GrowsCapsAndJitters) {
  Backoff b{.steps = 5, .initial = std::chrono::milliseconds(10), .factor = 2.0, .jitter = 0.5,
            .max = std::chrono::milliseconds(50)};
  for (int i = 0; i < 50; ++i) {
    auto d0 = b.Delay(0).count();
    EXPECT_GE(d0, 10);
    EXPECT_LE(d0, 15);
    auto d5 = b.Delay(5).count();
    EXPECT_GE(d5, 50);
    EXPECT_LE(d5, 75);
  }
}

TEST(RetryOnConflict, RetriesOnlyConflicts) {
  Backoff b{.steps = 4, .initial = std::chrono::milliseconds(0), .factor = 1.0, .jitter = 0.0,
            .max = std::chrono::milliseconds(0)};
  int calls = 0;
  Status s = RetryOnConflict(b, [&] {
    ++calls;
    return calls < 3 ? Status(grpc::StatusCode::ABORTED, "conflict") : Status();
  });
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(calls, 3);
  calls = 0;
  s = RetryOnConflict(b, [&] {
    ++calls;
    return Status(grpc::StatusCode::ABORTED, "conflict");
  });
  EXPECT_TRUE(s.IsConflict());
  EXPECT_EQ(calls, 4);
  calls = 0;
  s = RetryOnConflict(b, [&] {
    ++calls;
    return Status(grpc::StatusCode::NOT_FOUND, "gone");
  });
  EXPECT_TRUE(s.IsNotFound());
  EXPECT_EQ(calls, 1);
}

}  // namespace
}  // namespace deviceapi
