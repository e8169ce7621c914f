// health-gate: keeps the set of healthy GPUs of a node with an informer and
// prints every change. The shape of a device plugin or DRA driver: never
// poll, react to events, read state from the local cache.
//
//   health-gate [--server unix:///path.sock] [--condition NVMLReady] [--duration SECONDS]
//               [--unknown-after SECONDS]
//
// Prints "healthy: <name>" / "unhealthy: <name> (<reason>)" as GPUs change,
// after "synced: N healthy of M". The cache keeps the last state it saw
// while the server is gone, so every second it checks that the cache still
// follows the server (as the Go client's freshness package does, see
// docs/device-plugin.md); after --unknown-after (5) seconds of failed checks
// it prints "health unknown: <why>" and reports every GPU unhealthy until
// the cache follows the server again.
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <cstdint>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include <deviceapi/conditions.h>
#include <deviceapi/informer.h>

namespace {

std::atomic<bool> g_stop{false};

void OnSignal(int) { g_stop = true; }

// A label selector no object matches: a List with it returns only the
// server's current revision.
constexpr const char* kNoObjects =
    "device-api.nvidia.com/revision-probe,!device-api.nvidia.com/revision-probe";

std::uint64_t ParseRevision(const std::string& rv) {
  return rv.empty() ? 0 : std::strtoull(rv.c_str(), nullptr, 10);
}

// Whether an informer's cache follows its server. The cache is not trusted
// while the server does not answer, and after that until the informer has
// reached the revision the server had when it answered again; nor when the
// informer has neither reached the revision the server had one check ago
// nor moved since. Informer::Stats().last_resource_version moves only once
// the cache holds that revision's state.
class FreshnessCheck {
 public:
  // "" when the cache can be trusted, else why not. Call it periodically.
  std::string Check(deviceapi::Client& client, const deviceapi::Informer& informer,
                    std::chrono::milliseconds timeout) {
    deviceapi::ListOptions probe;
    probe.label_selector = kNoObjects;
    probe.call.timeout = timeout;
    deviceapi::StatusOr<deviceapi::GpuList> list = client.List(probe);
    if (!list.ok()) {
      outage_ = true;
      strict_ = false;
      mark_ = 0;
      return "device API server: " + list.status().ToString();
    }
    const std::uint64_t now = ParseRevision(list->metadata().resource_version());
    if (outage_) {  // nothing cached is known to be the server's state since
      outage_ = false;
      strict_ = true;
      mark_ = now;
    }
    const deviceapi::InformerStats stats = informer.Stats();
    const std::uint64_t have = ParseRevision(stats.last_resource_version);
    const bool moved = have != last_;
    last_ = have;
    if (mark_ != 0 && have < mark_) {
      if (strict_)
        return "the GPU cache is at revision " + std::to_string(have) + ", the server was at " +
               std::to_string(mark_) + " when it answered again";
      if (!moved)
        return "the GPU cache stays at revision " + std::to_string(have) +
               ", the server was at " + std::to_string(mark_) + " one check ago" +
               (stats.last_error.ok() ? "" : " (" + stats.last_error.ToString() + ")");
    }
    // Trusted; it must hold the newest events, still on their way, by the
    // next check.
    strict_ = false;
    mark_ = have < now ? now : 0;
    return "";
  }

 private:
  bool outage_ = false;
  bool strict_ = false;
  std::uint64_t mark_ = 0;  // the revision the cache must reach by the next check
  std::uint64_t last_ = 0;  // the cache's revision at the last check
};

}  // namespace

