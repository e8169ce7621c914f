#include "metrics/registry.h"

#include <stdexcept>

namespace deviceapi::metrics {

namespace {

bool IsNameStart(char c, bool allow_colon) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (allow_colon && c == ':');
}
bool IsNameChar(char c, bool allow_colon) {
  return IsNameStart(c, allow_colon) || (c >= '0' && c <= '9');
}

void CheckNames(const std::string& name, const std::vector<std::string>& labels, bool histogram) {
  if (!IsValidMetricName(name)) throw std::invalid_argument("invalid metric name \"" + name + "\"");
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (!IsValidLabelName(labels[i])) {
      throw std::invalid_argument("metric " + name + ": invalid label name \"" + labels[i] + "\"");
    }
    if (histogram && labels[i] == "le") {
      throw std::invalid_argument("metric " + name + ": label \"le\" is reserved for histograms");
    }
    for (std::size_t j = 0; j < i; ++j) {
      if (labels[i] == labels[j]) {
        throw std::invalid_argument("metric " + name + ": duplicate label \"" + labels[i] + "\"");
      }
    }
  }
}

}  // namespace

bool IsValidMetricName(std::string_view name) {
  if (name.empty() || !IsNameStart(name[0], true)) return false;
  for (char c : name) {
    if (!IsNameChar(c, true)) return false;
  }
  return true;
}

bool IsValidLabelName(std::string_view name) {
  if (name.empty() || !IsNameStart(name[0], false)) return false;
  if (name.size() >= 2 && name[0] == '_' && name[1] == '_') return false;
  for (char c : name) {
    if (!IsNameChar(c, false)) return false;
  }
  return true;
}

Registry::Registry() = default;
Registry::~Registry() = default;

void Registry::Add(std::unique_ptr<FamilyBase> family) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& f : families_) {
    if (f->name() == family->name()) {
      throw std::invalid_argument("metric " + family->name() + " registered twice");
    }
  }
  families_.push_back(std::move(family));
}

CounterFamily& Registry::AddCounter(std::string name, std::string help,
                                    std::vector<std::string> label_names) {
  CheckNames(name, label_names, false);
  auto f = std::make_unique<CounterFamily>(std::move(name), std::move(help), MetricType::kCounter,
                                           std::move(label_names),
                                           [] { return std::make_unique<Counter>(); });
  CounterFamily& ref = *f;
  Add(std::move(f));
  return ref;
}

GaugeFamily& Registry::AddGauge(std::string name, std::string help,
                                std::vector<std::string> label_names) {
  CheckNames(name, label_names, false);
  auto f = std::make_unique<GaugeFamily>(std::move(name), std::move(help), MetricType::kGauge,
                                         std::move(label_names),
                                         [] { return std::make_unique<Gauge>(); });
  GaugeFamily& ref = *f;
  Add(std::move(f));
  return ref;
}

HistogramFamily& Registry::AddHistogram(std::string name, std::string help,
                                        std::vector<std::string> label_names,
                                        std::vector<double> bounds) {
  CheckNames(name, label_names, true);
  Histogram probe(bounds);  // validates the bounds now rather than on first use
  auto f = std::make_unique<HistogramFamily>(
      std::move(name), std::move(help), MetricType::kHistogram, std::move(label_names),
      [bounds = std::move(bounds)] { return std::make_unique<Histogram>(bounds); });
  HistogramFamily& ref = *f;
  Add(std::move(f));
  return ref;
}

void Registry::AddCallback(MetricType type, std::string name, std::string help,
                           std::vector<std::string> label_names, CallbackFn fn) {
  CheckNames(name, label_names, false);
  Add(std::make_unique<CallbackFamily>(std::move(name), std::move(help), type,
                                       std::move(label_names), std::move(fn)));
}

void Registry::AddCallbackGauge(std::string name, std::string help, std::function<double()> fn) {
  if (!fn) throw std::invalid_argument("callback metric " + name + ": null callback");
  AddCallback(MetricType::kGauge, std::move(name), std::move(help), {},
              [fn = std::move(fn)] { return std::vector<CallbackSample>{{{}, fn()}}; });
}

void Registry::AddCallbackCounter(std::string name, std::string help, std::function<double()> fn) {
  if (!fn) throw std::invalid_argument("callback metric " + name + ": null callback");
  AddCallback(MetricType::kCounter, std::move(name), std::move(help), {},
              [fn = std::move(fn)] { return std::vector<CallbackSample>{{{}, fn()}}; });
}

bool Registry::Has(std::string_view name) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& f : families_) {
    if (f->name() == name) return true;
  }
  return false;
}

std::string Registry::Serialize() const {
  std::string out;
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& f : families_) f->WriteText(&out);
  return out;
}

}  // namespace deviceapi::metrics
