#include "fake_model.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

namespace fakenvml {

using nlohmann::json;

Model& TheModel() {
  // A static object, not a leaked pointer: the library may be dlclose()d and
  // loaded again (tests do), and leak checkers must not see it as lost.
  static Model m;
  return m;
}

namespace {
uint64_t SplitMix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// DGX H100 bus numbers, then a simple pattern beyond eight GPUs.
unsigned int BusFor(unsigned int i) {
  static const unsigned int kBus[] = {0x18, 0x2a, 0x3a, 0x5d, 0x9a, 0xab, 0xba, 0xdb};
  return i < 8 ? kBus[i] : 0x100 + i;
}

constexpr unsigned long long kAllEvents = nvmlEventTypeXidCriticalError | nvmlEventTypeSingleBitEccError |
                                          nvmlEventTypeDoubleBitEccError | nvmlEventTypeGpuUnavailableError |
                                          nvmlEventTypeGpuRecoveryAction;

unsigned long long EventMask(const json& j) {
  if (j.is_number_unsigned()) return j.get<unsigned long long>();
  unsigned long long m = 0;
  for (auto& n : j) {
    auto s = n.get<std::string>();
    if (s == "xid") m |= nvmlEventTypeXidCriticalError;
    else if (s == "sbe") m |= nvmlEventTypeSingleBitEccError;
    else if (s == "dbe") m |= nvmlEventTypeDoubleBitEccError;
    else if (s == "unavailable") m |= nvmlEventTypeGpuUnavailableError;
    else if (s == "recovery") m |= nvmlEventTypeGpuRecoveryAction;
    else throw std::runtime_error("unknown event type '" + s + "'");
  }
  return m;
}
}  // namespace

std::string MakeUuid(uint64_t seed, unsigned int index) {
  uint64_t a = SplitMix(seed * 1315423911ULL + index), b = SplitMix(a ^ 0x5bd1e995ULL);
  char buf[64];
  snprintf(buf, sizeof buf, "GPU-%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(a >> 32),
           static_cast<unsigned>((a >> 16) & 0xffff), static_cast<unsigned>(a & 0xffff),
           static_cast<unsigned>(b >> 48), static_cast<unsigned long long>(b & 0xffffffffffffULL));
  return buf;
}

FakeGpu* Model::Gpu(nvmlDevice_t d) {
  for (auto& g : gpus)
    if (reinterpret_cast<nvmlDevice_t>(g.get()) == d) return g.get();
  return nullptr;
}

void Model::Emit(FakeGpu* g, unsigned long long type, unsigned long long data) {
  for (auto& s : sets_owner) {
    auto it = s->registered.find(g);
    if (it == s->registered.end() || !(it->second & type)) continue;
    nvmlEventData_t d{};
    d.device = reinterpret_cast<nvmlDevice_t>(g);
    d.eventType = type;
    d.eventData = data;
    d.gpuInstanceId = 0xFFFFFFFF;
    d.computeInstanceId = 0xFFFFFFFF;
    s->queue.push_back(d);
  }
  cv.notify_all();
}

void Model::OnCall(const char* fn) {
  if (!xid_on_call || xid_on_call->call != fn) return;
  const XidOnCall x = *xid_on_call;
  xid_on_call.reset();
  if (x.gpu < gpus.size()) Emit(gpus[x.gpu].get(), nvmlEventTypeXidCriticalError, x.xid);
}

nvmlReturn_t Model::Configure(std::string* error) {
  std::lock_guard<std::mutex> lk(mu);
  gpus.clear();
  not_supported.clear();
  failing.clear();
  xid_on_call.reset();
  json sc = json::object();
  if (const char* path = getenv("FAKE_NVML_SCENARIO"); path && *path) {
    std::ifstream in(path);
    if (!in) {
      *error = std::string("scenario ") + path + ": cannot open";
      return NVML_ERROR_UNKNOWN;
    }
    sc = json::parse(in, nullptr, false);
    if (sc.is_discarded() || !sc.is_object()) {
      *error = std::string("scenario ") + path + ": not a JSON object";
      return NVML_ERROR_UNKNOWN;
    }
  }
  try {
    unsigned int n = 8;
    if (const char* env = getenv("FAKE_NVML_GPUS"); env && *env) n = static_cast<unsigned>(std::stoul(env));
    uint64_t seed = sc.value("seed", 1ULL);
    std::string product = sc.value("product", std::string("NVIDIA H100 80GB HBM3"));
    unsigned long long mem = sc.value("memory_total_bytes", 85520809984ULL);
    json overrides = json::array();
    if (sc.contains("gpus")) {
      if (sc["gpus"].is_number_unsigned()) n = sc["gpus"].get<unsigned>();
      else if (sc["gpus"].is_array()) { overrides = sc["gpus"]; n = static_cast<unsigned>(overrides.size()); }
      else throw std::runtime_error("'gpus' must be a count or an array");
    }
    if (n > 1024) throw std::runtime_error("more than 1024 GPUs");
    driver_version = sc.value("driver_version", driver_version);
    cuda_driver_version = sc.value("cuda_driver_version", cuda_driver_version);
    init_error = sc.value("init_error", 0);
    if (sc.contains("not_supported"))
      for (auto& f : sc["not_supported"]) not_supported.insert(f.get<std::string>());
    if (sc.contains("fail"))
      for (auto& [fn, code] : sc["fail"].items()) failing[fn] = static_cast<nvmlReturn_t>(code.get<int>());
    if (sc.contains("xid_on_call")) {
      const json& x = sc["xid_on_call"];
      xid_on_call = XidOnCall{x.at("call").get<std::string>(), x.at("gpu").get<unsigned>(),
                              x.at("xid").get<unsigned long long>()};
    }
    unsigned long long events = sc.contains("supported_events") ? EventMask(sc["supported_events"]) : kAllEvents;
    for (unsigned int i = 0; i < n; ++i) {
      auto g = std::make_unique<FakeGpu>();
      g->index = i;
      g->uuid = MakeUuid(seed, i);
      g->name = product;
      char buf[64];
      snprintf(buf, sizeof buf, "%013llu", 1654922000000ULL + seed * 1000 + i);
      g->serial = buf;
      g->pci_bus = BusFor(i);
      snprintf(buf, sizeof buf, "00000000:%02X:00.0", g->pci_bus);
      g->pci_bus_id = buf;
      g->vbios = "96.00.99.00.01";
      g->part_number = "692-2G520-0200-000";
      g->memory_total = mem;
      g->supported_events = events;
      if (i < overrides.size()) {
        const json& o = overrides[i];
        if (!o.is_object()) throw std::runtime_error("gpus[" + std::to_string(i) + "] must be an object");
        g->uuid = o.value("uuid", g->uuid);
        g->name = o.value("name", g->name);
        g->serial = o.value("serial", g->serial);
        g->memory_total = o.value("memory_total_bytes", g->memory_total);
        g->architecture = o.value("architecture", g->architecture);
        g->volatile_dbe = o.value("volatile_dbe", 0ULL);
        g->retired_pages_pending = o.value("retired_pages_pending", false);
        g->remap_pending = o.value("remap_pending", false);
        g->remap_failure = o.value("remap_failure", false);
        g->recovery_action = o.value("recovery_action", 0U);
        g->lost = o.value("lost", false);
        if (o.contains("supported_events")) g->supported_events = EventMask(o["supported_events"]);
      }
      gpus.push_back(std::move(g));
    }
  } catch (const std::exception& e) {
    gpus.clear();
    *error = std::string("scenario: ") + e.what();
    return NVML_ERROR_UNKNOWN;
  }
  return init_error;
}

std::string Model::Apply(const std::string& line) {
  std::lock_guard<std::mutex> lk(mu);
  try {
    return ApplyLocked(line);
  } catch (const std::exception& e) {
    return std::string("error: ") + e.what();
  }
}

std::string Model::ApplyLocked(const std::string& line) {
  json c = json::parse(line, nullptr, false);
  if (c.is_discarded() || !c.is_object()) return "error: not a JSON object";
  std::string op = c.value("op", std::string());
  if (op == "ping") return "ok";
  if (op == "unsupported") {
    std::string fn = c.at("call").get<std::string>();
    if (c.value("on", true)) not_supported.insert(fn); else not_supported.erase(fn);
    return "ok";
  }
  if (op == "fail") {  // {"op":"fail","call":"nvmlDeviceGetRemappedRows","code":999}; "on":false ends it
    std::string fn = c.at("call").get<std::string>();
    if (!c.value("on", true)) failing.erase(fn);
    else failing[fn] = static_cast<nvmlReturn_t>(c.at("code").get<int>());
    return "ok";
  }
  if (op == "state") {
    json out = json::array();
    for (auto& g : gpus)
      out.push_back({{"index", g->index}, {"uuid", g->uuid}, {"lost", g->lost}, {"volatile_dbe", g->volatile_dbe},
                     {"recovery_action", g->recovery_action}});
    return out.dump();
  }
  int64_t idx = c.value("gpu", int64_t{-1});
  if (idx < 0 || idx >= static_cast<int64_t>(gpus.size())) return "error: no such gpu";
  FakeGpu* g = gpus[idx].get();
  if (op == "xid_on_call") {  // as the scenario's "xid_on_call", from now: {"call":..,"gpu":..,"xid":..}
    xid_on_call = XidOnCall{c.at("call").get<std::string>(), static_cast<unsigned>(idx),
                            c.at("xid").get<unsigned long long>()};
    return "ok";
  }
  if (op == "xid") {
    int64_t x = c.at("xid").get<int64_t>();
    if (x < 0 || x > 0xFFFFFFFFLL) return "error: bad xid";
    Emit(g, nvmlEventTypeXidCriticalError, static_cast<unsigned long long>(x));
    return "ok";
  }
  if (op == "ecc") {
    std::string kind = c.value("kind", std::string("dbe"));
    if (kind == "dbe") { g->volatile_dbe++; Emit(g, nvmlEventTypeDoubleBitEccError, 0); }
    else if (kind == "sbe") { g->volatile_sbe++; Emit(g, nvmlEventTypeSingleBitEccError, 0); }
    else return "error: kind must be sbe or dbe";
    return "ok";
  }
  if (op == "lost") {  // the GPU falls off the bus: calls fail, waits on its sets report it
    g->lost = true;
    cv.notify_all();
    return "ok";
  }
  if (op == "recovery") {
    unsigned a = c.at("action").get<unsigned>();
    if (a > 4) return "error: action must be 0..4";
    g->recovery_action = a;
    Emit(g, nvmlEventTypeGpuRecoveryAction, a);
    return "ok";
  }
  if (op == "remap") {
    g->remap_pending = c.value("pending", g->remap_pending);
    g->remap_failure = c.value("failure", g->remap_failure);
    g->retired_pages_pending = c.value("retired_pending", g->retired_pages_pending);
    return "ok";
  }
  if (op == "reset") {  // a successful GPU reset: counters clear, action back to NONE
    g->lost = false;
    g->volatile_dbe = g->volatile_sbe = 0;
    g->retired_pages_pending = g->remap_pending = false;
    bool had_action = g->recovery_action != 0;
    g->recovery_action = 0;
    if (had_action || c.value("signal", true)) Emit(g, nvmlEventTypeGpuRecoveryAction, 0);
    return "ok";
  }
  return "error: unknown op '" + op + "'";
}

}  // namespace fakenvml
