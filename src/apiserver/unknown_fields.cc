#include "apiserver/unknown_fields.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/unknown_field_set.h>

#include <unordered_map>
#include <vector>

namespace deviceapi::apiserver {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;

// Fields of one message type that may hold a message with unknown fields:
// singular and repeated message fields, and maps whose values are messages.
// A map with scalar values holds none (its entries are parsed into the map).
const std::vector<const FieldDescriptor*>& MessageFields(const Descriptor* type) {
  // Per thread, so the hot path takes no lock; a handful of types each.
  thread_local std::unordered_map<const Descriptor*, std::vector<const FieldDescriptor*>> cache;
  auto [it, inserted] = cache.try_emplace(type);
  if (inserted) {
    for (int i = 0; i < type->field_count(); ++i) {
      const FieldDescriptor* field = type->field(i);
      if (field->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) continue;
      if (field->is_map() &&
          field->message_type()->map_value()->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) {
        continue;
      }
      it->second.push_back(field);
    }
  }
  return it->second;
}

void Drop(Message* message) {
  const auto* reflection = message->GetReflection();
  if (!reflection->GetUnknownFields(*message).empty()) {
    reflection->MutableUnknownFields(message)->Clear();
  }
  for (const FieldDescriptor* field : MessageFields(message->GetDescriptor())) {
    if (field->is_repeated()) {
      const int n = reflection->FieldSize(*message, field);
      for (int i = 0; i < n; ++i) Drop(reflection->MutableRepeatedMessage(message, field, i));
    } else if (reflection->HasField(*message, field)) {
      Drop(reflection->MutableMessage(message, field));
    }
  }
}

}  // namespace

void DropUnknownFields(Message* message) { Drop(message); }

}  // namespace deviceapi::apiserver
