// The code snippets of docs/sdk.md, compiled and run here against a
// FakeClient. Each region between "// [doc:NAME]" and "// [end]" must appear
// verbatim (de-indented) in docs/sdk.md; the last test checks that, so the
// docs cannot drift from code that builds and works.
#include <gtest/gtest.h>

#include <fstream>
#include <iostream>
#include <regex>
#include <sstream>

#include "deviceapi/deviceapi.h"
#include "deviceapi/fake_client.h"

namespace {

using namespace std::chrono_literals;

deviceapi::Gpu NewGpu(const std::string& name, const std::string& uuid) {
  deviceapi::Gpu gpu;
  gpu.mutable_metadata()->set_name(name);
  gpu.mutable_spec()->set_uuid(uuid);
  return gpu;
}

// [doc:connect]
void PrintGpus(deviceapi::Client& client) {
  deviceapi::StatusOr<deviceapi::GpuList> list = client.List();
  if (!list.ok()) {
    std::cerr << "list failed: " << list.status().ToString() << "\n";
    return;
  }
  for (const deviceapi::Gpu& gpu : list->items())
    std::cout << gpu.metadata().name() << " " << gpu.spec().uuid() << "\n";
}
// [end]

// [doc:options]
void ConnectExplicitly() {
  deviceapi::ClientOptions options;
  options.target = "unix:///run/device-api.sock";
  options.default_timeout = std::chrono::seconds(2);
  deviceapi::Client client(options);
  PrintGpus(client);  // "list failed: UNAVAILABLE: ..." when nothing listens there
}
// [end]

// [doc:register]
// Creates the GPU, or leaves it alone if it is already registered.
deviceapi::Status Register(deviceapi::Client& client, const deviceapi::Gpu& gpu) {
  deviceapi::StatusOr<deviceapi::Gpu> created = client.Create(gpu);
  if (created.ok() || created.status().IsAlreadyExists()) return {};
  return created.status();  // e.g. IsInvalid() with the server's message
}
// [end]

// [doc:provider]
// A provider owns its condition types and updates them in one call: read,
// merge, write with the resource version read, retry on conflict. Other
// providers' conditions survive; the transition time moves only when the
// status changes.
deviceapi::Status ReportFans(deviceapi::Client& client, const std::string& gpu, bool ok) {
  deviceapi::Condition fans = deviceapi::MakeCondition(
      "example.com/FansHealthy", ok ? deviceapi::kConditionTrue : deviceapi::kConditionFalse,
      ok ? "FansSpinning" : "FanStalled", ok ? "all fans within limits" : "fan 3 stalled");
  return deviceapi::UpdateStatusWithRetry(client, gpu, [&](deviceapi::GpuStatus* status) {
           return deviceapi::SetCondition(status, fans);  // false: nothing to write
         }).status();
}
// [end]

// [doc:informer]
// Keeps a local cache of the node's GPUs and reacts to changes.
void WatchHealth(deviceapi::Client& client) {
  deviceapi::Informer informer(client);
  deviceapi::EventHandlers handlers;
  handlers.on_add = [](const deviceapi::GpuPtr& gpu) {
    std::cout << "added " << gpu->metadata().name() << "\n";
  };
  handlers.on_update = [](const deviceapi::GpuPtr& old_gpu, const deviceapi::GpuPtr& gpu) {
    bool was = deviceapi::IsConditionTrue(old_gpu->status(), "Ready");
    bool is = deviceapi::IsConditionTrue(gpu->status(), "Ready");
    if (was != is) std::cout << gpu->metadata().name() << (is ? " ready\n" : " not ready\n");
  };
  handlers.on_delete = [](const deviceapi::GpuPtr& gpu) {
    std::cout << "removed " << gpu->metadata().name() << "\n";
  };
  informer.AddEventHandlers(handlers);
  informer.Start();
  if (!informer.WaitForSync(std::chrono::seconds(10))) return;  // server unreachable

  // Reads come from the cache: no round trip, safe from any thread.
  auto selector = deviceapi::LabelSelector::Parse("zone=a");
  for (const deviceapi::GpuPtr& gpu : informer.lister().List(*selector))
    std::cout << "zone a: " << gpu->metadata().name() << "\n";
}  // ~Informer stops the watch
// [end]

// [doc:fake]
TEST(MyDevicePlugin, SeesRegisteredGpu) {
  deviceapi::FakeClient client;  // the real server semantics, in-process
  ASSERT_TRUE(client.Create(NewGpu("gpu-0", "GPU-00000000-1111-2222-3333-444444444444")).ok());
  deviceapi::Informer informer(client);
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(std::chrono::seconds(5)));
  EXPECT_NE(informer.lister().Get("gpu-0"), nullptr);
}
// [end]

TEST(DocSnippets, RunAgainstFakeClient) {
  deviceapi::FakeClient client;
  deviceapi::Gpu gpu = NewGpu("gpu-0", "GPU-00000000-1111-2222-3333-444444444444");
  (*gpu.mutable_metadata()->mutable_labels())["zone"] = "a";
  ASSERT_TRUE(Register(client, gpu).ok());
  ASSERT_TRUE(Register(client, gpu).ok());  // idempotent
  deviceapi::Gpu bad = NewGpu("gpu-1", "nope");
  EXPECT_TRUE(Register(client, bad).IsInvalid());
  ASSERT_TRUE(ReportFans(client, "gpu-0", true).ok());
  ASSERT_TRUE(ReportFans(client, "gpu-0", false).ok());
  EXPECT_TRUE(ReportFans(client, "missing", true).IsNotFound());
  deviceapi::StatusOr<deviceapi::Gpu> got = client.Get("gpu-0");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(deviceapi::FindCondition(got->status(), "example.com/FansHealthy")->reason(),
            "FanStalled");
  testing::internal::CaptureStderr();
  ConnectExplicitly();
  EXPECT_NE(testing::internal::GetCapturedStderr().find("list failed: UNAVAILABLE"),
            std::string::npos);
  testing::internal::CaptureStdout();
  PrintGpus(client);
  WatchHealth(client);
  std::string out = testing::internal::GetCapturedStdout();
  EXPECT_NE(out.find("gpu-0 GPU-00000000"), std::string::npos) << out;
  EXPECT_NE(out.find("added gpu-0"), std::string::npos) << out;
  EXPECT_NE(out.find("zone a: gpu-0"), std::string::npos) << out;
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(DocSnippets, AppearVerbatimInDocs) {
  std::string source = Slurp(std::string(DEVICEAPI_SOURCE_DIR) + "/test/unit/client/doc_snippets_test.cc");
  std::string docs = Slurp(std::string(DEVICEAPI_SOURCE_DIR) + "/docs/sdk.md");
  ASSERT_FALSE(docs.empty()) << "docs/sdk.md missing";
  std::regex region(R"(// \[doc:(\w+)\]\n([\s\S]*?)// \[end\])");
  int found = 0;
  for (std::sregex_iterator it(source.begin(), source.end(), region), end; it != end; ++it) {
    ++found;
    EXPECT_NE(docs.find("```cpp\n" + (*it)[2].str() + "```"), std::string::npos)
        << "docs/sdk.md lacks the snippet \"" << (*it)[1] << "\" as a ```cpp block";
  }
  EXPECT_EQ(found, 6);
}

}  // namespace
