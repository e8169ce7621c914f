#include "nvml/xid_catalog.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace deviceapi::nvml {
namespace {

TEST(XidCatalog, BuiltinHasEveryXidFrom1To172) {
  const auto& c = XidCatalog::Builtin();
  ASSERT_EQ(c.entries().size(), 172u);
  for (uint32_t x = 1; x <= 172; ++x) {
    const XidEntry* e = c.Find(x);
    ASSERT_NE(e, nullptr) << x;
    EXPECT_FALSE(e->mnemonic.empty()) << x;
    EXPECT_FALSE(e->description.empty()) << x;
  }
  EXPECT_EQ(c.Find(0), nullptr);
  EXPECT_EQ(c.Find(173), nullptr);
  EXPECT_EQ(c.Find(999), nullptr);
}

TEST(XidCatalog, KnownRows) {
  const auto& c = XidCatalog::Builtin();
  EXPECT_EQ(c.Find(79)->mnemonic, "ROBUST_CHANNEL_GPU_HAS_FALLEN_OFF_THE_BUS");
  EXPECT_EQ(c.Find(79)->immediate_action, "RESTART_BM");
  EXPECT_EQ(c.Find(48)->immediate_action, "WORKFLOW_XID_48");
  EXPECT_EQ(c.Find(95)->immediate_action, "RESET_GPU");
  EXPECT_EQ(c.Find(109)->immediate_action, "RESET_GPU");
  EXPECT_EQ(c.Find(13)->immediate_action, "RESTART_APP");
  EXPECT_EQ(c.Find(170)->immediate_action, "");
}

// The checked-in copy must be the shared data file, byte for byte, when the
// data file is available (it lives outside the repository).
TEST(XidCatalog, CheckedInCopyMatchesSharedData) {
  std::filesystem::path shared = std::filesystem::path(DEVICEAPI_SOURCE_DIR) / ".." / "shared" / "data" / "xid-catalog.tsv";
  if (!std::filesystem::exists(shared)) GTEST_SKIP() << "no " << shared;
  std::ifstream in(shared, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_EQ(ss.str(), std::string(XidCatalog::BuiltinText()))
      << "src/nvml/xid_catalog.tsv differs from " << shared << ": copy it again";
}

TEST(XidCatalog, ParseRejectsMalformedRows) {
  std::string err;
  EXPECT_FALSE(XidCatalog::Parse("h\n1\ta\tb\tc\td\n", &err));
  EXPECT_NE(err.find("6 fields"), std::string::npos);
  EXPECT_FALSE(XidCatalog::Parse("h\nx\ta\tb\tc\td\te\n", &err));
  EXPECT_FALSE(XidCatalog::Parse("h\n1\ta\tb\tc\td\te\n1\ta\tb\tc\td\te\n", &err));
  EXPECT_NE(err.find("duplicate"), std::string::npos);
  auto ok = XidCatalog::Parse("h\r\n2\tM\tD\tRESET_GPU\t\t\r\n", &err);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->Find(2)->immediate_action, "RESET_GPU");
}

}  // namespace
}  // namespace deviceapi::nvml
