#include "client/health_codec.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>
#include <grpcpp/support/slice.h>

#include <cstdint>
#include <vector>

namespace deviceapi {

using google::protobuf::internal::WireFormatLite;
using google::protobuf::io::CodedInputStream;
using google::protobuf::io::CodedOutputStream;

// HealthCheckRequest { string service = 1; }, written with protobuf's own
// varint coding: the SDK does not link the health protocol's generated code.
grpc::ByteBuffer EncodeHealthCheckRequest(const std::string& service) {
  std::string bytes;
  if (!service.empty()) {
    std::uint8_t head[1 + 10];  // the tag and the length, a varint of at most 10 bytes
    head[0] = 0x0a;             // field 1, length-delimited
    const std::uint8_t* end = CodedOutputStream::WriteVarint64ToArray(service.size(), head + 1);
    bytes.assign(reinterpret_cast<const char*>(head), static_cast<std::size_t>(end - head));
    bytes += service;
  }
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

// HealthCheckResponse { ServingStatus status = 1; }: the status, skipping
// unknown fields; -1 when the bytes are not a message.
int DecodeHealthCheckResponse(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  if (!buffer.Dump(&slices).ok()) return -1;
  std::string in;
  for (const auto& s : slices) in.append(reinterpret_cast<const char*>(s.begin()), s.size());
  CodedInputStream stream(reinterpret_cast<const std::uint8_t*>(in.data()), static_cast<int>(in.size()));
  int status = 0;
  while (true) {
    const std::uint32_t tag = stream.ReadTag();
    if (tag == 0) return stream.ConsumedEntireMessage() ? status : -1;  // the end, or not a tag
    if (tag == WireFormatLite::MakeTag(1, WireFormatLite::WIRETYPE_VARINT)) {
      std::uint64_t v = 0;
      if (!stream.ReadVarint64(&v)) return -1;
      status = static_cast<int>(v);
    } else if (!WireFormatLite::SkipField(&stream, tag)) {
      return -1;
    }
  }
}

}  // namespace deviceapi
