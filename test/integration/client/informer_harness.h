// Drives an informer against a real server while writers change objects,
// and checks what the informer's handlers and cache saw.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <google/protobuf/util/message_differencer.h>

#include "deviceapi/conditions.h"
#include "deviceapi/informer.h"
#include "gpu_fixtures.h"

namespace deviceapi::testing {

inline std::uint64_t Rv(const Gpu& g) { return std::stoull(g.metadata().resource_version()); }

// Everything the handlers saw, per object, in delivery order.
class Recorder {
 public:
  EventHandlers Handlers() {
    EventHandlers h;
    h.on_add = [this](const GpuPtr& g) { Record('A', *g); };
    h.on_update = [this](const GpuPtr& old_obj, const GpuPtr& g) {
      std::lock_guard lock(mu_);
      auto& v = seen_[g->metadata().name()];
      if (!v.empty() && v.back().second != Rv(*old_obj))
        problems_.push_back("update of " + g->metadata().name() + ": old rv " +
                            std::to_string(Rv(*old_obj)) + " is not the last delivered " +
                            std::to_string(v.back().second));
      RecordLocked('U', *g);
    };
    h.on_delete = [this](const GpuPtr& g) { Record('D', *g); };
    return h;
  }

  std::vector<std::string> Problems() {
    std::lock_guard lock(mu_);
    return problems_;
  }
  // name -> last delivered (type, rv).
  std::map<std::string, std::pair<char, std::uint64_t>> Last() {
    std::lock_guard lock(mu_);
    std::map<std::string, std::pair<char, std::uint64_t>> out;
    for (const auto& [name, v] : seen_)
      if (!v.empty()) out[name] = v.back();
    return out;
  }
  std::vector<std::uint64_t> Versions(const std::string& name) {
    std::lock_guard lock(mu_);
    std::vector<std::uint64_t> out;
    for (const auto& [t, rv] : seen_[name]) out.push_back(rv);
    return out;
  }
  std::size_t Deliveries() {
    std::lock_guard lock(mu_);
    std::size_t n = 0;
    for (const auto& [name, v] : seen_) n += v.size();
    return n;
  }

 private:
  void Record(char type, const Gpu& g) {
    std::lock_guard lock(mu_);
    RecordLocked(type, g);
  }
  void RecordLocked(char type, const Gpu& g) {
    auto& v = seen_[g.metadata().name()];
    std::uint64_t rv = Rv(g);
    if (!v.empty()) {
      auto [last_type, last_rv] = v.back();
      // A delete found by a relist carries the last known state (same rv);
      // everything else must move strictly forward: no duplicates, in order.
      bool ok = type == 'D' ? rv >= last_rv : rv > last_rv;
      if (!ok)
        problems_.push_back(std::string("out of order or duplicate ") + type + " of " +
                            g.metadata().name() + " rv " + std::to_string(rv) + " after " +
                            last_type + " " + std::to_string(last_rv));
      if (type == 'A' && last_type != 'D')
        problems_.push_back("add of " + g.metadata().name() + " without delete before");
      if (type != 'A' && last_type == 'D')
        problems_.push_back(std::string(1, type) + " of deleted " + g.metadata().name());
    } else if (type != 'A') {
      problems_.push_back(std::string("first event of ") + g.metadata().name() + " is " + type);
    }
    v.emplace_back(type, rv);
  }

  std::mutex mu_;
  std::map<std::string, std::vector<std::pair<char, std::uint64_t>>> seen_;
  std::vector<std::string> problems_;
};

// Writers changing `objects` GPUs' status (and now and then deleting and
// re-creating one) until stopped; records every acknowledged version.
class Writers {
 public:
  Writers(Client& client, int objects, int threads, int recreate_every = 40)
      : client_(client), objects_(objects), recreate_every_(recreate_every) {
    for (int i = 0; i < objects_; ++i) {
      StatusOr<Gpu> g = client_.Create(MakeGpu(Name(i), i));
      EXPECT_TRUE(g.ok()) << g.status().ToString();
      if (g.ok()) Ack(*g);
    }
    for (int t = 0; t < threads; ++t)
      threads_.emplace_back([this, t, threads] { Loop(t, threads); });
  }
  ~Writers() { Stop(); }

