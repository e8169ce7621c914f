#include "apiserver/gpu_patch.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "apiserver/request_options.h"

namespace deviceapi::apiserver {
namespace {

using json = nlohmann::json;
namespace pbjson = google::protobuf::util;

store::Error Invalid(const std::string& message) {
  return store::MakeError(store::ErrorCode::kInvalid, "invalid patch: " + message);
}

// What is wrong at `path`. Paths are built of bounded segments (Segment),
// but a document nested 32 deep still makes a long one: only its start is
// shown, and the reason always.
store::Error InvalidAt(const std::string& path, const std::string& what) {
  constexpr std::size_t kMaxPathBytes = 256;
  if (path.empty()) return Invalid(what);
  if (path.size() <= kMaxPathBytes) return Invalid(path + ": " + what);
  return Invalid(path.substr(0, kMaxPathBytes) + "...: " + what);
}

// A key of the document as it appears in a path: a field-like name as it
// is, anything else (a label key, a client's junk) as a bounded Quote, so
// that a 1 MiB key is neither copied into every path below it nor echoed
// back in an error (S19).
std::string Segment(const std::string& key) {
  constexpr std::size_t kMaxPlain = 64;
  bool plain = !key.empty() && key.size() <= kMaxPlain;
  for (std::size_t i = 0; plain && i < key.size(); ++i) {
    const char c = key[i];
    plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  }
  return plain ? key : Quote(key);
}

std::string Child(const std::string& path, const std::string& key) {
  return path.empty() ? Segment(key) : path + "." + Segment(key);
}

// What a document holds, counted on its bytes before any parsing, so a
// hostile document never reaches a recursive walk (its depth) nor makes the
// parser build a tree of millions of nodes (its values): a 4 MiB request of
// `[],` repeated would otherwise cost about 100 MiB and two seconds of a gRPC
// thread before the checks on the parsed tree refuse it.
struct DocumentShape {
  bool too_deep = false;          // more than kMaxPatchDepth levels; the scan stopped there
  std::size_t values = 0;         // members of objects plus items of arrays
  std::size_t widest_array = 0;   // items of the longest array
};

DocumentShape ScanShape(const std::string& data) {
  struct Open {
    bool array;
    std::size_t commas;
    bool any;  // holds a member or item
  };
  std::vector<Open> open;  // at most kMaxPatchDepth + 1 entries
  open.reserve(kMaxPatchDepth + 1);
  DocumentShape shape;
  bool in_string = false, escaped = false;
  for (char ch : data) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (ch == '\\') {
        escaped = true;
      } else if (ch == '"') {
        in_string = false;
      }
      continue;
    }
    switch (ch) {
      case ' ': case '\t': case '\n': case '\r':
        break;
      case '{': case '[':
        if (!open.empty()) open.back().any = true;
        open.push_back({ch == '[', 0, false});
        if (open.size() > static_cast<std::size_t>(kMaxPatchDepth)) {
          shape.too_deep = true;
          return shape;
        }
        break;
      case '}': case ']':
        if (!open.empty()) {  // unbalanced input is the parser's to refuse
          const Open closed = open.back();
          open.pop_back();
          const std::size_t held = closed.any ? closed.commas + 1 : 0;
          shape.values += held;
          if (closed.array) shape.widest_array = std::max(shape.widest_array, held);
        }
        break;
      case ',':
        if (!open.empty()) ++open.back().commas;
        break;
      default:
        if (ch == '"') in_string = true;
        if (!open.empty()) open.back().any = true;
    }
  }
  return shape;
}

// Checks every array of `value` is at most kMaxPatchArrayItems long and no
// `$` key appears outside status.conditions' elements (in a merge patch such
// a key is no field of a Gpu, and parsing the result refuses it). Depth is
// bounded by NestingDepth first.
std::optional<store::Error> CheckShape(const json& value, const std::string& path,
                                       bool in_conditions) {
  if (value.is_array()) {
    if (value.size() > kMaxPatchArrayItems) {
      return InvalidAt(path, "more than " + std::to_string(kMaxPatchArrayItems) + " items");
    }
    for (const auto& item : value) {
      if (auto e = CheckShape(item, path + "[]", in_conditions)) return e;
    }
  } else if (value.is_object()) {
    for (const auto& [key, item] : value.items()) {
      if (!key.empty() && key[0] == '$') {
        const bool allowed = (in_conditions && key == "$patch") ||
                             (path == "status" && key == "$setElementOrder/conditions");
        if (!allowed) return InvalidAt(path, "unsupported directive " + Quote(key));
        continue;
      }
      const std::string child = Child(path, key);
      if (auto e = CheckShape(item, child, child == "status.conditions")) return e;
    }
  }
  return std::nullopt;
}

