#include "apiserver/service_transport.h"

#include <grpcpp/support/proto_buffer_reader.h>

#include "apiserver/request_options.h"

namespace deviceapi::apiserver {

bool ParseRequest(const grpc::ByteBuffer& buffer, google::protobuf::Message* message) {
  if (!buffer.Valid()) return message->ParseFromString("");
  grpc::ByteBuffer shared(buffer);  // a reference to the same slices
  grpc::ProtoBufferReader reader(&shared);
  return message->ParseFromZeroCopyStream(&reader);
}

grpc::Status Malformed(const google::protobuf::Message& message) {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                      "malformed request: not a valid " + message.GetTypeName() +
                          " (bad protobuf encoding or invalid UTF-8 in a string field)");
}

grpc::ByteBuffer EmptyMessage() {
  grpc::Slice empty;
  return grpc::ByteBuffer(&empty, 1);
}

std::optional<store::Revision> ServiceTransport::FutureRevision(const std::string& rv) const {
  auto parsed = ParseResourceVersion(rv, "");
  if (parsed.ok() && parsed->has_value() && **parsed > store_.CurrentRevision()) return **parsed;
  return std::nullopt;
}

grpc::Status ServiceTransport::Gate(Access access) const {
  if (readiness_.ShuttingDown()) {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, kShuttingDownMessage);
  }
  if (access == Access::kRead && !readiness_.IsReady()) {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, kNotReadyMessage);  // S21
  }
  return grpc::Status::OK;
}

void ServiceTransport::CountIfInternal(const grpc::Status& status) {
  if (status.error_code() == grpc::StatusCode::INTERNAL) internal_errors_.fetch_add(1);
}

ServiceStats ServiceTransport::Stats() const {
  ServiceStats s;
  s.watch_events_sent = watch_counters_.events_sent.load();
  s.active_watch_streams = watch_counters_.active_streams.load();
  s.watch_streams_too_slow = watch_counters_.streams_too_slow.load();
  s.internal_errors = internal_errors_.load();
  return s;
}

}  // namespace deviceapi::apiserver
