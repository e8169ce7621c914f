#include "workload.h"

#include <algorithm>
#include <charconv>
#include <map>
#include <random>

namespace deviceapi::consistency {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kCallTimeout = std::chrono::seconds(5);
constexpr auto kRetryPause = std::chrono::milliseconds(50);

void Deadline(grpc::ClientContext* ctx) { ctx->set_deadline(std::chrono::system_clock::now() + kCallTimeout); }

Observed ObservedOf(const v1::Gpu& gpu) {
  return {gpu.metadata().name(), RevisionOf(gpu.metadata().resource_version()), CounterOf(gpu)};
}

CounterOp ReadOp(const Observed& seen, std::int64_t call, std::int64_t ret, const std::string& who) {
  return {CounterOp::Kind::kRead, CounterOp::Outcome::kOk, seen.counter, call, ret,
          who + " read rv " + std::to_string(seen.rv)};
}

}  // namespace

std::int64_t CounterOf(const v1::Gpu& gpu) {
  for (const auto& c : gpu.status().conditions()) {
    if (c.type() != kCounterCondition) continue;
    std::int64_t value = -1;
    const std::string& m = c.message();
    auto [end, ec] = std::from_chars(m.data(), m.data() + m.size(), value);
    return ec == std::errc() && end == m.data() + m.size() ? value : -1;
  }
  return 0;
}

std::uint64_t RevisionOf(const std::string& resource_version) {
  std::uint64_t value = 0;
  std::from_chars(resource_version.data(), resource_version.data() + resource_version.size(), value);
  return value;
}

std::int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

std::shared_ptr<grpc::Channel> WorkloadChannel(const std::string& socket, bool small_window) {
  grpc::ChannelArguments args;
  // Back within a fraction of a second after a server restart.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 50);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 50);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 250);
  // One connection per client (no sharing of a subchannel between them).
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  if (small_window) {
    // A paused reader then holds little in transport buffers, so the
    // server's queue for it overflows soon (S16).
    args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
    args.SetInt(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 16 << 10);
  }
  return grpc::CreateCustomChannel("unix://" + socket, grpc::InsecureChannelCredentials(), args);
}

Workload::Workload(WorkloadOptions options, History* history)
    : options_(std::move(options)), history_(history) {}

Workload::~Workload() { Stop(); }

void Workload::Start() {
  for (int i = 0; i < options_.writers; ++i) threads_.emplace_back([this, i] { Writer(i); });
  for (int i = 0; i < options_.readers; ++i) threads_.emplace_back([this, i] { Reader(i); });
  for (int i = 0; i < options_.steady_watchers; ++i) {
    threads_.emplace_back([this, i] { Watcher("steady-" + std::to_string(i), "", false, true); });
  }
  for (int i = 0; i < options_.slow_watchers; ++i) {
    threads_.emplace_back([this, i] { Watcher("slow-" + std::to_string(i), "", true, false); });
  }
  for (int i = 0; i < options_.selector_watchers; ++i) {
    threads_.emplace_back(
        [this, i] { Watcher("selector-" + std::to_string(i), options_.selector, false, true); });
  }
}

void Workload::Stop() {
  stop_.store(true);
  {
    std::lock_guard<std::mutex> lock(contexts_mu_);
    for (grpc::ClientContext* ctx : contexts_) ctx->TryCancel();
  }
  for (auto& t : threads_) t.join();
  threads_.clear();
}