// Checks that every key of `value` names a field of `message` by its JSON
// name, recursing into message fields; keys of maps are free and `$`
// directives are CheckShape's. The patch is merged into the object's JSON
// form, which has JSON names only: without this check a key set to null
// that is no JSON name (an unknown key, or a proto name such as
// `recommended_action`) would merge into nothing and the patch would pass
// as a no-op (S31); any other would be refused only after the object's
// JSON round trip.
std::optional<store::Error> CheckFields(const json& value, const google::protobuf::Descriptor* message,
                                        const std::string& path) {
  if (!value.is_object()) return std::nullopt;
  for (const auto& [key, item] : value.items()) {
    if (!key.empty() && key[0] == '$') continue;
    const std::string child = Child(path, key);
    const google::protobuf::FieldDescriptor* field = nullptr;
    for (int i = 0; field == nullptr && i < message->field_count(); ++i) {
      if (message->field(i)->json_name() == key) field = message->field(i);
    }
    if (field == nullptr) {
      // A proto name whose JSON name differs: say which name to use.
      if (const auto* named = message->FindFieldByName(key); named != nullptr) {
        return InvalidAt(child, "no such field (field names are JSON names: \"" + named->json_name() + "\")");
      }
      return InvalidAt(child, "no such field");
    }
    if (field->is_map() || field->type() != google::protobuf::FieldDescriptor::TYPE_MESSAGE) continue;
    const google::protobuf::Descriptor* type = field->message_type();
    if (type->file()->package() == "google.protobuf") continue;  // well-known types are JSON scalars
    if (item.is_array()) {
      for (const auto& element : item) {
        if (auto e = CheckFields(element, type, child + "[]")) return e;
      }
    } else if (auto e = CheckFields(item, type, child)) {
      return e;
    }
  }
  return std::nullopt;
}

// The labels or annotations a patch sets (not removes) are at least as many
// as the patched object has: more than the limit can never validate, and
// converting them would cost the call seconds before validation says so.
std::optional<store::Error> CheckMapSizes(const json& document, std::size_t max_entries) {
  auto meta = document.find("metadata");
  if (meta == document.end() || !meta->is_object()) return std::nullopt;
  for (const char* name : {"labels", "annotations"}) {
    auto map = meta->find(name);
    if (map == meta->end() || !map->is_object()) continue;
    std::size_t set = 0;
    for (const auto& [key, entry] : map->items()) set += entry.is_null() ? 0 : 1;
    if (set > max_entries) {  // as validation answers the result (S19)
      return store::MakeError(store::ErrorCode::kResourceExhausted,
                              std::string("gpu.metadata.") + name + ": must have at most " +
                                  std::to_string(max_entries) + " entries (the patch sets " +
                                  std::to_string(set) + ")");
    }
  }
  return std::nullopt;
}

// RFC 7386 for one condition (fields set to null are cleared). When the
// patch changes the status and gives no transition time, the old one goes,
// so the server stamps the transition (S6).
void MergeCondition(json& target, const json& element) {
  const json before_status = target.contains("status") ? target["status"] : json();
  target.merge_patch(element);
  const json after_status = target.contains("status") ? target["status"] : json();
  if (before_status != after_status && !element.contains("lastTransitionTime")) {
    target.erase("lastTransitionTime");
  }
}

