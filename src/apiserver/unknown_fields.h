// Dropping unknown fields from the parts of requests that are stored, so bytes
// a newer client (or a hostile one) sent are never stored or echoed back.
//
// Message::DiscardUnknownFields() finds the sub-messages to visit by listing
// every set field through reflection, about a tenth of an UpdateGpuStatus's
// server time. This walker knows, per message type, which fields can hold a
// message at all (computed once per type), so it visits only those.
#pragma once

#include <google/protobuf/message.h>

namespace deviceapi::apiserver {

// Clears the unknown fields of `message` and of every message inside it,
// as Message::DiscardUnknownFields() does. Thread-safe.
void DropUnknownFields(google::protobuf::Message* message);

}  // namespace deviceapi::apiserver
