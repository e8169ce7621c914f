// ServerBuilder settings shared by every gRPC listener of the process:
// SO_REUSEPORT off (a second server on the same port must fail, not share it),
// message size limits, streams per connection and keepalive with enforcement.
#pragma once

#include <grpcpp/server_builder.h>

#include <cstdint>

#include "server/config.h"

namespace deviceapi::server {

// `max_streams`: MAX_CONCURRENT_STREAMS advertised per connection; 0: the
// configured --max-streams-per-connection (the API's).
void ApplyCommonOptions(const Config& config, grpc::ServerBuilder& builder, std::uint32_t max_streams = 0);

// Drops the reflection plugin from one builder. gRPC registers reflection
// for every builder of the process once the plugin is initialised; the probe
// listener must expose nothing but health.
std::unique_ptr<grpc::ServerBuilderOption> WithoutReflection();

}  // namespace deviceapi::server
