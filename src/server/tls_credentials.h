// Server credentials for the TCP API listener: TLS when a certificate is
// configured, with required and verified client certificates (mTLS) when a
// client CA is configured; plaintext otherwise (config_builder.cc allows that
// only on loopback).
#pragma once

#include <grpcpp/security/server_credentials.h>

#include <memory>

#include "server/config.h"

namespace deviceapi::server {

std::shared_ptr<grpc::ServerCredentials> TcpListenerCredentials(const TlsConfig& tls);

}  // namespace deviceapi::server
