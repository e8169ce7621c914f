#include "bench/watch_fleet.h"

#include <algorithm>
#include <charconv>
#include <string_view>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>
#include <grpcpp/support/client_callback.h>
#include <grpcpp/impl/rpc_method.h>

#include "bench/objects.h"

namespace deviceapi::bench {

namespace {
// Streams per connection: well below the usual server limit of 100 streams
// per connection, so that limit never queues a watch.
constexpr int kWatchersPerConnection = 32;

bool ParseRevision(std::string_view s, std::uint64_t* out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

// The last occurrence of length-delimited field `field` in message `msg`
// (protobuf's rule for a repeated non-repeated field); false if absent or
// malformed. Protobuf's own coded stream reads the wire format.
bool FindField(std::string_view msg, int field, std::string_view* out) {
  using google::protobuf::internal::WireFormatLite;
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const std::uint8_t*>(msg.data()),
                                            static_cast<int>(msg.size()));
  bool found = false;
  while (true) {
    const std::uint32_t tag = in.ReadTag();
    if (tag == 0) return in.ConsumedEntireMessage() && found;  // the end, or not a tag
    if (tag != WireFormatLite::MakeTag(field, WireFormatLite::WIRETYPE_LENGTH_DELIMITED)) {
      if (!WireFormatLite::SkipField(&in, tag)) return false;
      continue;
    }
    std::uint32_t length = 0;
    if (!in.ReadVarint32(&length)) return false;
    const auto begin = static_cast<std::size_t>(in.CurrentPosition());
    if (!in.Skip(static_cast<int>(length))) return false;  // a negative count is refused too
    *out = msg.substr(begin, length);
    found = true;
  }
}

// WatchGpusResponse{type = 1, object = 2 {metadata = 1 {resource_version = 2}}},
// read from the wire bytes: watchers never build the whole object, so a
// fleet of them costs the client little and the server stays the bottleneck.
bool DecodeEvent(const grpc::ByteBuffer& buffer, std::string* scratch, std::string_view* type,
                 std::string_view* revision) {
  std::vector<grpc::Slice> slices;
  if (!buffer.Dump(&slices).ok()) return false;
  scratch->clear();
  for (auto& s : slices) scratch->append(reinterpret_cast<const char*>(s.begin()), s.size());
  std::string_view msg(*scratch), object, meta;
  *type = {};
  *revision = {};
  FindField(msg, 1, type);
  return FindField(msg, 2, &object) && FindField(object, 1, &meta) && FindField(meta, 2, revision);
}
}  // namespace

class WatchFleet::Watcher : public grpc::ClientReadReactor<grpc::ByteBuffer> {
 public:
  struct Seen {
    std::uint64_t revision;
    std::int64_t at_ns;
  };

  void Begin(grpc::Channel* channel, const std::string& ns, const std::string& rv,
             std::uint64_t floor) {
    request_ = WatchRequest(ns, rv);
    floor_ = floor;
    // The generated stub's call, with the response left as bytes.
    grpc::internal::RpcMethod method("/nvidia.nvsentinel.v1alpha1.GpuService/WatchGpus",
                                     grpc::internal::RpcMethod::SERVER_STREAMING);
    grpc::internal::ClientCallbackReaderFactory<grpc::ByteBuffer>::Create(
        channel, method, &context_, &request_, this);
    StartRead(&response_);
    StartCall();
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // OnDone follows
    std::int64_t now = NowNs();
    std::string_view type, revision;
    bool decoded = DecodeEvent(response_, &scratch_, &type, &revision);
    if (type != "BOOKMARK") {
      std::uint64_t rev = 0;
      std::lock_guard<std::mutex> lock(mu_);
      if (!decoded || type == "ERROR" || !ParseRevision(revision, &rev)) {
        ++bad_;
      } else if (rev <= floor_) {
        // The initial events of a watch from now: state, not a write of ours.
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
  grpc::ByteBuffer response_;
  std::string scratch_;
  std::uint64_t floor_ = 0;
};

bool WatchResumesFromRevision(Connection& c, const std::string& ns, const std::string& revision,
                              std::string* why) {
  grpc::ClientContext ctx;
  SetDeadline(&ctx, std::chrono::milliseconds(300));
  auto reader = c.gpus->WatchGpus(&ctx, WatchRequest(ns, revision));
  v1::WatchGpusResponse event;
  const bool got_event = reader->Read(&event);
  if (got_event) ctx.TryCancel();
  const grpc::Status s = reader->Finish();
  if (got_event || s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) return true;
  *why = Describe(s);
  return false;
}

WatchFleet::WatchFleet(const std::string& target, std::string ns, int count,
                       std::string start_revision, bool from_revision)
    : ns_(std::move(ns)), start_revision_(std::move(start_revision)), from_revision_(from_revision) {
  int conns = (count + kWatchersPerConnection - 1) / kWatchersPerConnection;
  for (int i = 0; i < conns; ++i) connections_.push_back(std::make_unique<Connection>(target, true));
  for (int i = 0; i < count; ++i) watchers_.push_back(std::make_unique<Watcher>());
}

WatchFleet::~WatchFleet() { Stop(); }

void WatchFleet::Start() {
  std::uint64_t floor = 0;
  ParseRevision(start_revision_, &floor);
  for (std::size_t i = 0; i < watchers_.size(); ++i) {
    auto& conn = connections_[i / kWatchersPerConnection];
    watchers_[i]->Begin(conn->channel.get(), ns_, from_revision_ ? start_revision_ : "", floor);
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
