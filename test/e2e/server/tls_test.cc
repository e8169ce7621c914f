// The optional TCP API listener: plaintext or server-only TLS only on
// loopback, mTLS (a client CA configured) anywhere. Certificates are generated per test
// with the openssl command into a temporary directory.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "test_support.h"

namespace deviceapi::testing {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// ca.pem, server.{pem,key} (SAN localhost, 127.0.0.1), client.{pem,key};
// plus other-ca.pem and rogue-client.{pem,key} signed by a CA the server does not trust.
bool GenerateCerts(const std::string& dir) {
  const std::string key = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
  std::string script = "set -e; cd '" + dir + "'; exec 2>openssl.log\n" +
      "printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\nextendedKeyUsage=serverAuth\\n' > server.ext\n"
      "printf 'extendedKeyUsage=clientAuth\\n' > client.ext\n"
      "openssl req -x509 " + key + " -keyout ca.key -out ca.pem -days 1 -subj /CN=test-ca\n"
      "openssl req -x509 " + key + " -keyout other-ca.key -out other-ca.pem -days 1 -subj /CN=other-ca\n"
      "openssl req " + key + " -keyout server.key -out server.csr -subj /CN=localhost\n"
      "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 "
      "-extfile server.ext -out server.pem\n"
      "openssl req " + key + " -keyout client.key -out client.csr -subj /CN=client\n"
      "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 "
      "-extfile client.ext -out client.pem\n"
      "openssl req " + key + " -keyout rogue-client.key -out rogue.csr -subj /CN=rogue\n"
      "openssl x509 -req -in rogue.csr -CA other-ca.pem -CAkey other-ca.key -CAcreateserial -days 1 "
      "-extfile client.ext -out rogue-client.pem\n";
  std::ofstream(dir + "/gen.sh") << script;
  return std::system(("sh '" + dir + "/gen.sh'").c_str()) == 0;
}

std::shared_ptr<grpc::Channel> TlsChannel(const std::string& dir, int port, const std::string& client = "") {
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = ReadFile(dir + "/ca.pem");
  if (!client.empty()) {
    options.pem_cert_chain = ReadFile(dir + "/" + client + ".pem");
    options.pem_private_key = ReadFile(dir + "/" + client + ".key");
  }
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride("localhost");
  return grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(port), grpc::SslCredentials(options),
                                   args);
}

class TcpListener : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(GenerateCerts(dir_.path())) << ReadFile(dir_.File("openssl.log")); }
  std::vector<std::string> TlsFlags(const std::string& bind, bool mutual) {
    std::vector<std::string> f = {"--tcp-bind-address=" + bind, "--tls-cert-file=" + dir_.File("server.pem"),
                                  "--tls-key-file=" + dir_.File("server.key")};
    if (mutual) f.push_back("--tls-client-ca-file=" + dir_.File("ca.pem"));
    return f;
  }
  TempDir dir_;
};

TEST(TcpPlaintext, LoopbackServesTheApi) {
  TempDir dir;
  auto s = StartServer(dir.File("api.sock"), {"--tcp-bind-address=127.0.0.1:0"});
  ASSERT_TRUE(s) << s.process->Stderr();
  ASSERT_GT(s.tcp_port, 0);
  EXPECT_TRUE(CreateGpu(TcpChannel(s.tcp_port), "gpu-tcp").ok());
  v1::ListGpusResponse list;
  ASSERT_TRUE(ListGpus(UnixChannel(s.socket), &list).ok());
  EXPECT_EQ(list.gpu_list().items_size(), 1) << "one store behind both listeners";
}

TEST_F(TcpListener, TlsAcceptsTlsClientsAndRejectsPlaintext) {
  auto s = StartServer(dir_.File("api.sock"), TlsFlags("127.0.0.1:0", false));
  ASSERT_TRUE(s) << s.process->Stderr();
  EXPECT_EQ(s.started.value("tls", ""), "tls");
  grpc::Status st = ListGpus(TlsChannel(dir_.path(), s.tcp_port));
  EXPECT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(CheckHealth(TlsChannel(dir_.path(), s.tcp_port)), grpc::health::v1::HealthCheckResponse::SERVING);

  st = ListGpus(TcpChannel(s.tcp_port));
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE) << st.error_message();
}

// S35: off loopback, server-only TLS authenticates nobody (any client could
// create and delete GPUs): refused at start with one line, exit 2.
TEST_F(TcpListener, ServerOnlyTlsOffLoopbackIsRefusedS35) {
  for (const char* bind : {"0.0.0.0:0", ":0", "[::]:0"}) {
    auto args = BaseArgs(dir_.File("api.sock"));
    for (auto& f : TlsFlags(bind, false)) args.push_back(f);
    ExitResult r = RunToExit(args);
    EXPECT_EQ(r.code, 2) << bind << ": " << r.err;
    auto lines = Lines(r.err);
    ASSERT_EQ(lines.size(), 1u) << bind << ": " << r.err;
    EXPECT_NE(lines[0].find("--tls-client-ca-file"), std::string::npos) << lines[0];
  }
}

// S35: with client certificates required, any address is fine.
TEST_F(TcpListener, MutualTlsAllowsNonLoopbackBindS35) {
  auto s = StartServer(dir_.File("api.sock"), TlsFlags("0.0.0.0:0", true));
  ASSERT_TRUE(s) << s.process->Stderr();
  EXPECT_TRUE(ListGpus(TlsChannel(dir_.path(), s.tcp_port, "client")).ok());
  EXPECT_FALSE(ListGpus(TlsChannel(dir_.path(), s.tcp_port)).ok()) << "anonymous TLS client";
}

TEST_F(TcpListener, MutualTlsRequiresATrustedClientCertificate) {
  auto s = StartServer(dir_.File("api.sock"), TlsFlags("127.0.0.1:0", true));
  ASSERT_TRUE(s) << s.process->Stderr();
  EXPECT_EQ(s.started.value("tls", ""), "mtls");

  grpc::Status st = ListGpus(TlsChannel(dir_.path(), s.tcp_port, "client"));
  EXPECT_TRUE(st.ok()) << st.error_message();

  st = ListGpus(TlsChannel(dir_.path(), s.tcp_port));
  EXPECT_FALSE(st.ok()) << "no client certificate";
  st = ListGpus(TlsChannel(dir_.path(), s.tcp_port, "rogue-client"));
  EXPECT_FALSE(st.ok()) << "client certificate from an untrusted CA";
  st = ListGpus(TcpChannel(s.tcp_port));
  EXPECT_FALSE(st.ok()) << "plaintext";
}

TEST_F(TcpListener, KeyNotMatchingCertificateFailsStartup) {
  ExitResult r = RunToExit([&] {
    auto a = BaseArgs(dir_.File("api.sock"));
    a.push_back("--tcp-bind-address=127.0.0.1:0");
    a.push_back("--tls-cert-file=" + dir_.File("server.pem"));
    a.push_back("--tls-key-file=" + dir_.File("client.key"));
    return a;
  }());
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("device-api-server: "), std::string::npos) << r.err;
}

}  // namespace
}  // namespace deviceapi::testing
