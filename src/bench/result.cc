#include "bench/result.h"

#include <cstdio>

namespace deviceapi::bench {

nlohmann::json Result::ToJson() const {
  nlohmann::json j;
  j["scenario"] = scenario;
  j["op"] = op;
  j["available"] = available;
  if (!note.empty()) j["note"] = note;
  j["concurrency"] = concurrency;
  j["ops"] = ops;
  j["errors"] = errors;
  if (!first_error.empty()) j["first_error"] = first_error;
  j["seconds"] = seconds;
  j["ops_per_s"] = ops_per_s();
  j["p50_ms"] = latency.p50_ms;
  j["p90_ms"] = latency.p90_ms;
  j["p99_ms"] = latency.p99_ms;
  j["max_ms"] = latency.max_ms;
  j["mean_ms"] = latency.mean_ms;
  for (auto& [k, v] : extra.items()) j[k] = v;
  return j;
}

void PrintTable(const std::vector<Result>& results, std::ostream& out) {
  char line[512];
  std::snprintf(line, sizeof line, "%-28s %5s %10s %9s %9s %9s %9s %7s  %s\n", "scenario", "conc",
                "ops/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "errors", "notes");
  out << line;
  for (auto& r : results) {
    std::string notes = r.note;
    for (auto& [k, v] : r.extra.items()) {
      if (!v.is_number() && !v.is_boolean()) continue;
      char buf[96];
      if (v.is_number_float())
        std::snprintf(buf, sizeof buf, "%s=%.3g", k.c_str(), v.get<double>());
      else
        std::snprintf(buf, sizeof buf, "%s=%s", k.c_str(), v.dump().c_str());
      if (!notes.empty()) notes += ' ';
      notes += buf;
    }
    if (!r.first_error.empty()) notes += " first_error=\"" + r.first_error + "\"";
    if (!r.available) {
      std::snprintf(line, sizeof line, "%-28s %5s %10s %9s %9s %9s %9s %7s  ", r.name().c_str(),
                    "-", "-", "-", "-", "-", "-", "-");
    } else {
      std::snprintf(line, sizeof line, "%-28s %5d %10.0f %9.3f %9.3f %9.3f %9.3f %7llu  ",
                    r.name().c_str(), r.concurrency, r.ops_per_s(), r.latency.p50_ms,
                    r.latency.p90_ms, r.latency.p99_ms, r.latency.max_ms,
                    static_cast<unsigned long long>(r.errors));
    }
    out << line << notes << "\n";
  }
}

}  // namespace deviceapi::bench
