// S20 syntax rules, S19 metadata limits: tables of good and hostile inputs.
#include "apiserver/validation.h"

#include <gtest/gtest.h>

#include <string>

namespace deviceapi::apiserver {
namespace {

TEST(ValidationTest, GpuUuidS20) {
  const std::string lower = "GPU-0123abcd-4567-89ef-0123-456789abcdef";
  const std::string upper = "GPU-0123ABCD-4567-89EF-0123-456789ABCDEF";
  EXPECT_TRUE(IsGpuUuid(lower, true));
  EXPECT_TRUE(IsGpuUuid(lower, false));
  EXPECT_FALSE(IsGpuUuid(upper, true));
  EXPECT_TRUE(IsGpuUuid(upper, false));
  for (const char* bad : {"", "GPU-", "gpu-0123abcd-4567-89ef-0123-456789abcdef",
                          "GPU-0123abcd-4567-89ef-0123-456789abcde",     // short
                          "GPU-0123abcd-4567-89ef-0123-456789abcdef0",   // long
                          "GPU-0123abcd-4567-89ef-0123_456789abcdef",    // separator
                          "GPU-0123abcg-4567-89ef-0123-456789abcdef",    // non-hex
                          "MIG-0123abcd-4567-89ef-0123-456789abcdef"}) {
    EXPECT_FALSE(IsGpuUuid(bad, false)) << bad;
  }
}

TEST(ValidationTest, CamelCaseS20) {
  for (const char* ok : {"Ready", "NVMLReady", "XidError79", "A"}) EXPECT_TRUE(IsCamelCase(ok)) << ok;
  for (const char* bad : {"", "ready", "Not Ready", "Not-Ready", "Ready!", "9Lives", "Ready_1"}) {
    EXPECT_FALSE(IsCamelCase(bad)) << bad;
  }
}

TEST(ValidationTest, ObjectNameErrorsNameTheFieldS20) {
  FieldErrors errors;
  ValidateObjectName("", true, "gpu.metadata.name", &errors);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].path, "gpu.metadata.name");
  EXPECT_EQ(errors[0].detail, "Required value");

  errors.clear();
  ValidateObjectName(std::string(300, 'a'), true, "gpu.metadata.name", &errors);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].detail.find("253"), std::string::npos);

  errors.clear();
  ValidateObjectName("GPU-0123ABCD-4567-89EF-0123-456789ABCDEF", true, "gpu.metadata.name",
                     &errors);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].detail.find("lowercase"), std::string::npos);

  errors.clear();
  ValidateObjectName("GPU-0123abcd-4567-89ef-0123-456789abcdef", true, "p", &errors);
  EXPECT_TRUE(errors.empty());
  ValidateObjectName("GPU-0123abcd-4567-89ef-0123-456789abcdef", false, "p", &errors);
  EXPECT_EQ(errors.size(), 1u);

  // Control bytes in a hostile name are escaped, not echoed raw.
  errors.clear();
  ValidateObjectName(std::string("a\nb\x01", 4), true, "p", &errors);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].detail.find('\n'), std::string::npos);
  EXPECT_EQ(errors[0].detail.find('\x01'), std::string::npos);
}

TEST(ValidationTest, LabelLimitsS19) {
  ServiceLimits limits;
  nvidia::nvsentinel::v1alpha1::ObjectMeta meta;
  for (int i = 0; i < 65; ++i) (*meta.mutable_labels())["k" + std::to_string(i)] = "v";
  FieldErrors errors;
  ValidateLabelsAndAnnotations(meta, limits, "gpu.metadata", &errors);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].kind, FieldError::Kind::kTooMany);
  EXPECT_EQ(errors[0].path, "gpu.metadata.labels");

  meta.Clear();
  (*meta.mutable_annotations())["big"] = std::string(300 << 10, 'x');
  errors.clear();
  ValidateLabelsAndAnnotations(meta, limits, "gpu.metadata", &errors);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].kind, FieldError::Kind::kTooMany);
  EXPECT_NE(errors[0].detail.find("bytes"), std::string::npos);

  meta.Clear();
  (*meta.mutable_labels())["bad key"] = "ok";
  (*meta.mutable_labels())["ok"] = "bad value";
  errors.clear();
  ValidateLabelsAndAnnotations(meta, limits, "gpu.metadata", &errors);
  ASSERT_EQ(errors.size(), 2u);
  for (const auto& e : errors) {
    EXPECT_EQ(e.kind, FieldError::Kind::kInvalid);
    EXPECT_EQ(e.path.rfind("gpu.metadata.labels[", 0), 0u) << e.path;
  }
}

TEST(ValidationTest, TimestampBounds) {
  google::protobuf::Timestamp ts;
  FieldErrors errors;
  ts.set_seconds(1700000000);
  ValidateTimestamp(ts, "t", &errors);
  EXPECT_TRUE(errors.empty());
  ts.set_nanos(-1);
  ValidateTimestamp(ts, "t", &errors);
  ts.set_nanos(0);
  ts.set_seconds(INT64_MAX);
  ValidateTimestamp(ts, "t", &errors);
  EXPECT_EQ(errors.size(), 2u);
}

TEST(ValidationTest, ToErrorInvalidWinsAndMessageIsBounded) {
  FieldErrors errors;
  AddTooMany(&errors, "a", "too many");
  EXPECT_EQ(ToError(errors).code, store::ErrorCode::kResourceExhausted);
  AddInvalid(&errors, "b", "bad");
  EXPECT_EQ(ToError(errors).code, store::ErrorCode::kInvalid);
  EXPECT_EQ(ToError(errors).message, "a: too many; b: bad");
  for (int i = 0; i < 1000; ++i) AddInvalid(&errors, "x", "bad");
  auto e = ToError(errors);
  EXPECT_LT(e.message.size(), 400u);
  EXPECT_NE(e.message.find("more errors"), std::string::npos);
}

}  // namespace
}  // namespace deviceapi::apiserver
