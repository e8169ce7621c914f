// Fuzzes the label-selector parsers: the server's (List/Watch filters, S10,
// S17) and the SDK's (the lister).
//
// Input: the selector text. Oracles, besides sanitizers: a parsed selector
// is evaluated against labels built from its own requirements (each key with
// its first value, then each key absent), so matching runs on labels that
// decide it rather than on an empty set.
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "deviceapi/selector.h"
#include "store/selector.h"

namespace {

template <typename Selector, typename Labels>
void MatchOwnLabels(const Selector& selector, Labels labels) {
  for (const auto& r : selector.requirements()) {
    labels[r.key] = r.values.empty() ? std::string() : r.values.front();
  }
  (void)selector.Matches(labels);
  for (const auto& r : selector.requirements()) {
    labels.erase(r.key);
    (void)selector.Matches(labels);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto server = deviceapi::store::LabelSelector::Parse(text);
  if (server.ok()) MatchOwnLabels(*server, deviceapi::store::Labels());
  auto sdk = deviceapi::LabelSelector::Parse(text);
  if (sdk.ok()) MatchOwnLabels(*sdk, std::map<std::string, std::string>());
  return 0;
}
