// Malformed resource versions and list/watch options are INVALID_ARGUMENT
// (S9, S10, S15, S18 option plumbing).
#include "apiserver/request_options.h"

#include <gtest/gtest.h>

namespace deviceapi::apiserver {
namespace {

namespace v1 = nvidia::nvsentinel::v1alpha1;

TEST(RequestOptionsTest, ParseResourceVersion) {
  EXPECT_FALSE(ParseResourceVersion("", "rv")->has_value());
  EXPECT_EQ(**ParseResourceVersion("0", "rv"), 0u);
  EXPECT_EQ(**ParseResourceVersion("42", "rv"), 42u);
  EXPECT_EQ(**ParseResourceVersion("007", "rv"), 7u);
  EXPECT_EQ(**ParseResourceVersion("18446744073709551615", "rv"), UINT64_MAX);
  for (const char* bad : {"abc", "-1", "+1", " 1", "1 ", "1.0", "0x10", "18446744073709551616",
                          "99999999999999999999999"}) {
    auto r = ParseResourceVersion(bad, "opts.resource_version");
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code, store::ErrorCode::kInvalid);
    EXPECT_EQ(r.error().message.rfind("opts.resource_version: ", 0), 0u) << r.error().message;
  }
}

TEST(RequestOptionsTest, ListOptionsS9) {
  v1::ListOptions opts;
  auto r = ToStoreListOptions("", opts);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->revision, 0u);
  EXPECT_FALSE(r->exact);

  opts.set_resource_version("17");
  opts.set_resource_version_match("Exact");
  r = ToStoreListOptions("ns", opts);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->exact);
  EXPECT_EQ(r->revision, 17u);
  EXPECT_EQ(r->namespace_name, "ns");

  opts.set_resource_version_match("NotOlderThan");
  r = ToStoreListOptions("", opts);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->exact);
}

TEST(RequestOptionsTest, BadListOptions) {
  struct Case {
    const char* ns;
    const char* rv;
    const char* match;
    const char* selector;
    std::int64_t timeout;
    const char* field;
  } cases[] = {
      {"", "", "Exact", "", 0, "opts.resource_version_match"},
      {"", "0", "Exact", "", 0, "opts.resource_version_match"},
      {"", "", "NotOlderThan", "", 0, "opts.resource_version_match"},
      {"", "5", "exact", "", 0, "opts.resource_version_match"},
      {"", "abc", "", "", 0, "opts.resource_version"},
      {"", "", "", "a in (b", 0, "opts.label_selector"},
      {"", "", "", "", -1, "opts.timeout_seconds"},
      {"Bad_NS", "", "", "", 0, "namespace"},
  };
  for (const auto& c : cases) {
    v1::ListOptions opts;
    opts.set_resource_version(c.rv);
    opts.set_resource_version_match(c.match);
    opts.set_label_selector(c.selector);
    opts.set_timeout_seconds(c.timeout);
    auto r = ToStoreListOptions(c.ns, opts);
    ASSERT_FALSE(r.ok()) << c.field;
    EXPECT_EQ(r.error().code, store::ErrorCode::kInvalid);
    EXPECT_EQ(r.error().message.rfind(c.field, 0), 0u) << r.error().message;
  }
}

TEST(RequestOptionsTest, WatchOptionsS12S13S15S18) {
  v1::ListOptions opts;
  auto r = ToStoreWatchOptions("", opts);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->start.has_value());  // S13
  opts.set_resource_version("0");
  EXPECT_FALSE(ToStoreWatchOptions("", opts)->start.has_value());
  opts.set_resource_version("9");
  EXPECT_EQ(*ToStoreWatchOptions("", opts)->start, 9u);  // S12

  opts.Clear();
  opts.set_send_initial_events(true);
  opts.set_allow_watch_bookmarks(true);
  opts.set_timeout_seconds(5);
  opts.set_label_selector("a=b");
  r = ToStoreWatchOptions("x", opts);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->send_initial_events);
  EXPECT_TRUE(r->allow_bookmarks);
  EXPECT_EQ(r->timeout.count(), 5000);
  EXPECT_FALSE(r->selector.Empty());

  opts.set_timeout_seconds(INT64_MAX);  // clamped, no overflow
  EXPECT_GT(ToStoreWatchOptions("", opts)->timeout.count(), 0);

  for (auto mutate : {+[](v1::ListOptions* o) { o->set_resource_version_match("Exact"); },
                      +[](v1::ListOptions* o) { o->set_resource_version_match("Bogus"); },
                      +[](v1::ListOptions* o) { o->set_timeout_seconds(-3); },
                      +[](v1::ListOptions* o) { o->set_resource_version("-1"); },
                      +[](v1::ListOptions* o) {
                        o->set_send_initial_events(true);
                        o->set_resource_version("5");
                      }}) {
    v1::ListOptions bad;
    bad.set_resource_version("3");
    mutate(&bad);
    auto w = ToStoreWatchOptions("", bad);
    ASSERT_FALSE(w.ok()) << bad.ShortDebugString();
    EXPECT_EQ(w.error().code, store::ErrorCode::kInvalid);
  }
}

// S33: a selector beyond the bounds is INVALID_ARGUMENT naming the limit, for
// List and Watch alike; one exactly at the bounds is accepted.
TEST(RequestOptionsTest, SelectorBoundsNameTheLimitS33) {
  const labels::SelectorLimits limits{.max_bytes = 100, .max_requirements = 4};
  v1::ListOptions opts;
  opts.set_label_selector("a,b,c,d");
  EXPECT_TRUE(ToStoreListOptions("", opts, limits).ok());
  EXPECT_TRUE(ToStoreWatchOptions("", opts, limits).ok());
  opts.set_label_selector("a,b,c,d,e");
  for (const auto& r : {ToStoreListOptions("", opts, limits).error(), ToStoreWatchOptions("", opts, limits).error()}) {
    EXPECT_EQ(r.code, store::ErrorCode::kInvalid);
    EXPECT_NE(r.message.find("too many requirements: the limit is 4"), std::string::npos) << r.message;
  }
  opts.set_label_selector("k in (" + std::string(100, 'v') + ")");
  for (const auto& r : {ToStoreListOptions("", opts, limits).error(), ToStoreWatchOptions("", opts, limits).error()}) {
    EXPECT_EQ(r.code, store::ErrorCode::kInvalid);
    EXPECT_NE(r.message.find("the limit is 100"), std::string::npos) << r.message;
  }
  // The defaults: 4 KiB and 64 requirements.
  std::string big = "k in (";
  while (big.size() < 4096) big += "v,";
  opts.set_label_selector(big + "v)");
  EXPECT_FALSE(ToStoreListOptions("", opts).ok());
}

}  // namespace
}  // namespace deviceapi::apiserver