std::optional<store::Error> MergeConditions(json& target, const json& patch) {
  if (!patch.is_array()) return Invalid("status.conditions: must be an array");
  if (!target.is_array()) target = json::array();
  for (const auto& element : patch) {
    if (!element.is_object() || !element.contains("type") || !element["type"].is_string()) {
      return Invalid("status.conditions: each element must be an object with a string \"type\"");
    }
    const std::string& type = element["type"].get_ref<const std::string&>();
    auto existing = target.end();
    for (auto it = target.begin(); it != target.end(); ++it) {
      if (it->is_object() && it->value("type", "") == type) {
        existing = it;
        break;
      }
    }
    if (element.contains("$patch")) {
      if (element["$patch"] != "delete") {
        return Invalid("status.conditions: only \"$patch\": \"delete\" is supported");
      }
      if (existing != target.end()) target.erase(existing);
      continue;
    }
    if (existing != target.end()) {
      MergeCondition(*existing, element);
    } else {
      json added = json::object();
      MergeCondition(added, element);
      target.push_back(std::move(added));
    }
  }
  return std::nullopt;
}

// A strategic merge: RFC 7386 but status.conditions merge by type.
std::optional<store::Error> StrategicMerge(json& target, const json& patch,
                                           const std::string& path) {
  if (!patch.is_object()) {
    target = patch;
    return std::nullopt;
  }
  if (!target.is_object()) target = json::object();
  for (const auto& [key, value] : patch.items()) {
    if (key.rfind("$setElementOrder/", 0) == 0) continue;
    const std::string child = path.empty() ? key : path + "." + key;
    if (value.is_null()) {
      target.erase(key);
    } else if (child == "status.conditions") {
      if (auto e = MergeConditions(target[key], value)) return e;
    } else {
      if (auto e = StrategicMerge(target[key], value, child)) return e;
    }
  }
  return std::nullopt;
}

}  // namespace

store::Result<GpuPatch> ParsePatch(const std::string& patch_type, const std::string& data,
                                   const std::string& subresource, std::size_t max_map_entries) {
  GpuPatch patch;
  if (patch_type == kStrategicMergePatchType) {
    patch.strategic = true;
  } else if (patch_type != kMergePatchType) {
    return store::MakeError(store::ErrorCode::kInvalid,
                            "patch_type: must be \"" + std::string(kMergePatchType) + "\" or \"" +
                                kStrategicMergePatchType + "\"");
  }
  if (subresource == "status") {
    patch.part = Subresource::kStatus;
  } else if (!subresource.empty()) {
    return store::MakeError(store::ErrorCode::kInvalid,
                            "subresource: must be \"\" or \"status\"");
  }
  const DocumentShape shape = ScanShape(data);
  if (shape.too_deep) {
    return Invalid("nested deeper than " + std::to_string(kMaxPatchDepth) + " levels");
  }
  if (shape.widest_array > kMaxPatchArrayItems) {
    return Invalid("an array has more than " + std::to_string(kMaxPatchArrayItems) + " items");
  }
  if (shape.values > kMaxPatchValues) {
    return store::MakeError(store::ErrorCode::kResourceExhausted,
                            "invalid patch: more than " + std::to_string(kMaxPatchValues) +
                                " values (members and items) in the document");
  }
  patch.document = json::parse(data, nullptr, /*allow_exceptions=*/false);
  if (patch.document.is_discarded()) return Invalid("malformed JSON");
  if (!patch.document.is_object()) return Invalid("must be a JSON object");
  if (auto e = CheckShape(patch.document, "", false)) return *e;
  if (auto e = CheckFields(patch.document, nvidia::nvsentinel::v1alpha1::Gpu::descriptor(), "")) return *e;
  if (auto e = CheckMapSizes(patch.document, max_map_entries)) return *e;
  auto meta = patch.document.find("metadata");
  if (meta != patch.document.end() && meta->is_object()) {
    auto rv = meta->find("resourceVersion");
    if (rv != meta->end()) {
      if (!rv->is_string()) return Invalid("metadata.resourceVersion: must be a string");
      // Compared as a revision, as UpdateGpu's: "" is no precondition.
      auto precondition = ParseResourceVersion(rv->get_ref<const std::string&>(), "metadata.resourceVersion");
      if (!precondition.ok()) return Invalid(precondition.error().message);
      patch.resource_version = *precondition;
      meta->erase(rv);
      if (meta->empty()) patch.document.erase(meta);
    }
  }
  // The subresource is decided by the parts the document names, not by
  // whether the result differs from the object: a patch that restates a
  // status field as it is, without subresource "status", is as wrong as
  // one that changes it (S31). The top-level keys are fields of a Gpu
  // (CheckFields); the resourceVersion precondition is gone from it.
  if (patch.part == Subresource::kStatus) {
    for (const auto& [key, value] : patch.document.items()) {
      if (key != "status") return Invalid(key + ": subresource \"status\" changes only status");
    }
  } else if (patch.document.contains("status")) {
    return Invalid("status: changes only with subresource \"status\"");
  }
  return patch;
}

