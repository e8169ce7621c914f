// Start-up checks of the TLS material with OpenSSL, so a wrong file is one
// clear error (exit 2) naming the flag instead of a TLS listener that fails
// deep inside gRPC. Each returns "" when fine, else the reason.
#pragma once

#include <string>

namespace deviceapi::server {

// At least one X.509 certificate in PEM form.
std::string CheckCertificatesPem(const std::string& pem);
// A PEM private key (unencrypted).
std::string CheckPrivateKeyPem(const std::string& pem);
// The first certificate in `cert_pem` belongs to `key_pem`.
std::string CheckKeyMatchesCertificate(const std::string& cert_pem, const std::string& key_pem);

}  // namespace deviceapi::server
