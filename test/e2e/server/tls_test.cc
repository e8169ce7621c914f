// The optional TCP API listener: plaintext or server-only TLS only on
// loopback, mTLS (a client CA configured) anywhere. Certificates are generated per test
// with the openssl command into a temporary directory.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>
#include <vector>

#include "admin_attack.h"
#include "http2_frames.h"
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

// ---- the HTTP/2 guard behind TLS ----

// An HTTP/2 rapid reset (HEADERS for GetGpu, then RST_STREAM, in a loop)
// inside TLS, on one connection at a time, re-opened when closed.
void TlsRapidReset(int port, const std::atomic<bool>& stop, std::atomic<int>& handshakes) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  static const unsigned char kAlpn[] = {2, 'h', '2'};
  SSL_CTX_set_alpn_protos(ctx, kAlpn, sizeof(kAlpn));
  std::string block;
  for (const auto& [name, value] : std::vector<std::pair<std::string, std::string>>{
           {":method", "POST"},
           {":scheme", "https"},
           {":path", "/nvidia.nvsentinel.v1alpha1.GpuService/GetGpu"},
           {":authority", "localhost"},
           {"content-type", "application/grpc"},
           {"te", "trailers"}}) {
    block += '\0';
    block += static_cast<char>(name.size()) + name;
    block += static_cast<char>(value.size()) + value;
  }
  while (!stop.load()) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    timeval tv{0, 200000};  // no call blocks for long: a refused peer is closed at once
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    SSL* ssl = nullptr;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0) {
      ssl = SSL_new(ctx);
      SSL_set_fd(ssl, fd);
      if (SSL_connect(ssl) == 1) {
        ++handshakes;
        std::string out = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + Http2Frame(0x4, 0, 0);
        std::uint32_t id = 1;
        while (!stop.load()) {
          for (int i = 0; i < 500; ++i, id += 2) {
            out += Http2Frame(0x1, 0x4, id, block) + Http2Frame(0x3, 0, id, std::string("\0\0\0\x8", 4));
          }
          if (SSL_write(ssl, out.data(), static_cast<int>(out.size())) <= 0) break;
          out.clear();
        }
      }
      SSL_free(ssl);
    }
    ::close(fd);
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  SSL_CTX_free(ctx);
}

double TcpRejected(int metrics_port, const std::string& reason) {
  std::string body;
  if (HttpGet(metrics_port, "/metrics", &body) != 200) return -1;
  std::smatch m;
  const std::regex re("device_apiserver_api_tcp_connections_rejected_total\\{reason=\"" + reason +
                      "\"\\} ([0-9.e+]+)");
  return std::regex_search(body, m, re) ? std::stod(m[1]) : -1;
}

// S33 on the TLS listener: TLS is ended by the server's own listener, so
// the frame guard sees a rapid reset inside it and cuts it off as it does on
// the Unix socket; the process stays small and other clients are served.
TEST_F(TcpListener, RapidResetInsideTlsIsCutOffS33) {
  std::signal(SIGPIPE, SIG_IGN);  // the server closes the attacker's sockets under its writes
  auto s = StartServer(dir_.File("api.sock"), TlsFlags("127.0.0.1:0", false), RssMeasurementEnv());
  ASSERT_TRUE(s) << s.process->Stderr();
  auto consumer = v1::GpuService::NewStub(UnixChannel(s.socket));
  ASSERT_TRUE(CreateGpu(UnixChannel(s.socket), "gpu-0").ok());
  std::atomic<bool> stop{false};
  std::atomic<int> handshakes{0};
  std::vector<std::thread> attackers;
  for (int i = 0; i < 2; ++i) attackers.emplace_back([&] { TlsRapidReset(s.tcp_port, stop, handshakes); });
  int ok = 0, failed = 0;
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (std::chrono::steady_clock::now() < end) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(1));
    v1::GetGpuRequest req;
    req.set_name("gpu-0");
    v1::GetGpuResponse resp;
    if (consumer->GetGpu(&ctx, req, &resp).ok()) ++ok;
    else ++failed;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  stop.store(true);
  for (auto& t : attackers) t.join();
  const std::size_t rss = PeakRssBytes(s.process->pid());
  const double rejected = TcpRejected(s.metrics_port, "rapid_reset");
  std::printf("[ TLS rapid reset ] peak RSS %.1f MiB; %d handshakes; rejected{rapid_reset} %.0f, {backoff} %.0f; "
              "GetGpu on the socket %d ok, %d failed\n",
              rss / 1048576.0, handshakes.load(), rejected, TcpRejected(s.metrics_port, "backoff"), ok, failed);
  EXPECT_GT(handshakes.load(), 0);
  EXPECT_GT(rejected, 0) << "the guard saw the frames inside TLS";
  EXPECT_LT(rss, 256u << 20);
  EXPECT_EQ(failed, 0);
  EXPECT_GT(ok, 50);
}

// S32: clients that open TCP connections and never start their handshake
// cannot hold --max-connections against clients that authenticate: at the
// cap, the connection waiting longest in its handshake gives way to the new
// one (before, the trusted client was refused until the holders' 10 s
// handshake deadline passed).
TEST_F(TcpListener, UnfinishedHandshakesGiveWayAtTheConnectionCapS32) {
  auto flags = TlsFlags("127.0.0.1:0", true);
  flags.push_back("--max-connections=4");
  auto s = StartServer(dir_.File("api.sock"), flags);
  ASSERT_TRUE(s) << s.process->Stderr();
  std::vector<int> holders;
  for (int i = 0; i < 4; ++i) holders.push_back(ConnectLoopback(s.tcp_port));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // all accepted, all handshaking
  const auto start = std::chrono::steady_clock::now();
  grpc::Status st = ListGpus(TlsChannel(dir_.path(), s.tcp_port, "client"));
  EXPECT_TRUE(st.ok()) << st.error_message();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  EXPECT_GE(TcpRejected(s.metrics_port, "tls_handshake"), 1) << "a holder was closed";
  EXPECT_EQ(TcpRejected(s.metrics_port, "connection_limit"), 0) << "the trusted client was never refused";
  for (int fd : holders) ::close(fd);
}

// A client that does not finish its handshake (here: sends nothing) never
// reaches gRPC, and a failed handshake is counted.
TEST_F(TcpListener, FailedHandshakeCountedNeverReachesGrpc) {
  auto s = StartServer(dir_.File("api.sock"), TlsFlags("127.0.0.1:0", true));
  ASSERT_TRUE(s) << s.process->Stderr();
  // No client certificate: the handshake fails.
  EXPECT_FALSE(ListGpus(TlsChannel(dir_.path(), s.tcp_port)).ok());
  EXPECT_GE(TcpRejected(s.metrics_port, "tls_handshake"), 1);
  EXPECT_TRUE(ListGpus(TlsChannel(dir_.path(), s.tcp_port, "client")).ok()) << "the trusted client still gets in";
}

}  // namespace
}  // namespace deviceapi::testing
