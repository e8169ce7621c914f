// Fuzzes the label-selector parser (src/labels/), the one the store, the
// service (List/Watch filters, S10, S17) and the SDK's lister share.
//
// Input: the selector text. Oracles, besides sanitizers:
//   - the canonical text of a parsed selector (ToString, as Kubernetes'
//     Selector.String()) parses again, to the same canonical text, and
//     matches the same labels;
//   - with the server's kind of limits, a selector either parses as without
//     them or is refused (never parsed differently);
//   - matching runs against labels built from the selector's own
//     requirements (each key with its first value, then each key absent), so
//     it runs on labels that decide it rather than on an empty set.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "labels/selector.h"

namespace {

using deviceapi::labels::Selector;
using Labels = std::map<std::string, std::string, std::less<>>;

[[noreturn]] void Fail(const std::string& what, std::string_view text) {
  std::fprintf(stderr, "%s\n--- selector: %.*s\n", what.c_str(), static_cast<int>(text.size()), text.data());
  std::abort();
}

// Labels that decide the selector: its keys with their first values, then
// the same with each key removed in turn.
std::vector<Labels> Probes(const Selector& s) {
  Labels all;
  for (const auto& r : s.requirements()) {
    all.emplace(std::string(r.key), r.values.empty() ? std::string() : std::string(r.values.front()));
  }
  std::vector<Labels> out{all, Labels()};
  for (const auto& [key, value] : all) {
    Labels without = all;
    without.erase(key);
    out.push_back(std::move(without));
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto parsed = Selector::Parse(text);
  auto limited = Selector::Parse(text, {/*max_bytes=*/256, /*max_requirements=*/8});
  if (!parsed.ok()) {
    if (limited.ok()) Fail("accepted with limits, refused without: " + parsed.error(), text);
    return 0;
  }
  const std::string canonical = parsed->ToString();
  if (limited.ok() && limited->ToString() != canonical) Fail("limits changed the parse", text);
  (void)parsed->MemoryUsage();

  auto again = Selector::Parse(canonical);
  if (!again.ok()) Fail("canonical text \"" + canonical + "\" does not parse: " + again.error(), text);
  if (again->ToString() != canonical) {
    Fail("canonical text \"" + canonical + "\" reads back as \"" + again->ToString() + "\"", text);
  }
  for (const Labels& labels : Probes(*parsed)) {
    if (parsed->Matches(labels) != again->Matches(labels)) {
      Fail("canonical text \"" + canonical + "\" matches other labels", text);
    }
  }
  return 0;
}
