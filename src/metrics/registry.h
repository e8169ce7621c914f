// Registry: owns every metric family of a process and renders them in the
// Prometheus text exposition format 0.0.4.
//
// Registration validates names (metric: [a-zA-Z_:][a-zA-Z0-9_:]*, label:
// [a-zA-Z_][a-zA-Z0-9_]*, not starting with "__"; "le" is reserved for
// histograms) and rejects a name registered twice; both are programming
// errors and throw std::invalid_argument. References returned stay valid for
// the Registry's lifetime. Thread-safe: registration and Serialize() may run
// concurrently with each other and with updates to any metric.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "metrics/family.h"
#include "metrics/histogram.h"

namespace deviceapi::metrics {

// The Content-Type of Serialize()'s output.
inline constexpr const char* kTextContentType = "text/plain; version=0.0.4; charset=utf-8";

class Registry {
 public:
  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  CounterFamily& AddCounter(std::string name, std::string help,
                            std::vector<std::string> label_names = {});
  GaugeFamily& AddGauge(std::string name, std::string help,
                        std::vector<std::string> label_names = {});
  HistogramFamily& AddHistogram(std::string name, std::string help,
                                std::vector<std::string> label_names = {},
                                std::vector<double> bounds = DefaultBuckets());

  // Values computed at scrape time. `type` is kCounter or kGauge.
  void AddCallback(MetricType type, std::string name, std::string help,
                   std::vector<std::string> label_names, CallbackFn fn);
  // Unlabelled shorthands.
  void AddCallbackGauge(std::string name, std::string help, std::function<double()> fn);
  void AddCallbackCounter(std::string name, std::string help, std::function<double()> fn);

  // True if a family with this name is registered.
  bool Has(std::string_view name) const;

  // Every family, in registration order, as text format 0.0.4.
  std::string Serialize() const;

 private:
  void Add(std::unique_ptr<FamilyBase> family);

  mutable std::mutex mu_;
  std::vector<std::unique_ptr<FamilyBase>> families_;
};

// Name checks used by the Registry, exposed for tests and callers that build
// names dynamically.
bool IsValidMetricName(std::string_view name);
bool IsValidLabelName(std::string_view name);

}  // namespace deviceapi::metrics