int main(int argc, char** argv) {
  std::string server, condition = "NVMLReady";  // what nvml-provider publishes
  int duration_s = 0;  // 0: until SIGINT/SIGTERM
  int unknown_after_s = 5;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--server" && i + 1 < argc) server = argv[++i];
    else if (arg == "--condition" && i + 1 < argc) condition = argv[++i];
    else if (arg == "--duration" && i + 1 < argc) duration_s = std::atoi(argv[++i]);
    else if (arg == "--unknown-after" && i + 1 < argc) unknown_after_s = std::atoi(argv[++i]);
    else {
      std::cerr << "usage: health-gate [--server TARGET] [--condition TYPE] [--duration SECONDS]"
                   " [--unknown-after SECONDS]\n";
      return 2;
    }
  }
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);

  deviceapi::ClientOptions options;
  options.target = server;  // empty: $DEVICE_API_SERVER, else the node's socket
  deviceapi::Client client(options);

  // Declared before the informer: its handlers use these until ~Informer
  // (or Stop()) has ended its dispatch thread, also on an early return.
  std::mutex mu;
  std::set<std::string> healthy;  // as the cache says
  bool unknown = false;  // the cache has not followed the server for unknown_after_s
  // Runs on the informer's dispatch thread, one event at a time, in order.
  auto observe = [&](const deviceapi::GpuPtr& gpu, bool deleted) {
    const std::string& name = gpu->metadata().name();
    bool ok = !deleted && deviceapi::IsConditionTrue(gpu->status(), condition);
    std::lock_guard<std::mutex> lock(mu);
    bool was = healthy.count(name) > 0;
    if (ok && !was) {
      healthy.insert(name);
      if (!unknown) std::cout << "healthy: " << name << std::endl;
    } else if (!ok && was) {
      healthy.erase(name);
      if (unknown) return;
      const deviceapi::Condition* c = deviceapi::FindCondition(gpu->status(), condition);
      std::cout << "unhealthy: " << name << " ("
                << (deleted ? "deleted" : c ? c->reason() : "no " + condition + " condition")
                << ")" << std::endl;
    }
  };
  deviceapi::EventHandlers handlers;
  handlers.on_add = [&](const deviceapi::GpuPtr& g) { observe(g, false); };
  handlers.on_update = [&](const deviceapi::GpuPtr&, const deviceapi::GpuPtr& g) { observe(g, false); };
  handlers.on_delete = [&](const deviceapi::GpuPtr& g) { observe(g, true); };
  deviceapi::Informer informer(client);
  informer.AddEventHandlers(handlers);
  informer.Start();

  if (!informer.WaitForSync(std::chrono::seconds(30))) {
    std::cerr << "health-gate: no initial list from the server within 30 s" << std::endl;
    return 1;
  }
  {
    std::lock_guard<std::mutex> lock(mu);
    std::cout << "synced: " << healthy.size() << " healthy of " << informer.lister().Size()
              << std::endl;
  }
  // Every second: does the cache follow the server? A check counts as
  // failed from when it began, so a server that accepts calls but answers
  // none is noticed as soon as one that is gone.
  using Clock = std::chrono::steady_clock;
  const auto unknown_after = std::chrono::seconds(unknown_after_s);
  FreshnessCheck freshness;
  std::optional<Clock::time_point> failing_since;
  auto next_check = Clock::now();
  auto end = Clock::now() + std::chrono::seconds(duration_s);
  while (!g_stop && (duration_s == 0 || Clock::now() < end)) {
    if (Clock::now() >= next_check) {
      const auto began = Clock::now();
      next_check = began + std::chrono::seconds(1);
      std::string why = freshness.Check(client, informer, unknown_after);
      if (why.empty()) failing_since.reset();
      else if (!failing_since) failing_since = began;
      const bool now_unknown = failing_since && Clock::now() - *failing_since >= unknown_after;
      std::lock_guard<std::mutex> lock(mu);
      if (now_unknown && !unknown) {
        std::cout << "health unknown: " << why << std::endl;
        for (const std::string& name : healthy)
          std::cout << "unhealthy: " << name << " (health unknown)" << std::endl;
      } else if (!now_unknown && unknown) {
        std::cout << "health known again" << std::endl;
        for (const std::string& name : healthy) std::cout << "healthy: " << name << std::endl;
      }
      unknown = now_unknown;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  informer.Stop();
  return 0;
}