namespace {

// The patch providers send on every health change: a strategic merge of
// status.conditions alone, each element a type plus string fields among
// status, reason and message. Such a patch is applied to the message
// directly, with the result the JSON round trip below gives (MergeCondition
// on the JSON form), without converting the whole object twice under the
// store's write lock.
bool IsConditionsOnly(const GpuPatch& patch) {
  if (!patch.strategic || patch.document.size() != 1) return false;
  auto status = patch.document.find("status");
  if (status == patch.document.end() || !status->is_object() || status->size() != 1) return false;
  auto conditions = status->find("conditions");
  if (conditions == status->end() || !conditions->is_array()) return false;
  for (const auto& element : *conditions) {
    if (!element.is_object()) return false;
    auto type = element.find("type");
    if (type == element.end() || !type->is_string()) return false;
    for (const auto& [key, value] : element.items()) {
      if (!value.is_string() || (key != "type" && key != "status" && key != "reason" && key != "message")) {
        return false;
      }
    }
  }
  return true;
}

void ApplyConditions(const json& conditions, nvidia::nvsentinel::v1alpha1::Gpu* updated) {
  auto* list = updated->mutable_status()->mutable_conditions();
  for (const auto& element : conditions) {
    const std::string& type = element["type"].get_ref<const std::string&>();
    nvidia::nvsentinel::v1alpha1::Condition* c = nullptr;
    for (auto& existing : *list) {
      if (existing.type() == type) {
        c = &existing;
        break;
      }
    }
    if (c == nullptr) {
      c = list->Add();
      c->set_type(type);
    }
    auto field = element.find("status");
    if (field != element.end()) {
      const std::string& status = field->get_ref<const std::string&>();
      // In the JSON form an empty string is an absent field, so giving any
      // status where there was none changes it: the transition is stamped.
      if (c->status().empty() || c->status() != status) c->clear_last_transition_time();
      c->set_status(status);
    }
    if ((field = element.find("reason")) != element.end()) c->set_reason(field->get<std::string>());
    if ((field = element.find("message")) != element.end()) c->set_message(field->get<std::string>());
  }
}

}  // namespace

bool AppliesInPlace(const GpuPatch& patch) { return patch.document.empty() || IsConditionsOnly(patch); }

store::Result<bool> ApplyPatch(const GpuPatch& patch, const nvidia::nvsentinel::v1alpha1::Gpu& old,
                               nvidia::nvsentinel::v1alpha1::Gpu* updated) {
  if (patch.resource_version && std::to_string(*patch.resource_version) != old.metadata().resource_version()) {
    return store::MakeError(
        store::ErrorCode::kConflict,
        "the object has been modified; please apply your changes to the latest version and try "
        "again (resource_version " + std::to_string(*patch.resource_version) + ", current " +
            old.metadata().resource_version() + ")");
  }
  if (patch.document.empty()) return false;
  if (IsConditionsOnly(patch)) {
    ApplyConditions(patch.document["status"]["conditions"], updated);  // `updated` starts as `old`
    return true;
  }
  std::string current;
  if (!pbjson::MessageToJsonString(old, &current).ok()) {
    return store::MakeError(store::ErrorCode::kInternal, "stored GPU does not convert to JSON");
  }
  json target = json::parse(current, nullptr, /*allow_exceptions=*/false);
  if (patch.strategic) {
    if (auto e = StrategicMerge(target, patch.document, "")) return *e;
  } else {
    target.merge_patch(patch.document);
  }
  updated->Clear();
  pbjson::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  auto parsed = pbjson::JsonStringToMessage(target.dump(), updated, options);
  // The parser's message cites the value it refused, which may be most of
  // the request: only its start comes back.
  if (!parsed.ok()) return Invalid(Printable(std::string(parsed.message()), 256));
  // The stored resource_version is the object's, whatever the patch held.
  updated->mutable_metadata()->set_resource_version(old.metadata().resource_version());
  return true;
}

}  // namespace deviceapi::apiserver
