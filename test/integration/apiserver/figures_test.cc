// Rough figures over the real socket (printed, loosely checked): unary write
// latency, list of 1,024 GPUs, and one event fanned out to many watchers.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <thread>

#include "service_fixture.h"

namespace deviceapi::apiserver::testing {
namespace {

using Clock = std::chrono::steady_clock;

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

class FiguresTest : public ServiceFixture {};

TEST_F(FiguresTest, UnaryListAndFanOut) {
  // 1,024 GPUs (S19's sizing), each with a few conditions.
  constexpr int kGpus = 1024;
  auto t0 = Clock::now();
  for (int i = 0; i < kGpus; ++i) {
    auto gpu = MakeGpu(i);
    for (int c = 0; c < 4; ++c) {
      auto* cond = gpu.mutable_status()->add_conditions();
      cond->set_type("Check" + std::to_string(c));
      cond->set_status("True");
      cond->set_message("all good");
    }
    ASSERT_TRUE(Create(gpu).ok());
  }
  const double create_ms = Ms(Clock::now() - t0) / kGpus;

  constexpr int kWatchers = 64;
  constexpr int kEvents = 200;
  std::atomic<int> done{0};
  std::vector<std::thread> readers;
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  const std::string from = std::to_string(store().CurrentRevision());
  for (int w = 0; w < kWatchers; ++w) {
    contexts.push_back(std::make_unique<grpc::ClientContext>());
    contexts.back()->set_deadline(Deadline(60));
    readers.emplace_back([&, ctx = contexts.back().get()] {
      v1::WatchGpusRequest req;
      req.mutable_opts()->set_resource_version(from);
      auto reader = stub().WatchGpus(ctx, req);
      v1::WatchGpusResponse ev;
      int n = 0;
      while (n < kEvents && reader->Read(&ev)) ++n;
      if (n == kEvents) done.fetch_add(1);
      ctx->TryCancel();
      while (reader->Read(&ev)) {
      }
      reader->Finish();
    });
  }
  // Wait until every watcher is registered before writing.
  const auto reg_deadline = Clock::now() + std::chrono::seconds(10);
  while (store().Stats().active_watchers < kWatchers && Clock::now() < reg_deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  v1::Gpu gpu;
  ASSERT_TRUE(Get(UuidFor(0), "", &gpu).ok());
  t0 = Clock::now();
  for (int i = 0; i < kEvents; ++i) {
    gpu.mutable_status()->set_recommended_action("A" + std::to_string(i));
    gpu.mutable_metadata()->clear_resource_version();
    ASSERT_TRUE(UpdateStatus(gpu).ok());
  }
  const double update_ms = Ms(Clock::now() - t0) / kEvents;
  for (auto& r : readers) r.join();
  const double fanout_ms = Ms(Clock::now() - t0);
  EXPECT_EQ(done.load(), kWatchers);

  t0 = Clock::now();
  v1::GpuList list;
  constexpr int kLists = 20;
  for (int i = 0; i < kLists; ++i) ASSERT_TRUE(List({}, &list).ok());
  const double list_ms = Ms(Clock::now() - t0) / kLists;
  EXPECT_EQ(list.items_size(), kGpus);

  std::printf(
      "[figures] create %.3f ms/op, update-status %.3f ms/op (with %d watchers), "
      "%d events to %d watchers in %.1f ms, list of %d GPUs %.2f ms\n",
      create_ms, update_ms, kWatchers, kEvents, kWatchers, fanout_ms, kGpus, list_ms);
  EXPECT_EQ(service().Stats().watch_events_sent >= static_cast<std::uint64_t>(kWatchers * kEvents),
            true);
}

}  // namespace
}  // namespace deviceapi::apiserver::testing
