#include "cli/sort_by.h"

#include <algorithm>
#include <cctype>
#include <optional>
#include <variant>

namespace deviceapi::cli {
namespace {

using Step = std::variant<std::string, std::size_t>;  // field name or array index

std::optional<std::vector<Step>> ParsePath(std::string path) {
  if (path.size() >= 2 && path.front() == '{' && path.back() == '}')
    path = path.substr(1, path.size() - 2);
  if (!path.empty() && path.front() != '.' && path.front() != '[') path = "." + path;
  std::vector<Step> steps;
  std::size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '.') {
      std::size_t end = path.find_first_of(".[", i + 1);
      if (end == std::string::npos) end = path.size();
      if (end == i + 1) return std::nullopt;
      steps.emplace_back(path.substr(i + 1, end - i - 1));
      i = end;
    } else if (path[i] == '[') {
      std::size_t end = path.find(']', i);
      if (end == std::string::npos || end == i + 1 || end - i > 10) return std::nullopt;
      std::string digits = path.substr(i + 1, end - i - 1);
      if (!std::all_of(digits.begin(), digits.end(),
                       [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }))
        return std::nullopt;
      steps.emplace_back(static_cast<std::size_t>(std::stoull(digits)));
      i = end + 1;
    } else {
      return std::nullopt;
    }
  }
  if (steps.empty()) return std::nullopt;
  return steps;
}

const Json* Lookup(const Json& doc, const std::vector<Step>& steps) {
  const Json* at = &doc;
  for (const auto& step : steps) {
    if (const auto* key = std::get_if<std::string>(&step)) {
      if (!at->is_object() || !at->contains(*key)) return nullptr;
      at = &(*at)[*key];
    } else {
      std::size_t index = std::get<std::size_t>(step);
      if (!at->is_array() || index >= at->size()) return nullptr;
      at = &(*at)[index];
    }
  }
  return at;
}

// A sort key: absent < number < text.
struct Key {
  int rank = 0;  // 0 absent, 1 number, 2 text
  long double number = 0;
  std::string text;
  bool operator<(const Key& o) const {
    if (rank != o.rank) return rank < o.rank;
    if (rank == 1) return number < o.number;
    return text < o.text;
  }
};

Key KeyOf(const Json* value) {
  Key k;
  if (value == nullptr || value->is_null()) return k;
  if (value->is_number()) {
    k.rank = 1;
    k.number = value->get<long double>();
    return k;
  }
  k.text = value->is_string() ? value->get<std::string>() : value->dump();
  bool digits = !k.text.empty() && k.text.size() <= 19 &&
                std::all_of(k.text.begin() + (k.text[0] == '-' ? 1 : 0), k.text.end(),
                            [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }) &&
                k.text != "-";
  if (digits) {
    k.rank = 1;
    k.number = std::stold(k.text);
  } else {
    k.rank = 2;
  }
  return k;
}

}  // namespace

Status SortByField(const std::string& path, std::vector<Gpu>* gpus) {
  auto steps = ParsePath(path);
  if (!steps)
    return Status(grpc::StatusCode::INVALID_ARGUMENT,
                  "invalid --sort-by \"" + path + "\" (want a field path such as .metadata.name)");
  std::vector<std::pair<Key, Gpu>> keyed;
  bool found = false;
  for (const auto& g : *gpus) {
    Json doc = GpuToJson(g);
    const Json* value = Lookup(doc, *steps);
    found = found || value != nullptr;
    keyed.emplace_back(KeyOf(value), g);
  }
  if (!found && !keyed.empty())
    return Status(grpc::StatusCode::INVALID_ARGUMENT,
                  "couldn't find any field with path \"" + path + "\" in the list of objects");
  std::stable_sort(keyed.begin(), keyed.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  gpus->clear();
  for (auto& [key, g] : keyed) gpus->push_back(std::move(g));
  return Status();
}

}  // namespace deviceapi::cli
