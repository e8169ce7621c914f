#include "bench/watch_fleet.h"

#include <algorithm>
#include <charconv>

namespace deviceapi::bench {

namespace {
// Streams per connection: well below the usual server limit of 100 streams
// per connection, so that limit never queues a watch.
constexpr int kWatchersPerConnection = 32;

bool ParseRevision(const std::string& s, std::uint64_t* out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}
}  // namespace

class WatchFleet::Watcher : public grpc::ClientReadReactor<v1::WatchGpusResponse> {
 public:
  struct Seen {
    std::uint64_t revision;
    std::int64_t at_ns;
  };

  void Begin(v1::GpuService::Stub* stub, const std::string& ns, const std::string& rv) {
    request_.set_namespace_(ns);
    request_.mutable_opts()->set_resource_version(rv);
    stub->async()->WatchGpus(&context_, &request_, this);
    StartRead(&response_);
    StartCall();
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // OnDone follows
    std::int64_t now = NowNs();
    const std::string& type = response_.type();
    if (type != "BOOKMARK") {
      std::uint64_t rev = 0;
      std::lock_guard<std::mutex> lock(mu_);
      if (type == "ERROR" || !ParseRevision(response_.object().metadata().resource_version(), &rev)) {
        ++bad_;
      } else {
        if (rev <= last_) ++duplicated_;
        else last_ = rev;
        seen_.push_back({rev, now});
      }
      cv_.notify_all();
    }
    StartRead(&response_);
  }

  void OnDone(const grpc::Status& s) override {
    std::lock_guard<std::mutex> lock(mu_);
    status_ = s;
    done_ = true;
    cv_.notify_all();
  }

  void Cancel() { context_.TryCancel(); }

  bool WaitReached(std::uint64_t rev, std::chrono::steady_clock::time_point until) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_until(lock, until, [&] { return done_ || last_ >= rev; });
  }
  void WaitDone() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return done_; });
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Seen> seen_;
  std::uint64_t last_ = 0, duplicated_ = 0, bad_ = 0;
  bool done_ = false;
  bool cancelled_ = false;
  grpc::Status status_;

 private:
  grpc::ClientContext context_;
  v1::WatchGpusRequest request_;
  v1::WatchGpusResponse response_;
};

WatchFleet::WatchFleet(const std::string& target, std::string ns, int count,
                       std::string start_revision)
    : ns_(std::move(ns)), start_revision_(std::move(start_revision)) {
  int conns = (count + kWatchersPerConnection - 1) / kWatchersPerConnection;
  for (int i = 0; i < conns; ++i) connections_.push_back(std::make_unique<Connection>(target, true));
  for (int i = 0; i < count; ++i) watchers_.push_back(std::make_unique<Watcher>());
}

WatchFleet::~WatchFleet() { Stop(); }

void WatchFleet::Start() {
  for (std::size_t i = 0; i < watchers_.size(); ++i) {
    auto& conn = connections_[i / kWatchersPerConnection];
    watchers_[i]->Begin(conn->gpus.get(), ns_, start_revision_);
  }
}

bool WatchFleet::WaitAllReached(std::uint64_t revision, std::chrono::milliseconds timeout) {
  auto until = std::chrono::steady_clock::now() + timeout;
  bool all = true;
  for (auto& w : watchers_) all = w->WaitReached(revision, until) && all;
  return all;
}

void WatchFleet::Stop() {
  if (stopped_) return;
  stopped_ = true;
  for (auto& w : watchers_) {
    std::lock_guard<std::mutex> lock(w->mu_);
    w->cancelled_ = !w->done_;
  }
  for (auto& w : watchers_) w->Cancel();
  for (auto& w : watchers_) w->WaitDone();
}

DeliveryReport WatchFleet::Verify(const std::vector<AckedWrite>& writes) {
  DeliveryReport rep;
  std::uint64_t start = 0;
  ParseRevision(start_revision_, &start);
  std::unordered_map<std::uint64_t, const AckedWrite*> by_rev;
  by_rev.reserve(writes.size());
  for (auto& w : writes)
    if (w.revision > start) by_rev[w.revision] = &w;
  LatencyRecorder from_ack, from_send;
  from_ack.Reserve(writes.size() * watchers_.size());
  from_send.Reserve(writes.size() * watchers_.size());
  for (auto& w : watchers_) {
    std::lock_guard<std::mutex> lock(w->mu_);
    rep.duplicated += w->duplicated_;
    rep.bad_revision += w->bad_;
    if (w->done_ && !w->cancelled_) {
      ++rep.ended_early;
      if (rep.first_end_status.empty()) rep.first_end_status = Describe(w->status_);
    }
    std::size_t matched = 0;
    for (auto& s : w->seen_) {
      auto it = by_rev.find(s.revision);
      if (it == by_rev.end()) continue;  // another client's write, or a duplicate
      ++matched;
      from_ack.Add(std::max<std::int64_t>(0, s.at_ns - it->second->acked_ns));
      from_send.Add(s.at_ns - it->second->sent_ns);
    }
    rep.delivered += matched;
    std::vector<std::uint64_t> revs;
    revs.reserve(w->seen_.size());
    for (auto& s : w->seen_) revs.push_back(s.revision);
    std::sort(revs.begin(), revs.end());
    revs.erase(std::unique(revs.begin(), revs.end()), revs.end());
    for (auto& [rev, _] : by_rev)
      if (!std::binary_search(revs.begin(), revs.end(), rev)) ++rep.lost;
  }
  rep.from_ack = from_ack.Summarize();
  rep.from_send = from_send.Summarize();
  return rep;
}

}  // namespace deviceapi::bench
