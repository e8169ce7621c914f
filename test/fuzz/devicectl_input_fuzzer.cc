// Fuzzes what devicectl reads and renders: object files (`create -f`,
// `apply -f`: JSON or YAML, read by yaml-cpp through cli/yaml.h) and every output format
// of the GPU it read.
//
// Input: the file's text. Oracles, besides sanitizers and exceptions (an
// exception escaping here would end devicectl):
//   - YAML round trip: a document ParseYaml accepts, emitted by ToYaml and
//     parsed again, is the same value (numbers compared as their text: plain
//     scalars read back as strings, cli/yaml.h);
//   - a GPU ParseGpu accepts renders in every format, and its YAML form
//     parses back to the same GPU.
#include <google/protobuf/util/message_differencer.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "cli/format.h"
#include "cli/yaml.h"

namespace {

using deviceapi::cli::Json;

[[noreturn]] void Fail(const std::string& what, const std::string& text) {
  std::fprintf(stderr, "%s\n--- text:\n%s\n", what.c_str(), text.c_str());
  std::abort();
}

// Numbers as the strings a plain YAML scalar reads back as.
Json NumbersAsText(const Json& v) {
  if (v.is_number()) return v.dump();
  if (v.is_object()) {
    Json out = Json::object();
    for (auto it = v.begin(); it != v.end(); ++it) out[it.key()] = NumbersAsText(it.value());
    return out;
  }
  if (v.is_array()) {
    Json out = Json::array();
    for (const auto& item : v) out.push_back(NumbersAsText(item));
    return out;
  }
  return v;
}

int Depth(const Json& v) {
  int deepest = 0;
  if (v.is_structured()) {
    for (const auto& item : v) deepest = std::max(deepest, Depth(item));
  }
  return deepest + 1;
}

void CheckYamlRoundTrip(const std::string& text) {
  auto parsed = deviceapi::cli::ParseYaml(text);
  // Flow collections ({...}) may nest deeper than the block nesting the
  // parser allows (64); their block form would then be refused.
  if (!parsed.ok() || Depth(*parsed) > 60) return;
  const std::string yaml = deviceapi::cli::ToYaml(*parsed);
  auto again = deviceapi::cli::ParseYaml(yaml);
  if (!again.ok()) Fail("ToYaml output does not parse: " + again.status().message(), yaml);
  if (NumbersAsText(*again) != NumbersAsText(*parsed)) Fail("YAML round trip changed the value", yaml);
}

void CheckGpu(const std::string& text) {
  auto gpu = deviceapi::cli::ParseGpu(text);
  if (!gpu.ok()) return;
  const auto now = std::chrono::system_clock::time_point(std::chrono::hours(24 * 365 * 56));
  deviceapi::cli::TableOptions table;
  table.now = now;
  (void)deviceapi::cli::FormatTable({*gpu}, table);
  table.wide = table.show_namespace = table.color = true;
  (void)deviceapi::cli::FormatTable({*gpu}, table);
  (void)deviceapi::cli::FormatDescribe(*gpu, now);
  (void)deviceapi::cli::FormatName(*gpu);
  (void)deviceapi::cli::FormatJson(deviceapi::cli::GpuToJson(*gpu));
  const std::string yaml = deviceapi::cli::ToYaml(deviceapi::cli::GpuToJson(*gpu));
  auto back = deviceapi::cli::ParseGpu(yaml);
  if (!back.ok()) Fail("a GPU's YAML form does not parse: " + back.status().message(), yaml);
  if (!google::protobuf::util::MessageDifferencer::Equals(*back, *gpu)) {
    Fail("a GPU's YAML form parses to another GPU", yaml);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  CheckYamlRoundTrip(text);
  CheckGpu(text);
  return 0;
}
