// S10: the SDK and the server speak one selector language. A selector the
// lister accepts is one the server accepts (else an informer never syncs
// while its lister filters happily), and a label the server stores is one a
// selector can name.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "deviceapi/fake_client.h"
#include "deviceapi/selector.h"

namespace deviceapi {
namespace {

Gpu LabelledGpu(const std::string& name, const std::string& key, const std::string& value) {
  Gpu g;
  g.mutable_metadata()->set_name(name);
  (*g.mutable_metadata()->mutable_labels())[key] = value;
  g.mutable_spec()->set_uuid("GPU-00000000-0000-4000-8000-000000000001");
  return g;
}

// S10
TEST(SelectorAgreement, SdkAcceptsExactlyWhatTheServerAcceptsS10) {
  FakeClient client;
  const std::vector<std::string> selectors = {
      "zone=a", "Example.COM/zone=a", "a_b.com/x", "example.com/x", std::string(64, 'a') + ".com/zone",
      "x>1", "x<a", "x in ()", "x notin (,a)", "x in (a b)", "!x=a", "x=a||y=b", "x,,y", "in in (in)",
      "k=" + std::string(64, 'v'), std::string(254, 'p') + "/k", "-a", "a=-b",
  };
  for (const std::string& text : selectors) {
    const bool sdk = LabelSelector::Parse(text).ok();
    ListOptions options;
    options.label_selector = text;
    StatusOr<GpuList> server = client.List(options);
    EXPECT_EQ(sdk, server.ok()) << "selector \"" << text << "\": SDK " << (sdk ? "accepts" : "refuses")
                                << ", server " << (server.ok() ? "accepts" : server.status().message());
    if (!server.ok()) {
      EXPECT_TRUE(server.status().IsInvalid()) << text;
    }
  }
}

// S10: a key whose prefix has a part longer than 63 characters is a valid
// label key (as in Kubernetes); the server stores it, so selectors on the
// server and in the SDK must be able to name it.
TEST(SelectorAgreement, EveryStorableLabelIsSelectableS10) {
  FakeClient client;
  const std::string key = std::string(64, 'a') + ".example.com/zone";
  ASSERT_TRUE(client.Create(LabelledGpu("gpu-0", key, "a")).ok());
  ListOptions options;
  options.label_selector = key + "=a";
  StatusOr<GpuList> list = client.List(options);
  ASSERT_TRUE(list.ok()) << list.status().message();
  ASSERT_EQ(list->items_size(), 1);
  StatusOr<LabelSelector> sdk = LabelSelector::Parse(key + "=a");
  ASSERT_TRUE(sdk.ok()) << sdk.status().message();
  EXPECT_TRUE(sdk->Matches(list->items(0).metadata().labels()));
}

}  // namespace
}  // namespace deviceapi