  void Stop() {
    stop_ = true;
    for (auto& t : threads_)
      if (t.joinable()) t.join();
  }

  static std::string Name(int i) { return "gpu-" + std::to_string(i); }
  std::uint64_t writes() const { return writes_; }
  std::map<std::string, std::vector<std::uint64_t>> Acked() {
    std::lock_guard lock(mu_);
    return acked_;
  }

 private:
  void Ack(const Gpu& g) {
    std::lock_guard lock(mu_);
    acked_[g.metadata().name()].push_back(Rv(g));
  }

  void Loop(int t, int threads) {
    std::uint64_t n = 0;
    while (!stop_) {
      for (int i = t; i < objects_ && !stop_; i += threads) {
        ++n;
        std::string name = Name(i);
        if (recreate_every_ > 0 && n % recreate_every_ == 0) {
          (void)client_.Delete(name);
          StatusOr<Gpu> g = client_.Create(MakeGpu(name, i));
          if (g.ok()) Ack(*g);
          continue;
        }
        Gpu g = MakeGpu(name, i);
        SetCondition(g.mutable_status(),
                     MakeCondition("Ready", kConditionTrue, "Counting", "write " + std::to_string(n)));
        StatusOr<Gpu> out = client_.UpdateStatus(g);
        if (out.ok()) {
          Ack(*out);
          ++writes_;
        } else if (out.status().IsNotFound()) {
          StatusOr<Gpu> c = client_.Create(MakeGpu(name, i));
          if (c.ok()) Ack(*c);
        } else {
          std::this_thread::sleep_for(std::chrono::milliseconds(5));  // server restarting
        }
      }
    }
  }

  Client& client_;
  const int objects_;
  const int recreate_every_;
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> writes_{0};
  std::mutex mu_;
  std::map<std::string, std::vector<std::uint64_t>> acked_;
  std::vector<std::thread> threads_;
};

// Waits until the informer's cache and the handlers' last deliveries equal
// the server's List; then asserts full equality. Returns the server list.
inline GpuList ExpectConverged(Client& direct, Informer& informer, Recorder& recorder,
                               std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  GpuList list;
  while (true) {
    StatusOr<GpuList> l = direct.List();
    if (l.ok()) {
      list = *l;
      bool same = informer.lister().Size() == static_cast<std::size_t>(list.items_size());
      auto last = recorder.Last();
      for (const auto& g : list.items()) {
        GpuPtr cached = informer.lister().Get(g.metadata().name(), g.metadata().namespace_());
        auto it = last.find(g.metadata().name());
        if (!cached || Rv(*cached) != Rv(g) || it == last.end() || it->second.second != Rv(g) ||
            it->second.first == 'D')
          same = false;
      }
      for (const auto& [name, tv] : last) {
        bool present = false;
        for (const auto& g : list.items()) present |= g.metadata().name() == name;
        if (!present && tv.first != 'D') same = false;
      }
      if (same) break;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      ADD_FAILURE() << "informer did not converge; cache size " << informer.lister().Size()
                    << " server " << list.items_size();
      return list;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  for (const auto& g : list.items()) {
    GpuPtr cached = informer.lister().Get(g.metadata().name(), g.metadata().namespace_());
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(*cached, g))
        << g.metadata().name();
  }
  return list;
}

// Every version acknowledged after the informer's first view of an object
// was delivered (no gaps). Versions before that were folded into the
// initial list, as they must be.
inline void ExpectNoGaps(Writers& writers, Recorder& recorder) {
  for (const auto& [name, acked] : writers.Acked()) {
    auto seen = recorder.Versions(name);
    ASSERT_FALSE(seen.empty()) << name;
    for (std::uint64_t rv : acked) {
      if (rv <= seen.front()) continue;
      EXPECT_TRUE(std::binary_search(seen.begin(), seen.end(), rv))
          << name << " version " << rv << " was never delivered";
    }
  }
}

}  // namespace deviceapi::testing
