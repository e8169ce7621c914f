// grpc.health.v1 messages encoded by hand: the SDK needs one request with one
// string field and one response with one enum, which does not justify
// generating and shipping the health proto in a public library.
#pragma once

#include <string>

#include <grpcpp/support/byte_buffer.h>

namespace deviceapi {

// HealthCheckRequest{service = 1}.
grpc::ByteBuffer EncodeHealthCheckRequest(const std::string& service);
// HealthCheckResponse.status (field 1, enum); 0 (UNKNOWN) when absent,
// -1 when the bytes are not a valid response.
int DecodeHealthCheckResponse(const grpc::ByteBuffer& buffer);

}  // namespace deviceapi
