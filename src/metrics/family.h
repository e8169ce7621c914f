// Family: one metric name with a fixed set of label names, and one child
// metric (Counter, Gauge or Histogram) per combination of label values.
//
// WithLabels() takes a lock to find or create the child; the reference it
// returns stays valid for the Family's lifetime, so hot paths look a child up
// once and keep the reference (the increment itself is lock-free).
// Thread-safe.
#pragma once

#include <cstddef>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "metrics/histogram.h"
#include "metrics/metric.h"

namespace deviceapi::metrics {

enum class MetricType { kCounter, kGauge, kHistogram };
// "counter", "gauge", "histogram": the words used on # TYPE lines.
const char* MetricTypeName(MetricType type);

// What every family shares: identity and how to write itself.
class FamilyBase {
 public:
  FamilyBase(std::string name, std::string help, MetricType type,
             std::vector<std::string> label_names);
  virtual ~FamilyBase() = default;
  FamilyBase(const FamilyBase&) = delete;
  FamilyBase& operator=(const FamilyBase&) = delete;

  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  MetricType type() const { return type_; }
  const std::vector<std::string>& label_names() const { return label_names_; }

  // Appends the # HELP, # TYPE and sample lines (text format 0.0.4).
  virtual void WriteText(std::string* out) const = 0;

 private:
  const std::string name_;
  const std::string help_;
  const MetricType type_;
  const std::vector<std::string> label_names_;
};

template <typename T>
class Family final : public FamilyBase {
 public:
  using Factory = std::function<std::unique_ptr<T>()>;
  Family(std::string name, std::string help, MetricType type,
         std::vector<std::string> label_names, Factory factory)
      : FamilyBase(std::move(name), std::move(help), type, std::move(label_names)),
        factory_(std::move(factory)) {}

  // The child for these label values, created on first use. The number of
  // values must equal the number of label names (std::invalid_argument
  // otherwise). Values may be any UTF-8 text; they are escaped on output.
  T& WithLabels(const std::vector<std::string>& values);
  T& WithLabels(std::initializer_list<std::string_view> values) {
    return WithLabels(std::vector<std::string>(values.begin(), values.end()));
  }
  // The unlabelled child (families declared without label names).
  T& Get() { return WithLabels(std::vector<std::string>{}); }

  void WriteText(std::string* out) const override;
  std::size_t size() const;

 private:
  const Factory factory_;
  mutable std::mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<T>> children_;
};

using CounterFamily = Family<Counter>;
using GaugeFamily = Family<Gauge>;
using HistogramFamily = Family<Histogram>;

// A family whose values live elsewhere and are read at scrape time (e.g. the
// store's statistics). The callback runs on the scraping thread, under no
// lock of the metrics library other than the registry's scrape lock: it must
// not register metrics or scrape. If it throws, the family has no samples in
// that scrape; samples with the wrong number of label values are skipped.
struct CallbackSample {
  std::vector<std::string> label_values;  // one per label name
  double value = 0;
};
using CallbackFn = std::function<std::vector<CallbackSample>()>;

class CallbackFamily final : public FamilyBase {
 public:
  // `type` must be kCounter or kGauge.
  CallbackFamily(std::string name, std::string help, MetricType type,
                 std::vector<std::string> label_names, CallbackFn fn);
  void WriteText(std::string* out) const override;

 private:
  const CallbackFn fn_;
};

}  // namespace deviceapi::metrics

// Defined in family.cc for Counter, Gauge and Histogram.
namespace deviceapi::metrics {
extern template class Family<Counter>;
extern template class Family<Gauge>;
extern template class Family<Histogram>;
}  // namespace deviceapi::metrics
