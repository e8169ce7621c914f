// The gRPC metrics interceptor on a real server (gRPC's own health service,
// which uses the callback API): started/handled/latency/messages with the
// right service, method, type and code labels.
#include <gtest/gtest.h>

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include <chrono>
#include <thread>

#include "device_api.grpc.pb.h"
#include "metrics/registry.h"
#include "metrics/text_parser.h"
#include "server/grpc_metrics.h"

namespace deviceapi::server {
namespace {

using metrics::LabelMap;
using metrics::ParsedExposition;

constexpr const char* kService = "grpc.health.v1.Health";

// HealthCheckRequest{service: name}, encoded by hand (field 1, string).
grpc::ByteBuffer HealthRequest(const std::string& service) {
  std::string wire;
  if (!service.empty()) {
    wire.push_back(0x0a);
    wire.push_back(static_cast<char>(service.size()));
    wire += service;
  }
  grpc::Slice slice(wire);
  return grpc::ByteBuffer(&slice, 1);
}

class GrpcMetricsTest : public ::testing::Test {
 protected:
  void SetUp() override { Start({"nvidia.nvsentinel.v1alpha1.GpuService", "grpc.health.v1.Health", "no.Such.Service"}); }

  void Start(const std::vector<std::string>& services) {
    grpc::EnableDefaultHealthCheckService(true);
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> creators;
    creators.push_back(NewGrpcMetricsInterceptorFactory(registry_, services));
    builder.experimental().SetInterceptorCreators(std::move(creators));
    // The generated service with nothing overridden: every method answers
    // UNIMPLEMENTED through the callback API.
    builder.RegisterService(&gpu_service_);
    server_ = builder.BuildAndStart();
    ASSERT_TRUE(server_);
    server_->GetHealthCheckService()->SetServingStatus("known", true);
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(port_),
                                   grpc::InsecureChannelCredentials());
    stub_ = std::make_unique<grpc::GenericStub>(channel_);
  }
  void TearDown() override {
    stub_.reset();
    channel_.reset();
    if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  }

  grpc::Status Unary(const std::string& method, const std::string& service) {
    grpc::CompletionQueue cq;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    auto call = stub_->PrepareUnaryCall(&ctx, method, HealthRequest(service), &cq);
    call->StartCall();
    grpc::ByteBuffer response;
    grpc::Status status;
    call->Finish(&response, &status, reinterpret_cast<void*>(1));
    void* tag;
    bool ok;
    EXPECT_TRUE(cq.Next(&tag, &ok));
    cq.Shutdown();
    while (cq.Next(&tag, &ok)) {
    }
    return status;
  }

  ParsedExposition Scrape() {
    auto r = metrics::ParseText(registry_.Serialize());
    EXPECT_TRUE(r.ok) << r.error;
    return r.exposition;
  }

  static LabelMap Labels(const char* method, const char* type) {
    return {{"grpc_service", kService}, {"grpc_method", method}, {"grpc_type", type}};
  }
  static LabelMap WithCode(LabelMap l, const char* code) {
    l["grpc_code"] = code;
    return l;
  }

