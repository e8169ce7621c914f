// TLS for the TCP API listener, terminated by the server's own listener
// (guarded_listener.h) so that the HTTP/2 frame guard sees the frames a TLS
// client sends, as it does on the Unix socket; gRPC gets the plaintext.
//
// Contract:
// - TLS 1.2 or 1.3, OpenSSL's default ciphers; ALPN "h2" is selected when
//   the client offers it (gRPC clients do; grpc-go requires it).
// - With a client CA (TlsConfig::mutual()), a client must present a
//   certificate that chains to it, or the handshake fails (mTLS); without
//   one, no client certificate is asked for.
// - The certificate PEM may hold a chain: the first certificate is the
//   server's, the rest are sent as intermediates.
// - An unexpected EOF from the client reads as an orderly end.
// - Thread-safe: sessions may be created from any thread.
#pragma once

#include <memory>
#include <string>

#include "server/config.h"

typedef struct ssl_st SSL;
typedef struct ssl_ctx_st SSL_CTX;

namespace deviceapi::server {

class TlsServerContext {
 public:
  // From the PEM contents of `tls` (enabled()); null with a one-line reason.
  static std::unique_ptr<TlsServerContext> Create(const TlsConfig& tls, std::string* error);
  ~TlsServerContext();
  TlsServerContext(const TlsServerContext&) = delete;
  TlsServerContext& operator=(const TlsServerContext&) = delete;

  // A server-side session on the connected socket `fd` (not owned), in
  // accept state; null if OpenSSL cannot make one. Free with SSL_free.
  SSL* NewSession(int fd) const;

 private:
  explicit TlsServerContext(SSL_CTX* ctx) : ctx_(ctx) {}
  SSL_CTX* ctx_;
};

}  // namespace deviceapi::server
