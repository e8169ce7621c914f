#include "metrics/family.h"

#include <stdexcept>

#include "metrics/text_format.h"

namespace deviceapi::metrics {

const char* MetricTypeName(MetricType type) {
  switch (type) {
    case MetricType::kCounter: return "counter";
    case MetricType::kGauge: return "gauge";
    case MetricType::kHistogram: return "histogram";
  }
  return "untyped";
}

FamilyBase::FamilyBase(std::string name, std::string help, MetricType type,
                       std::vector<std::string> label_names)
    : name_(std::move(name)), help_(std::move(help)), type_(type),
      label_names_(std::move(label_names)) {}

namespace {

void AppendHeader(std::string* out, const FamilyBase& f) {
  if (!f.help().empty()) {
    out->append("# HELP ").append(f.name()).append(" ").append(EscapeHelp(f.help())).append("\n");
  }
  out->append("# TYPE ").append(f.name()).append(" ").append(MetricTypeName(f.type())).append("\n");
}

void AppendChild(std::string* out, const FamilyBase& f, const std::vector<std::string>& values,
                 const Counter& c) {
  AppendSample(out, f.name(), f.label_names(), values, static_cast<double>(c.Value()));
}

void AppendChild(std::string* out, const FamilyBase& f, const std::vector<std::string>& values,
                 const Gauge& g) {
  AppendSample(out, f.name(), f.label_names(), values, g.Value());
}

void AppendChild(std::string* out, const FamilyBase& f, const std::vector<std::string>& values,
                 const Histogram& h) {
  const Histogram::Snapshot s = h.Collect();
  std::vector<std::string> names = f.label_names();
  names.push_back("le");
  std::vector<std::string> vals = values;
  vals.push_back("");
  const std::string bucket = f.name() + "_bucket";
  for (std::size_t i = 0; i < s.cumulative.size(); ++i) {
    vals.back() = i < s.bounds.size() ? FormatValue(s.bounds[i]) : "+Inf";
    AppendSample(out, bucket, names, vals, static_cast<double>(s.cumulative[i]));
  }
  AppendSample(out, f.name() + "_sum", f.label_names(), values, s.sum);
  AppendSample(out, f.name() + "_count", f.label_names(), values, static_cast<double>(s.count));
}

}  // namespace

template <typename T>
T& Family<T>::WithLabels(const std::vector<std::string>& values) {
  if (values.size() != label_names().size()) {
    throw std::invalid_argument("metric " + name() + ": expected " +
                                std::to_string(label_names().size()) + " label values, got " +
                                std::to_string(values.size()));
  }
  std::lock_guard<std::mutex> lock(mu_);
  auto it = children_.find(values);
  if (it == children_.end()) it = children_.emplace(values, factory_()).first;
  return *it->second;
}

template <typename T>
void Family<T>::WriteText(std::string* out) const {
  AppendHeader(out, *this);
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [values, child] : children_) AppendChild(out, *this, values, *child);
}

template <typename T>
std::size_t Family<T>::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return children_.size();
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

CallbackFamily::CallbackFamily(std::string name, std::string help, MetricType type,
                               std::vector<std::string> label_names, CallbackFn fn)
    : FamilyBase(std::move(name), std::move(help), type, std::move(label_names)),
      fn_(std::move(fn)) {
  if (type == MetricType::kHistogram) {
    throw std::invalid_argument("callback metric " + this->name() + ": histograms are not supported");
  }
  if (!fn_) throw std::invalid_argument("callback metric " + this->name() + ": null callback");
}

void CallbackFamily::WriteText(std::string* out) const {
  AppendHeader(out, *this);
  std::vector<CallbackSample> samples;
  try {
    samples = fn_();
  } catch (...) {
    // The source is gone or broken: the family shows no samples this scrape
    // rather than failing the whole scrape.
    return;
  }
  for (const CallbackSample& s : samples) {
    // A callback giving the wrong number of values is a programming error,
    // but a scrape must not crash the process: skip the sample.
    if (s.label_values.size() != label_names().size()) continue;
    AppendSample(out, name(), label_names(), s.label_values, s.value);
  }
}

}  // namespace deviceapi::metrics