  metrics::Registry registry_;
  nvidia::nvsentinel::v1alpha1::GpuService::CallbackService gpu_service_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<grpc::GenericStub> stub_;
};

TEST_F(GrpcMetricsTest, UnaryCallsCountedByCode) {
  EXPECT_TRUE(Unary("/grpc.health.v1.Health/Check", "").ok());
  EXPECT_TRUE(Unary("/grpc.health.v1.Health/Check", "known").ok());
  EXPECT_EQ(Unary("/grpc.health.v1.Health/Check", "unknown-service").error_code(),
            grpc::StatusCode::NOT_FOUND);

  ParsedExposition e = Scrape();
  const LabelMap l = Labels("Check", "unary");
  EXPECT_EQ(e.Value("grpc_server_started_total", l), 3.0);
  EXPECT_EQ(e.Value("grpc_server_handled_total", WithCode(l, "OK")), 2.0);
  EXPECT_EQ(e.Value("grpc_server_handled_total", WithCode(l, "NotFound")), 1.0);
  EXPECT_FALSE(e.Value("grpc_server_handled_total", WithCode(l, "Internal")).has_value());
  EXPECT_EQ(e.Value("grpc_server_msg_received_total", l), 3.0);
  EXPECT_EQ(e.Value("grpc_server_msg_sent_total", l), 2.0);  // NOT_FOUND carries no message
  LabelMap inf = l;
  inf["le"] = "+Inf";
  EXPECT_EQ(e.Value("grpc_server_handling_seconds_bucket", inf), 3.0);
  EXPECT_EQ(e.Value("grpc_server_handling_seconds_count", l), 3.0);
  EXPECT_GT(*e.Value("grpc_server_handling_seconds_sum", l), 0.0);
  EXPECT_LT(*e.Value("grpc_server_handling_seconds_sum", l), 10.0);
}

TEST_F(GrpcMetricsTest, UnknownMethodDoesNotBreakAnything) {
  EXPECT_EQ(Unary("/no.Such/Method", "").error_code(), grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_EQ(Unary("garbage", "").error_code(), grpc::StatusCode::UNIMPLEMENTED);
  // A registered method without an implementation.
  EXPECT_EQ(Unary("/nvidia.nvsentinel.v1alpha1.GpuService/ListGpus", "").error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_TRUE(Unary("/grpc.health.v1.Health/Check", "").ok());
  ParsedExposition e = Scrape();
  EXPECT_EQ(e.Value("grpc_server_started_total", Labels("Check", "unary")), 1.0);
  EXPECT_EQ(e.Value("grpc_server_handled_total",
                    {{"grpc_service", "nvidia.nvsentinel.v1alpha1.GpuService"},
                     {"grpc_method", "ListGpus"},
                     {"grpc_type", "unary"},
                     {"grpc_code", "Unimplemented"}}),
            1.0);
  // Undeclared paths share one "unknown" series: a client cannot grow the
  // label space by inventing method names.
  for (const auto* s : e.Samples("grpc_server_started_total")) {
    EXPECT_NE(s->labels.at("grpc_service"), "no.Such");
    EXPECT_NE(s->labels.at("grpc_method"), "garbage");
  }
  double unknown = 0;
  for (const auto* s : e.Samples("grpc_server_handled_total")) {
    if (s->labels.at("grpc_service") == "unknown") {
      EXPECT_EQ(s->labels.at("grpc_method"), "unknown");
      EXPECT_EQ(s->labels.at("grpc_code"), "Unimplemented");
      unknown += s->value;
    }
  }
  EXPECT_EQ(unknown, 2.0);
}

TEST_F(GrpcMetricsTest, DeclaredMethodsStartAtZero) {
  ParsedExposition e = Scrape();
  const LabelMap watch{{"grpc_service", "nvidia.nvsentinel.v1alpha1.GpuService"},
                       {"grpc_method", "WatchGpus"},
                       {"grpc_type", "server_stream"}};
  EXPECT_EQ(e.Value("grpc_server_started_total", watch), 0.0);
  EXPECT_EQ(e.Value("grpc_server_handled_total", WithCode(watch, "OK")), 0.0);
  for (const char* m : {"GetGpu", "ListGpus", "CreateGpu", "UpdateGpu", "UpdateGpuStatus", "DeleteGpu"}) {
    EXPECT_EQ(e.Value("grpc_server_started_total",
                      {{"grpc_service", "nvidia.nvsentinel.v1alpha1.GpuService"},
                       {"grpc_method", m},
                       {"grpc_type", "unary"}}),
              0.0)
        << m;
  }
  EXPECT_EQ(e.Value("grpc_server_started_total", Labels("Watch", "server_stream")), 0.0);
  EXPECT_EQ(e.Value("grpc_server_started_total", Labels("Check", "unary")), 0.0);
}

TEST_F(GrpcMetricsTest, ServerStreamCancelledByClient) {
  grpc::CompletionQueue cq;
  grpc::ClientContext ctx;
  auto call = stub_->PrepareCall(&ctx, "/grpc.health.v1.Health/Watch", &cq);
  void* tag;
  bool ok;
  call->StartCall(reinterpret_cast<void*>(1));
  ASSERT_TRUE(cq.Next(&tag, &ok) && ok);
  call->WriteLast(HealthRequest(""), grpc::WriteOptions(), reinterpret_cast<void*>(2));
  ASSERT_TRUE(cq.Next(&tag, &ok) && ok);
  grpc::ByteBuffer first;
  call->Read(&first, reinterpret_cast<void*>(3));
  ASSERT_TRUE(cq.Next(&tag, &ok) && ok);  // the current status arrives

  ctx.TryCancel();
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(4));
  ASSERT_TRUE(cq.Next(&tag, &ok));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::CANCELLED);
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }

