#include "server/tls_termination.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

namespace deviceapi::server {
namespace {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
using Bio = std::unique_ptr<BIO, BioFree>;

Bio Open(const std::string& pem) { return Bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()))); }

std::string OpenSslError(const char* what) {
  char buf[256] = {};
  ERR_error_string_n(ERR_get_error(), buf, sizeof(buf));
  ERR_clear_error();
  return std::string(what) + ": " + buf;
}

// ALPN: "h2" when offered; no ALPN at all when not (a client without ALPN
// still gets HTTP/2, which is all this listener speaks).
int SelectAlpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in, unsigned int inlen,
               void*) {
  static const unsigned char kH2[] = {2, 'h', '2'};
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, outlen, kH2, sizeof(kH2), in, inlen) == OPENSSL_NPN_NEGOTIATED) {
    *out = selected;
    return SSL_TLSEXT_ERR_OK;
  }
  return SSL_TLSEXT_ERR_NOACK;
}

}  // namespace

std::unique_ptr<TlsServerContext> TlsServerContext::Create(const TlsConfig& tls, std::string* error) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx) {
    *error = OpenSslError("cannot create a TLS context");
    return nullptr;
  }
  std::unique_ptr<TlsServerContext> result(new TlsServerContext(ctx));
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF);
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_CTX_set_alpn_select_cb(ctx, SelectAlpn, nullptr);

  Bio certs = Open(tls.cert_pem);
  X509* leaf = certs ? PEM_read_bio_X509(certs.get(), nullptr, nullptr, nullptr) : nullptr;
  if (!leaf || SSL_CTX_use_certificate(ctx, leaf) != 1) {
    if (leaf) X509_free(leaf);
    *error = OpenSslError("cannot use the certificate");
    return nullptr;
  }
  X509_free(leaf);
  while (X509* extra = PEM_read_bio_X509(certs.get(), nullptr, nullptr, nullptr)) {
    if (SSL_CTX_add_extra_chain_cert(ctx, extra) != 1) {  // owns `extra` on success
      X509_free(extra);
      *error = OpenSslError("cannot use the certificate chain");
      return nullptr;
    }
  }
  ERR_clear_error();  // the end of the PEM reads as an error

  Bio key_bio = Open(tls.key_pem);
  EVP_PKEY* key = key_bio ? PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr) : nullptr;
  if (!key || SSL_CTX_use_PrivateKey(ctx, key) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
    if (key) EVP_PKEY_free(key);
    *error = OpenSslError("cannot use the private key");
    return nullptr;
  }
  EVP_PKEY_free(key);

  if (tls.mutual()) {
    X509_STORE* store = SSL_CTX_get_cert_store(ctx);
    Bio cas = Open(tls.client_ca_pem);
    int added = 0;
    while (X509* ca = cas ? PEM_read_bio_X509(cas.get(), nullptr, nullptr, nullptr) : nullptr) {
      const int ok = X509_STORE_add_cert(store, ca);
      X509_free(ca);
      if (ok != 1) {
        *error = OpenSslError("cannot use the client CA");
        return nullptr;
      }
      ++added;
    }
    ERR_clear_error();
    if (added == 0) {
      *error = "no certificate in the client CA file";
      return nullptr;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  }
  return result;
}

TlsServerContext::~TlsServerContext() { SSL_CTX_free(ctx_); }

SSL* TlsServerContext::NewSession(int fd) const {
  SSL* ssl = SSL_new(ctx_);
  if (!ssl) return nullptr;
  if (SSL_set_fd(ssl, fd) != 1) {
    SSL_free(ssl);
    return nullptr;
  }
  SSL_set_accept_state(ssl);
  return ssl;
}

}  // namespace deviceapi::server
