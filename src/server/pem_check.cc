#include "server/pem_check.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <memory>

namespace deviceapi::server {
namespace {

struct BioFree { void operator()(BIO* b) const { BIO_free(b); } };
struct X509Free { void operator()(X509* x) const { X509_free(x); } };
struct KeyFree { void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); } };
using Bio = std::unique_ptr<BIO, BioFree>;
using Cert = std::unique_ptr<X509, X509Free>;
using Key = std::unique_ptr<EVP_PKEY, KeyFree>;

Bio Open(const std::string& pem) {
  return Bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

// No password callback may prompt on a terminal: an encrypted key just fails.
int NoPassword(char*, int, int, void*) { return -1; }

Cert FirstCert(const std::string& pem) {
  Bio bio = Open(pem);
  return Cert(PEM_read_bio_X509(bio.get(), nullptr, NoPassword, nullptr));
}

Key ReadKey(const std::string& pem) {
  Bio bio = Open(pem);
  return Key(PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassword, nullptr));
}

}  // namespace

std::string CheckCertificatesPem(const std::string& pem) {
  Cert cert = FirstCert(pem);
  ERR_clear_error();
  return cert ? "" : "no PEM certificate in file";
}

std::string CheckPrivateKeyPem(const std::string& pem) {
  Key key = ReadKey(pem);
  ERR_clear_error();
  return key ? "" : "no unencrypted PEM private key in file";
}

std::string CheckKeyMatchesCertificate(const std::string& cert_pem, const std::string& key_pem) {
  Cert cert = FirstCert(cert_pem);
  Key key = ReadKey(key_pem);
  bool match = cert && key && X509_check_private_key(cert.get(), key.get()) == 1;
  ERR_clear_error();
  return match ? "" : "private key does not match the certificate in --tls-cert-file";
}

}  // namespace deviceapi::server