void Workload::Writer(int id) {
  const std::string who = "writer-" + std::to_string(id);
  auto stub = v1::GpuService::NewStub(WorkloadChannel(options_.socket, false));
  std::mt19937 rng(static_cast<unsigned>(id) + 1);
  std::map<std::string, Observed> known;  // what this writer last read or wrote
  const std::string padding(1024, 'x');
  while (!Stopping()) {
    const std::string& key = options_.keys[rng() % options_.keys.size()];
    auto it = known.find(key);
    if (it == known.end()) {
      v1::GetGpuRequest req;
      req.set_name(key);
      v1::GetGpuResponse res;
      grpc::ClientContext ctx;
      Deadline(&ctx);
      const std::int64_t call = NowNs();
      grpc::Status s = stub->GetGpu(&ctx, req, &res);
      if (!s.ok()) {
        std::this_thread::sleep_for(kRetryPause);
        continue;
      }
      Observed seen = ObservedOf(res.gpu());
      history_->AddOp(key, ReadOp(seen, call, NowNs(), who));
      history_->AddRead(who, seen);
      it = known.emplace(key, seen).first;
    }
    const Observed before = it->second;
    known.erase(it);
    v1::UpdateGpuStatusRequest req;
    auto* gpu = req.mutable_gpu();
    gpu->mutable_metadata()->set_name(key);
    gpu->mutable_metadata()->set_resource_version(std::to_string(before.rv));
    auto* counter = gpu->mutable_status()->add_conditions();
    counter->set_type(kCounterCondition);
    counter->set_status("True");
    counter->set_reason("Counted");
    counter->set_message(std::to_string(before.counter + 1));
    auto* pad = gpu->mutable_status()->add_conditions();
    pad->set_type(kPaddingCondition);
    pad->set_status("True");
    pad->set_reason("Padding");
    pad->set_message(padding);
    v1::Gpu res;
    grpc::ClientContext ctx;
    Deadline(&ctx);
    CounterOp op{CounterOp::Kind::kCas, CounterOp::Outcome::kOk, before.counter, NowNs(), 0,
                 who + " cas rv " + std::to_string(before.rv)};
    grpc::Status s = stub->UpdateGpuStatus(&ctx, req, &res);
    op.return_ns = NowNs();
    if (s.ok()) {
      const Observed written = ObservedOf(res);
      op.label += " -> " + std::to_string(written.rv);
      history_->AddAckedWrite(written);
      known[key] = written;
      std::uint64_t prev = highest_acked_.load();
      while (prev < written.rv && !highest_acked_.compare_exchange_weak(prev, written.rv)) {
      }
    } else if (s.error_code() == grpc::StatusCode::ABORTED) {
      op.outcome = CounterOp::Outcome::kFailed;
    } else {
      op.outcome = CounterOp::Outcome::kUnknown;
      history_->AddUnknownWrite(key);
      std::this_thread::sleep_for(kRetryPause);
    }
    history_->AddOp(key, std::move(op));
    std::this_thread::sleep_for(options_.writer_pause);
  }
}

void Workload::Reader(int id) {
  const std::string who = "reader-" + std::to_string(id);
  auto stub = v1::GpuService::NewStub(WorkloadChannel(options_.socket, false));
  std::mt19937 rng(static_cast<unsigned>(id) + 100);
  while (!Stopping()) {
    const unsigned choice = rng() % 10;
    const std::uint64_t acked = highest_acked_.load();
    grpc::ClientContext ctx;
    Deadline(&ctx);
    grpc::Status s;
    if (choice < 6) {
      // Get, at the latest acknowledged write's revision every other time (S9).
      const std::string& key = options_.keys[rng() % options_.keys.size()];
      const std::uint64_t at = choice % 2 == 0 ? acked : 0;
      v1::GetGpuRequest req;
      req.set_name(key);
      if (at != 0) req.mutable_opts()->set_resource_version(std::to_string(at));
      v1::GetGpuResponse res;
      const std::int64_t call = NowNs();
      s = stub->GetGpu(&ctx, req, &res);
      if (s.ok()) {
        const Observed seen = ObservedOf(res.gpu());
        history_->AddOp(key, ReadOp(seen, call, NowNs(), who));
        history_->AddRead(who, seen);
        if (at != 0) history_->AddGetAt({who, at, seen});
      }
    } else {
      // List: current (S8), at the latest acknowledged revision (S9), or
      // exactly at an earlier one (S9 Exact).
      v1::ListGpusRequest req;
      ListRecord list;
      list.who = who;
      if (choice == 7) list.asked = acked;
      if (choice >= 8 && acked > 20) {
        list.asked = acked - rng() % 20;
        list.exact = true;
        req.mutable_opts()->set_resource_version_match("Exact");
      }
      if (list.asked != 0) req.mutable_opts()->set_resource_version(std::to_string(list.asked));
      v1::ListGpusResponse res;
      const std::int64_t call = NowNs();
      s = stub->ListGpus(&ctx, req, &res);
      if (s.ok()) {
        const std::int64_t ret = NowNs();
        list.revision = RevisionOf(res.gpu_list().metadata().resource_version());
        for (const auto& gpu : res.gpu_list().items()) {
          list.items.push_back(ObservedOf(gpu));
          if (!list.exact) history_->AddOp(gpu.metadata().name(), ReadOp(list.items.back(), call, ret, who + " list"));
        }
        history_->AddList(std::move(list));
      }
    }
    // An exact list may find its revision compacted away; nothing else fails
    // but for a restart.
    if (!s.ok() && s.error_code() != grpc::StatusCode::OUT_OF_RANGE) std::this_thread::sleep_for(kRetryPause);
    std::this_thread::sleep_for(options_.reader_pause);
  }
}

