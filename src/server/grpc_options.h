// ServerBuilder settings shared by every gRPC listener of the process:
// SO_REUSEPORT off (a second server on the same port must fail, not share it),
// message size limits, streams per connection and keepalive with enforcement.
#pragma once

#include <grpcpp/server_builder.h>

#include "server/config.h"

namespace deviceapi::server {

void ApplyCommonOptions(const Config& config, grpc::ServerBuilder& builder);

// Drops the reflection plugin from one builder. gRPC registers reflection
// for every builder of the process once the plugin is initialised; the probe
// listener must expose nothing but health.
std::unique_ptr<grpc::ServerBuilderOption> WithoutReflection();

}  // namespace deviceapi::server
