// Store micro-benchmarks sized for the largest nodes: 1,024 GPU objects whose
// payload is about what eight conditions weigh (~2 KiB).
#include <benchmark/benchmark.h>

#include <memory>
#include <string>
#include <vector>

#include "store/store.h"
#include "test_object.h"

namespace deviceapi::store {
namespace {

using testing::TestObject;

constexpr int kObjects = 1024;
const std::string kPayload(2048, 'c');  // ~8 conditions: type, status, reason, message, times

std::unique_ptr<Store> Filled(StoreOptions o = {}) {
  o.initial_revision = 1;
  auto s = std::make_unique<Store>(o);
  if (!s->Open().ok()) std::abort();
  for (int i = 0; i < kObjects; ++i) {
    ObjectKey key{"default", "gpu-" + std::to_string(i)};
    Labels labels{{"nvidia.com/gpu.product", "H100"}, {"index", std::to_string(i)}};
    auto r = s->Create(key, [&](Revision next) -> Result<ObjectPtr> {
      return ObjectPtr(std::make_shared<TestObject>(key, labels, next, kPayload));
    });
    if (!r.ok()) std::abort();
  }
  return s;
}

std::vector<ObjectKey> Keys() {
  std::vector<ObjectKey> keys;
  for (int i = 0; i < kObjects; ++i) keys.push_back({"default", "gpu-" + std::to_string(i)});
  return keys;
}

// A status update: build the new immutable object (payload copy included)
// and commit it as the next revision.
void UpdateOne(Store& s, const ObjectKey& key) {
  auto r = s.Update(key, [&](const ObjectPtr& cur, Revision next) -> Result<ObjectPtr> {
    return ObjectPtr(std::make_shared<TestObject>(key, cur->labels(), next, kPayload));
  });
  if (!r.ok()) std::abort();
}

void BM_UpdateStatus(benchmark::State& state) {
  auto s = Filled();
  auto keys = Keys();
  std::size_t i = 0;
  for (auto _ : state) UpdateOne(*s, keys[i++ % kObjects]);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_UpdateStatus);

void BM_Get(benchmark::State& state) {
  auto s = Filled();
  auto keys = Keys();
  std::size_t i = 0;
  for (auto _ : state) {
    auto r = s->Get(keys[(i++ * 7919) % kObjects]);
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Get);

void BM_List1024(benchmark::State& state) {
  auto s = Filled();
  for (auto _ : state) {
    auto r = s->List();
    if (r->items.size() != kObjects) std::abort();
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations() * kObjects);
}
BENCHMARK(BM_List1024);

void BM_List1024Selector(benchmark::State& state) {
  auto s = Filled();
  ListOptions lo;
  lo.selector = *labels::Selector::Parse("nvidia.com/gpu.product in (H100,H200),index");
  for (auto _ : state) {
    auto r = s->List(lo);
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations() * kObjects);
}
BENCHMARK(BM_List1024Selector);

// The state 100 writes ago, rebuilt from history (S9 Exact).
void BM_List1024Exact(benchmark::State& state) {
  auto s = Filled();
  auto keys = Keys();
  for (int i = 0; i < 100; ++i) UpdateOne(*s, keys[i]);
  ListOptions lo;
  lo.exact = true;
  lo.revision = s->CurrentRevision() - 100;
  for (auto _ : state) {
    auto r = s->List(lo);
    if (!r.ok()) std::abort();
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations() * kObjects);
}
BENCHMARK(BM_List1024Exact);

// One write fanned out to 100 watchers, each of which then drains its event:
// the full cost of delivering one change to 100 consumers.
void BM_WriteFanOut100(benchmark::State& state) {
  auto s = Filled();
  auto keys = Keys();
  std::vector<std::shared_ptr<Watcher>> watchers;
  for (int w = 0; w < 100; ++w) {
    WatchOptions wo;
    wo.start = s->CurrentRevision();
    watchers.push_back(*s->Watch(wo));
  }
  std::size_t i = 0;
  Event e;
  for (auto _ : state) {
    UpdateOne(*s, keys[i++ % kObjects]);
    for (auto& w : watchers) {
      if (!w->Next(&e)) std::abort();
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_WriteFanOut100);

// The writer's share only: watchers are drained outside the timed region.
void BM_WriteFanOut100WriterOnly(benchmark::State& state) {
  auto s = Filled();
  auto keys = Keys();
  std::vector<std::shared_ptr<Watcher>> watchers;
  for (int w = 0; w < 100; ++w) {
    WatchOptions wo;
    wo.start = s->CurrentRevision();
    watchers.push_back(*s->Watch(wo));
  }
  std::size_t i = 0;
  Event e;
  for (auto _ : state) {
    UpdateOne(*s, keys[i++ % kObjects]);
    if (i % 512 == 0) {
      state.PauseTiming();
      for (auto& w : watchers) {
        while (w->Next(&e)) {
        }
      }
      state.ResumeTiming();
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_WriteFanOut100WriterOnly);

}  // namespace
}  // namespace deviceapi::store

BENCHMARK_MAIN();
