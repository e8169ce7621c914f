// health-gate: keeps the set of healthy GPUs of a node with an informer and
// prints every change. The shape of a device plugin or DRA driver: never
// poll, react to events, read state from the local cache.
//
//   health-gate [--server unix:///path.sock] [--condition NVMLReady] [--duration SECONDS]
//
// Prints "healthy: <name>" / "unhealthy: <name> (<reason>)" as GPUs change,
// after "synced: N healthy of M".
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include <deviceapi/conditions.h>
#include <deviceapi/informer.h>

namespace {

std::atomic<bool> g_stop{false};

void OnSignal(int) { g_stop = true; }

}  // namespace

int main(int argc, char** argv) {
  std::string server, condition = "NVMLReady";  // what nvml-provider publishes
  int duration_s = 0;  // 0: until SIGINT/SIGTERM
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--server" && i + 1 < argc) server = argv[++i];
    else if (arg == "--condition" && i + 1 < argc) condition = argv[++i];
    else if (arg == "--duration" && i + 1 < argc) duration_s = std::atoi(argv[++i]);
    else {
      std::cerr << "usage: health-gate [--server TARGET] [--condition TYPE] [--duration SECONDS]\n";
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
  std::set<std::string> healthy;
  // Runs on the informer's dispatch thread, one event at a time, in order.
  auto observe = [&](const deviceapi::GpuPtr& gpu, bool deleted) {
    const std::string& name = gpu->metadata().name();
    bool ok = !deleted && deviceapi::IsConditionTrue(gpu->status(), condition);
    std::lock_guard<std::mutex> lock(mu);
    bool was = healthy.count(name) > 0;
    if (ok && !was) {
      healthy.insert(name);
      std::cout << "healthy: " << name << std::endl;
    } else if (!ok && was) {
      healthy.erase(name);
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
  auto end = std::chrono::steady_clock::now() + std::chrono::seconds(duration_s);
  while (!g_stop && (duration_s == 0 || std::chrono::steady_clock::now() < end))
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  informer.Stop();
  return 0;
}
