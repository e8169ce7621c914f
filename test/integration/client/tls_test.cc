// The client's TLS options against a TLS gRPC listener (the service behind
// it is the real one): server verification by CA and name, mutual TLS with a
// client certificate, and refusal of an untrusted server.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include <grpcpp/grpcpp.h>
#include <grpcpp/security/server_credentials.h>

#include "apiserver/gpu_service.h"
#include "gpu_fixtures.h"

namespace deviceapi::testing {
namespace {

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Self-signed certificate for "localhost" made with the openssl CLI.
bool MakeCert(const std::string& dir, const std::string& name) {
  std::string cmd = "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost "
                    "-addext subjectAltName=DNS:localhost -keyout " + dir + "/" + name +
                    ".key -out " + dir + "/" + name + ".pem > /dev/null 2>&1";
  return std::system(cmd.c_str()) == 0;
}

class TlsTest : public ::testing::Test {
 protected:
  void StartServer(bool require_client_cert) {
    ASSERT_TRUE(MakeCert(dir_.path(), "server"));
    ASSERT_TRUE(MakeCert(dir_.path(), "client"));
    ASSERT_TRUE(store_.Open().ok());
    readiness_.MarkStorageLoaded();
    grpc::SslServerCredentialsOptions ssl(
        require_client_cert ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                            : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
    ssl.pem_key_cert_pairs.push_back(
        {Slurp(dir_.File("server.key")), Slurp(dir_.File("server.pem"))});
    if (require_client_cert) ssl.pem_root_certs = Slurp(dir_.File("client.pem"));
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::SslServerCredentials(ssl), &port_);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_GT(port_, 0);
  }
  void TearDown() override {
    if (server_) {
      store_.Shutdown();
      server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
    }
  }
  ClientOptions TlsOptions() {
    ClientOptions o;
    // No DNS (c-ares leaks a few bytes per process); the certificate's
    // name is checked through server_name instead.
    o.target = "ipv4:127.0.0.1:" + std::to_string(port_);
    o.tls.server_name = "localhost";
    o.default_timeout = std::chrono::seconds(5);
    o.tls.enabled = true;
    o.tls.ca_file = dir_.File("server.pem");
    return o;
  }

  TempDir dir_;
  store::Store store_;
  apiserver::Readiness readiness_{0, std::chrono::milliseconds(0), [] { return std::size_t{0}; }};
  apiserver::GpuServiceImpl service_{store_, readiness_};
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

TEST_F(TlsTest, VerifiesServerByCa) {
  StartServer(false);
  Client client(TlsOptions());
  StatusOr<Gpu> g = client.Create(MakeGpu("gpu-0", 0));
  EXPECT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_TRUE(client.Get("gpu-0").ok());
}

TEST_F(TlsTest, UntrustedServerIsRefused) {
  StartServer(false);
  ClientOptions o = TlsOptions();
  o.tls.ca_file = dir_.File("client.pem");  // not the server's issuer
  Client client(o);
  EXPECT_TRUE(client.List().status().IsUnavailable());
}

TEST_F(TlsTest, MutualTlsNeedsTheClientCertificate) {
  StartServer(true);
  Client without(TlsOptions());
  EXPECT_FALSE(without.List().ok());
  ClientOptions o = TlsOptions();
  o.tls.cert_file = dir_.File("client.pem");
  o.tls.key_file = dir_.File("client.key");
  Client with(o);
  Status s = with.List().status();
  EXPECT_TRUE(s.ok()) << s.ToString();
}

}  // namespace
}  // namespace deviceapi::testing