void Workload::Watcher(const std::string& name, const std::string& selector, bool slow, bool rotate) {
  auto stub = v1::GpuService::NewStub(WorkloadChannel(options_.socket, slow));
  std::mt19937 rng(static_cast<unsigned>(std::hash<std::string>()(name)));
  WatcherRecord record;
  record.name = record.list.who = name;
  record.selector = selector;
  // List first (S10), retrying while the server is away.
  while (!Stopping()) {
    v1::ListGpusRequest req;
    req.mutable_opts()->set_label_selector(selector);
    v1::ListGpusResponse res;
    grpc::ClientContext ctx;
    Deadline(&ctx);
    if (stub->ListGpus(&ctx, req, &res).ok()) {
      record.list.revision = RevisionOf(res.gpu_list().metadata().resource_version());
      for (const auto& gpu : res.gpu_list().items()) record.list.items.push_back(ObservedOf(gpu));
      break;
    }
    std::this_thread::sleep_for(kRetryPause);
  }
  std::uint64_t from = record.list.revision;
  while (!Stopping() && from != 0) {
    WatchSegment segment;
    segment.from = from;
    grpc::ClientContext ctx;
    if (rotate) {
      // End our own stream after a while and resume (S12).
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(1000 + rng() % 2000));
    }
    {
      std::lock_guard<std::mutex> lock(contexts_mu_);
      if (Stopping()) break;
      contexts_.push_back(&ctx);
    }
    v1::WatchGpusRequest req;
    req.mutable_opts()->set_resource_version(std::to_string(from));
    req.mutable_opts()->set_label_selector(selector);
    auto reader = stub->WatchGpus(&ctx, req);
    v1::WatchGpusResponse ev;
    int since_nap = 0;
    while (reader->Read(&ev)) {
      if (ev.type() == "BOOKMARK") continue;
      segment.events.push_back({ev.type(), ObservedOf(ev.object())});
      from = segment.events.back().object.rv;
      if (slow && ++since_nap == 20) {
        since_nap = 0;
        std::this_thread::sleep_for(options_.slow_pause);
      }
    }
    grpc::Status s = reader->Finish();
    {
      std::lock_guard<std::mutex> lock(contexts_mu_);
      contexts_.erase(std::find(contexts_.begin(), contexts_.end(), &ctx));
    }
    segment.code = s.error_code();
    segment.message = s.error_message();
    record.segments.push_back(std::move(segment));
    if (s.error_code() == grpc::StatusCode::OUT_OF_RANGE) break;  // too old: a check fails
    if (s.error_code() == grpc::StatusCode::UNAVAILABLE) std::this_thread::sleep_for(kRetryPause);
  }
  history_->AddWatcher(std::move(record));
}

}  // namespace deviceapi::consistency
