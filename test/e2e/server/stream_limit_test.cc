// The per-connection stream limit (--max-streams-per-connection, default
// 250 like NVSentinel's server). Clients of NVSentinel's Go SDK share one
// connection among all their watches and calls; with more streams open than
// the server allows, a new call waits in the client for a free stream and,
// with no watch ending, runs into its deadline.
#include <gtest/gtest.h>

#include "test_support.h"

namespace deviceapi::testing {
namespace {

// `watches` watches open on one channel, then a Create on the same channel.
// Returns the Create's status; fails the test if the watches do not start.
grpc::Status CreateBesideOpenWatches(const RunningServer& s, int watches) {
  grpc::ChannelArguments args;
  args.SetInt("grpc.use_local_subchannel_pool", 1);  // a connection of its own
  auto channel = grpc::CreateCustomChannel("unix:" + s.socket, grpc::InsecureChannelCredentials(), args);
  auto stub = v1::GpuService::NewStub(channel);
  grpc::CompletionQueue cq;
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<std::unique_ptr<grpc::ClientAsyncReader<v1::WatchGpusResponse>>> readers;
  std::vector<v1::WatchGpusResponse> first(watches);
  for (int i = 0; i < watches; ++i) {
    contexts.push_back(std::make_unique<grpc::ClientContext>());
    readers.push_back(stub->PrepareAsyncWatchGpus(contexts.back().get(), v1::WatchGpusRequest(), &cq));
    readers.back()->StartCall(reinterpret_cast<void*>(static_cast<std::intptr_t>(i)));
  }
  // A watch's first event arrives only once the server runs it.
  int started = 0, events = 0;
  auto deadline = std::chrono::system_clock::now() + std::chrono::seconds(30);
  while (events < watches) {
    void* tag = nullptr;
    bool ok = false;
    if (cq.AsyncNext(&tag, &ok, deadline) != grpc::CompletionQueue::GOT_EVENT) break;
    auto i = static_cast<int>(reinterpret_cast<std::intptr_t>(tag));
    if (i < watches) {
      if (!ok) break;
      ++started;
      readers[i]->Read(&first[i], reinterpret_cast<void*>(static_cast<std::intptr_t>(watches + i)));
    } else {
      if (!ok) break;
      ++events;
    }
  }
  EXPECT_EQ(events, watches) << started << " started";

  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  v1::CreateGpuRequest req;
  *req.mutable_gpu() = MakeGpu("gpu-beside-watches");
  v1::Gpu out;
  grpc::Status created = stub->CreateGpu(&ctx, req, &out);

  for (auto& c : contexts) c->TryCancel();
  cq.Shutdown();
  void* tag = nullptr;
  bool ok = false;
  while (cq.Next(&tag, &ok)) {
  }
  return created;
}

TEST(StreamLimit, CreateBesideTwoHundredFortyWatchesOnOneConnection) {
  TempDir dir;
  auto s = StartServer(dir.File("api.sock"));
  ASSERT_TRUE(s) << s.process->Stderr();
  ASSERT_TRUE(CreateGpu(UnixChannel(s.socket), "gpu-0").ok());
  grpc::Status created = CreateBesideOpenWatches(s, 240);
  EXPECT_TRUE(created.ok()) << created.error_code() << " " << created.error_message();
}

// With the limit lowered, the call beyond it waits in the client: the
// behaviour docs/operations.md describes.
TEST(StreamLimit, CallBeyondTheLimitWaitsForAFreeStream) {
  TempDir dir;
  auto s = StartServer(dir.File("api.sock"), {"--max-streams-per-connection=20"});
  ASSERT_TRUE(s) << s.process->Stderr();
  ASSERT_TRUE(CreateGpu(UnixChannel(s.socket), "gpu-0").ok());
  grpc::Status created = CreateBesideOpenWatches(s, 20);
  EXPECT_EQ(created.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << created.error_message();
}

}  // namespace
}  // namespace deviceapi::testing