  const LabelMap l = Labels("Watch", "server_stream");
  // The server learns of the cancellation asynchronously: wait for it.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  std::optional<double> handled;
  while (std::chrono::steady_clock::now() < deadline) {
    handled = Scrape().Value("grpc_server_handled_total", WithCode(l, "Canceled"));
    if (handled) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(handled, 1.0) << registry_.Serialize();
  ParsedExposition e = Scrape();
  EXPECT_EQ(e.Value("grpc_server_started_total", l), 1.0);
  EXPECT_GE(*e.Value("grpc_server_msg_sent_total", l), 1.0);
  EXPECT_EQ(e.Value("grpc_server_msg_received_total", l), 1.0);
}

class GrpcMetricsUndeclaredTest : public GrpcMetricsTest {
 protected:
  void SetUp() override { Start({}); }
};

// Without declared services paths are recorded as they come, but a client
// inventing method names cannot grow the series without bound.
TEST_F(GrpcMetricsUndeclaredTest, AutoRecordedPathsAreCapped) {
  EXPECT_TRUE(Unary("/grpc.health.v1.Health/Check", "").ok());
  for (int i = 0; i < 80; ++i) {
    EXPECT_EQ(Unary("/evil.S" + std::to_string(i) + "/M", "").error_code(),
              grpc::StatusCode::UNIMPLEMENTED);
  }
  ParsedExposition e = Scrape();
  EXPECT_EQ(e.Value("grpc_server_started_total", Labels("Check", "unary")), 1.0);
  const auto started = e.Samples("grpc_server_started_total");
  EXPECT_LE(started.size(), 65u);
  double total = 0;
  for (const auto* s : started) total += s->value;
  EXPECT_EQ(total, 81.0);  // every call counted, the overflow as "unknown"
  EXPECT_GE(*e.Value("grpc_server_started_total",
                     {{"grpc_service", "unknown"}, {"grpc_method", "unknown"}, {"grpc_type", "bidi_stream"}}),
            17.0);
}

TEST(GrpcCodeNameTest, GoNames) {
  EXPECT_STREQ(GrpcCodeName(0), "OK");
  EXPECT_STREQ(GrpcCodeName(1), "Canceled");
  EXPECT_STREQ(GrpcCodeName(5), "NotFound");
  EXPECT_STREQ(GrpcCodeName(8), "ResourceExhausted");
  EXPECT_STREQ(GrpcCodeName(10), "Aborted");
  EXPECT_STREQ(GrpcCodeName(16), "Unauthenticated");
  EXPECT_STREQ(GrpcCodeName(17), "Unknown");
  EXPECT_STREQ(GrpcCodeName(-1), "Unknown");
}

TEST(GrpcServerMetricsTest, InitializeServiceRejectsUnknownNames) {
  metrics::Registry registry;
  GrpcServerMetrics m(registry);
  EXPECT_FALSE(m.InitializeService("no.Such.Service"));
  EXPECT_TRUE(m.InitializeService("nvidia.nvsentinel.v1alpha1.GpuService"));
}

TEST(GrpcServerMetricsTest, InitializeMethodCreatesZeroSeries) {
  metrics::Registry registry;
  GrpcServerMetrics m(registry);
  m.InitializeMethod("/nvidia.nvsentinel.v1alpha1.GpuService/GetGpu", "unary");
  m.InitializeMethod("not-a-method", "unary");  // ignored
  auto r = metrics::ParseText(registry.Serialize());
  ASSERT_TRUE(r.ok) << r.error;
  const LabelMap l{{"grpc_service", "nvidia.nvsentinel.v1alpha1.GpuService"},
                   {"grpc_method", "GetGpu"},
                   {"grpc_type", "unary"}};
  EXPECT_EQ(r.exposition.Value("grpc_server_started_total", l), 0.0);
  LabelMap ok = l;
  ok["grpc_code"] = "OK";
  EXPECT_EQ(r.exposition.Value("grpc_server_handled_total", ok), 0.0);
  EXPECT_EQ(r.exposition.Family("grpc_server_started_total")->samples.size(), 1u);
  EXPECT_THROW(GrpcServerMetrics again(registry), std::invalid_argument);
}

}  // namespace
}  // namespace deviceapi::server
