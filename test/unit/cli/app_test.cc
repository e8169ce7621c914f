// devicectl end to end in-process: Run() against a FakeClient (the real
// service behind an in-process channel), checking output, one-line errors
// and exit codes (0 ok, 1 error, 2 usage) for every command, bad input
// included.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <functional>
#include <fstream>
#include <sstream>
#include <thread>

#include "cli/app.h"
#include "deviceapi/build_info.h"
#include "deviceapi/conditions.h"
#include "deviceapi/fake_client.h"
#include "deviceapi/lease.h"

namespace deviceapi::cli {
namespace {

struct Result {
  int code;
  std::string out, err;
};

class DevicectlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/devicectl-XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  Result Run(std::vector<std::string> args, const std::string& stdin_text = "") {
    std::ostringstream out;
    Result r = RunTo(std::move(args), out, stdin_text);
    r.out = out.str();
    return r;
  }

  // Run() writing its output to `out`; Result::out stays empty.
  Result RunTo(std::vector<std::string> args, std::ostream& out, const std::string& stdin_text = "") {
    std::ostringstream err;
    std::istringstream in(stdin_text);
    Environment env;
    if (clock_) env.clock = clock_;
    else env.now = TimePoint(std::chrono::seconds(2000000000));
    env.in = &in;
    env.connect = [this](const std::string& target, std::chrono::milliseconds timeout) {
      last_target_ = target;
      last_timeout_ = timeout;
      return std::shared_ptr<Client>(&fake_, [](Client*) {});
    };
    env.server_env = server_env_;
    int code = cli::Run(args, out, err, env);
    return {code, "", err.str()};
  }

  std::string Write(const std::string& name, const std::string& text) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    return path;
  }

  void CreateSample(const std::string& name, int i, const std::string& extra_labels = "",
                    const std::string& ns = "") {
    char uuid[64];
    std::snprintf(uuid, sizeof(uuid), "GPU-%08x-1111-2222-3333-444444444444", i);
    std::string yaml = "metadata:\n  name: " + name + "\n" +
                       (ns.empty() ? "" : "  namespace: " + ns + "\n") + "  labels:\n    zone: " +
                       (i % 2 ? "b" : "a") + "\n" + extra_labels + "spec:\n  uuid: " + uuid + "\n";
    Result r = Run({"create", "-f", Write(name + ".yaml", yaml)});
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.out, "gpu/" + name + " created\n");
  }

  // When set, commands read this clock instead of a pinned time.
  std::function<TimePoint()> clock_;

  static void ExpectOneLineError(const Result& r, int code, const std::string& needle) {
    EXPECT_EQ(r.code, code) << r.out << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
    EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
    if (code == kExitError) {
      EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    }
  }

  std::string dir_;
  std::string server_env_;
  std::string last_target_;
  int label_value_ = 0;
  std::chrono::milliseconds last_timeout_{0};
  FakeClient fake_;
};

TEST_F(DevicectlTest, GetListsAndFormats) {
  Result empty = Run({"get", "gpus"});
  EXPECT_EQ(empty.code, 0);
  EXPECT_EQ(empty.out, "");
  EXPECT_EQ(empty.err, "No resources found in default namespace.\n");

  CreateSample("gpu-0", 0);
  CreateSample("gpu-1", 1);
  Result table = Run({"get", "gpus"});
  ASSERT_EQ(table.code, 0) << table.err;
  std::istringstream lines(table.out);
  std::string header, row0, row1;
  std::getline(lines, header);
  std::getline(lines, row0);
  std::getline(lines, row1);
  EXPECT_EQ(header.rfind("NAME    UUID", 0), 0u) << header;
  EXPECT_LT(header.find("UUID"), header.find("READY"));
  EXPECT_LT(header.find("READY"), header.find("REASON"));
  EXPECT_LT(header.find("REASON"), header.find("ACTION"));
  EXPECT_LT(header.find("ACTION"), header.find("AGE"));
  EXPECT_EQ(row0.rfind("gpu-0   GPU-00000000-1111-2222-3333-444444444444   Unknown   <none>",
                       0), 0u) << row0;

  EXPECT_EQ(Run({"get", "gpus", "-o", "name"}).out, "gpu/gpu-0\ngpu/gpu-1\n");
  EXPECT_EQ(Run({"get", "gpu", "gpu-1", "-o", "name"}).out, "gpu/gpu-1\n");
  EXPECT_EQ(Run({"get", "gpus", "-l", "zone=b", "-o", "name"}).out, "gpu/gpu-1\n");
  EXPECT_EQ(Run({"get", "gpus", "-n", "other", "-o", "name"}).out, "");
  Result json = Run({"get", "gpus", "-o", "json"});
  EXPECT_NE(json.out.find("\"kind\": \"GpuList\""), std::string::npos);
  Result yaml = Run({"get", "gpu", "gpu-0", "-o", "yaml"});
  EXPECT_NE(yaml.out.find("  name: gpu-0\n"), std::string::npos) << yaml.out;
  Result wide = Run({"get", "gpus", "-o", "wide", "-A"});
  EXPECT_EQ(wide.out.rfind("NAMESPACE   NAME", 0), 0u) << wide.out;
  EXPECT_NE(wide.out.find("LABELS"), std::string::npos);
}

TEST_F(DevicectlTest, ServerFlagThenEnvThenDefault) {
  Run({"get", "gpus"});
  EXPECT_EQ(last_target_, kDefaultServerTarget);
  server_env_ = "unix:///tmp/env.sock";
  Run({"get", "gpus"});
  EXPECT_EQ(last_target_, "unix:///tmp/env.sock");
  Run({"--server", "unix:///tmp/flag.sock", "get", "gpus"});
  EXPECT_EQ(last_target_, "unix:///tmp/flag.sock");
}

// "--server=" is the empty value, as kubectl reads it: the next argument stays an argument.
TEST_F(DevicectlTest, EmptyAssignmentDoesNotSwallowTheNextArgument) {
  CreateSample("gpu-0", 0);
  Result r = Run({"--server=", "get", "gpus", "-o", "name"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "gpu/gpu-0\n");
  EXPECT_EQ(last_target_, kDefaultServerTarget);
  r = Run({"get", "gpus", "--selector=", "-o", "name"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "gpu/gpu-0\n");
}

TEST_F(DevicectlTest, DescribeShowsConditionsWithAges) {
  CreateSample("gpu-0", 0);
  Result set = Run({"set-condition", "gpu", "gpu-0", "Ready=False", "--reason", "XidCritical",
                    "--message", "Xid 79"});
  ASSERT_EQ(set.code, 0) << set.err;
  EXPECT_EQ(set.out, "gpu/gpu-0 condition Ready=False\n");
  Result d = Run({"describe", "gpu", "gpu-0"});
  ASSERT_EQ(d.code, 0) << d.err;
  EXPECT_NE(d.out.find("Name:               gpu-0\n"), std::string::npos) << d.out;
  EXPECT_NE(d.out.find("Conditions:\n  TYPE    STATUS   REASON        AGE"), std::string::npos)
      << d.out;
  EXPECT_NE(d.out.find("Ready   False    XidCritical"), std::string::npos) << d.out;
  Result t = Run({"get", "gpus"});
  EXPECT_NE(t.out.find("False   XidCritical"), std::string::npos) << t.out;
}

TEST_F(DevicectlTest, SetConditionKeepsOtherConditions) {
  CreateSample("gpu-0", 0);
  ASSERT_EQ(Run({"set-condition", "gpu", "gpu-0", "Ready=True", "--reason", "Fine"}).code, 0);
  ASSERT_EQ(Run({"set-condition", "gpu", "gpu-0", "example.com/Drained=False"}).code, 0);
  StatusOr<Gpu> g = fake_.Get("gpu-0");
  ASSERT_TRUE(g.ok());
  EXPECT_TRUE(IsConditionTrue(g->status(), "Ready"));
  EXPECT_NE(FindCondition(g->status(), "example.com/Drained"), nullptr);
}

// S31 through devicectl: kubectl's patch flags; conditions merge by type
// (strategic, the default); bad documents and flags are one-line errors and
// change nothing.
TEST_F(DevicectlTest, PatchMergesLikeKubectl) {
  CreateSample("gpu-0", 0);
  ASSERT_EQ(Run({"set-condition", "gpu", "gpu-0", "Ready=True", "--reason", "Fine"}).code, 0);
  Result status = Run({"patch", "gpu", "gpu-0", "--subresource", "status", "-p",
                       R"({"status":{"conditions":[{"type":"example.com/Fans","status":"False","reason":"Stalled"}]}})"});
  ASSERT_EQ(status.code, 0) << status.err;
  EXPECT_EQ(status.out, "gpu/gpu-0 patched\n");
  Result labels = Run({"patch", "gpu", "gpu-0", "--type", "merge", "--patch-file", "-"},
                      R"({"metadata":{"labels":{"rack":"12"}}})");
  ASSERT_EQ(labels.code, 0) << labels.err;
  StatusOr<Gpu> g = fake_.Get("gpu-0");
  ASSERT_TRUE(g.ok());
  EXPECT_TRUE(IsConditionTrue(g->status(), "Ready"));
  EXPECT_NE(FindCondition(g->status(), "example.com/Fans"), nullptr);
  EXPECT_EQ(g->metadata().labels().at("rack"), "12");
  const std::string version = g->metadata().resource_version();

  ExpectOneLineError(Run({"patch", "gpu", "gpu-0", "-p", "{bad"}), 1, "(Invalid): invalid patch");
  ExpectOneLineError(Run({"patch", "gpu", "gpu-0", "-p", R"({"status":{"recommendedAction":"RESET_GPU"}})"}),
                     1, "(Invalid)");
  ExpectOneLineError(Run({"patch", "gpu", "missing", "-p", "{}"}), 1, "not found");
  ExpectOneLineError(Run({"patch", "gpu", "gpu-0", "--type", "json", "-p", "[]"}), 2, "not supported");
  ExpectOneLineError(Run({"patch", "gpu", "gpu-0"}), 2, "exactly one of");
  ExpectOneLineError(Run({"patch", "gpu", "gpu-0", "--subresource", "spec", "-p", "{}"}), 2,
                     "--subresource");
  EXPECT_EQ(fake_.Get("gpu-0")->metadata().resource_version(), version);
}

// S28: get leases shows who holds each lease, when it was renewed, whether
// it still stands and which conditions it owns.
TEST_F(DevicectlTest, GetLeasesShowsHolderStateAndOwnedConditions) {
  Result none = Run({"get", "leases"});
  EXPECT_EQ(none.code, 0) << none.err;
  EXPECT_EQ(none.err, "No resources found in default namespace.\n");
  LeaseClient leases(fake_);
  Lease lease;
  lease.mutable_metadata()->set_name("nvml-provider");
  lease.mutable_spec()->set_holder_identity("node-a");
  lease.mutable_spec()->set_lease_duration_seconds(40);
  lease.mutable_spec()->add_condition_types("NVMLReady");
  ASSERT_TRUE(leases.Create(lease).ok());

  // devicectl's clock (the test's fixed "now") is years after the server
  // stamped the renewal: the lease reads as expired.
  Result table = Run({"get", "leases"});
  ASSERT_EQ(table.code, 0) << table.err;
  EXPECT_EQ(table.out.rfind("NAME            HOLDER   DURATION   RENEWED", 0), 0u) << table.out;
  EXPECT_NE(table.out.find("nvml-provider   node-a   40s"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("expired   NVMLReady\n"), std::string::npos) << table.out;
  Result name = Run({"get", "lease", "nvml-provider", "-o", "name"});
  EXPECT_EQ(name.out, "lease/nvml-provider\n");
  Result json = Run({"get", "lease", "nvml-provider", "-o", "json"});
  ASSERT_EQ(json.code, 0) << json.err;
  Json parsed = Json::parse(json.out);
  EXPECT_EQ(parsed["kind"], "Lease");
  EXPECT_EQ(parsed["spec"]["holderIdentity"], "node-a");
  Result yaml = Run({"get", "leases", "-o", "yaml"});
  EXPECT_NE(yaml.out.find("kind: List"), std::string::npos) << yaml.out;
  ExpectOneLineError(Run({"get", "lease", "missing"}), 1, "not found");
  // A missing name among others: its error line, the others printed, exit 1.
  Result some = Run({"get", "leases", "missing", "nvml-provider", "-o", "name"});
  EXPECT_EQ(some.code, 1) << some.err;
  EXPECT_EQ(some.out, "lease/nvml-provider\n");
  EXPECT_EQ(std::count(some.err.begin(), some.err.end(), '\n'), 1) << some.err;
  EXPECT_NE(some.err.find("missing not found"), std::string::npos) << some.err;
  ExpectOneLineError(Run({"get", "leases", "-o", "wide"}), 2, "for leases");
  ExpectOneLineError(Run({"get", "leases", "-w"}), 2, "leases support");
}

// Any client may write messages, annotations, device info and lease holders:
// what the server stores is printed escaped, so a newline cannot add a row and
// an ESC cannot reach the terminal, in every human-readable output.
TEST_F(DevicectlTest, WrittenControlCharactersArePrintedEscaped) {
  CreateSample("gpu-0", 0);
  const std::string forged = "\ngpu-evil   GPU-00000009-1111-2222-3333-444444444444   True";
  StatusOr<Gpu> g = fake_.Get("gpu-0");
  ASSERT_TRUE(g.ok()) << g.status().message();
  (*g->mutable_metadata()->mutable_annotations())["example.com/note"] = "x" + forged;
  g = fake_.Update(*g);
  ASSERT_TRUE(g.ok()) << g.status().message();
  auto* st = g->mutable_status();
  st->set_recommended_action("RESET_GPU" + forged + "\x1b[2J");
  st->mutable_device_info()->set_product_name("H100\x1b]0;owned\x07\xc2\x9b" "31m");
  auto* c = st->add_conditions();
  c->set_type("Ready");
  c->set_status("False");
  c->set_message("bus\r" + forged);
  ASSERT_TRUE(fake_.UpdateStatus(*g).ok());
  LeaseClient leases(fake_);
  Lease lease;
  lease.mutable_metadata()->set_name("nvml-provider");
  lease.mutable_spec()->set_holder_identity("node-a" + forged + "\x1b[31m");
  lease.mutable_spec()->set_lease_duration_seconds(40);
  ASSERT_TRUE(leases.Create(lease).ok());

  // `lines`: header and rows of a table (0: not a table).
  auto expect_clean = [](const Result& r, std::size_t lines) {
    EXPECT_EQ(r.code, 0) << r.err;
    if (lines != 0) {
      EXPECT_EQ(static_cast<std::size_t>(std::count(r.out.begin(), r.out.end(), '\n')), lines)
          << r.out;
    }
    EXPECT_EQ(r.out.find("\ngpu-evil"), std::string::npos) << r.out;
    for (char ch : r.out) {
      unsigned char b = static_cast<unsigned char>(ch);
      EXPECT_FALSE((b < 0x20 && b != '\n') || b == 0x7f) << "raw byte " << int(b) << ":\n" << r.out;
    }
    EXPECT_EQ(r.out.find("\xc2\x9b"), std::string::npos) << r.out;
  };
  Result table = Run({"get", "gpus"});
  expect_clean(table, 2);
  EXPECT_NE(table.out.find("RESET_GPU\\ngpu-evil"), std::string::npos) << table.out;
  expect_clean(Run({"get", "gpus", "-o", "wide"}), 2);
  expect_clean(Run({"get", "gpus", "-w", "--watch-timeout", "1"}), 2);
  Result describe = Run({"describe", "gpu", "gpu-0"});
  expect_clean(describe, 0);
  EXPECT_NE(describe.out.find("bus\\r\\ngpu-evil"), std::string::npos) << describe.out;
  EXPECT_NE(describe.out.find("H100\\x1b]0;owned\\x07\\u009b31m"), std::string::npos)
      << describe.out;
  Result lease_table = Run({"get", "leases"});
  expect_clean(lease_table, 2);
  EXPECT_NE(lease_table.out.find("node-a\\ngpu-evil"), std::string::npos) << lease_table.out;
  // JSON keeps the value itself, escaped the JSON way.
  Result json = Run({"get", "lease", "nvml-provider", "-o", "json"});
  EXPECT_EQ(Json::parse(json.out)["spec"]["holderIdentity"], "node-a" + forged + "\x1b[31m");
}

// Error lines stay one line, and control characters in a message are escaped.
TEST(ErrorLine, OneLineWithoutControlCharacters) {
  const Status st(grpc::StatusCode::NOT_FOUND, "gpu \"x\x1b[2J\" not found\r\nnext\t\x7f");
  EXPECT_EQ(ErrorLine(st, "unix:///run/x.sock"),
            "Error from server (NotFound): gpu \"x\\x1b[2J\" not found  next\\t\\x7f");
}

// kubectl's reasons; the codes Kubernetes has none for get the Go client's.
TEST(ErrorLine, ReasonOfEachCode) {
  auto line = [](grpc::StatusCode code) { return ErrorLine(Status(code, "m"), "t"); };
  EXPECT_EQ(line(grpc::StatusCode::FAILED_PRECONDITION),
            "Error from server (FailedPrecondition): m");
  EXPECT_EQ(line(grpc::StatusCode::CANCELLED), "Error from server (Canceled): m");
  EXPECT_EQ(line(grpc::StatusCode::ABORTED), "Error from server (Conflict): m");
  EXPECT_EQ(line(grpc::StatusCode::NOT_FOUND), "Error from server (NotFound): m");
  EXPECT_EQ(line(grpc::StatusCode::DEADLINE_EXCEEDED), "Error from server (Timeout): m");
  for (auto code : {grpc::StatusCode::INTERNAL, grpc::StatusCode::UNKNOWN,
                    grpc::StatusCode::DATA_LOSS})
    EXPECT_EQ(line(code), "Error from server (InternalError): m");
}

// S29 through devicectl: a condition owned by an expired provider lease
// cannot be set True, and the error says why.
TEST_F(DevicectlTest, WriteRefusedByAnExpiredLeaseIsFailedPrecondition) {
  CreateSample("gpu-0", 0);
  LeaseClient leases(fake_);
  Lease lease;
  lease.mutable_metadata()->set_name("nvml");
  lease.mutable_spec()->set_holder_identity("node-a");
  lease.mutable_spec()->set_lease_duration_seconds(1);
  lease.mutable_spec()->add_condition_types("NVMLReady");
  ASSERT_TRUE(leases.Create(lease).ok());
  Result r;
  for (int i = 0; i < 50; ++i) {  // the server expires it about a second later
    r = Run({"set-condition", "gpu", "gpu-0", "NVMLReady=True"});
    if (r.code != kExitOk) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ExpectOneLineError(r, kExitError,
                     "Error from server (FailedPrecondition): lease default/nvml expired");
}

// "cannot reach" only when gRPC never got the call to the server, "broke"
// when the connection ended with the call out; the server's own
// UNAVAILABLE answers are errors from the server.
TEST(ErrorLine, UnavailableFromTheServerOrFromTheTransport) {
  const std::string target = "unix:///run/x.sock";
  auto line = [&](const std::string& message) {
    return ErrorLine(Status(grpc::StatusCode::UNAVAILABLE, message), target);
  };
  for (const char* transport : {
           "failed to connect to all addresses; last error: UNKNOWN: unix:/run/x.sock: No such "
           "file or directory",
           "connections to all backends failing; last error: UNAVAILABLE: ipv4:127.0.0.1:1: "
           "Connection refused",
           "DNS resolution failed for nosuchhost:50051: C-ares status is not ARES_SUCCESS",
           "failed to connect to all addresses; last error: UNAVAILABLE: unix:/run/x.sock: "
           "Connection reset by peer",
           "failed to connect to all addresses; last error: UNKNOWN: unix:/run/x.sock: "
           "Permission denied"})
    EXPECT_EQ(line(transport), "error: cannot reach the server at " + target + ": " + transport);
  // A connection that broke while the call was out: the server may have
  // applied a write before it went away, so "cannot reach" would mislead.
  for (const char* broken : {"Socket closed", "Connection reset by peer", "Broken pipe"})
    EXPECT_EQ(line(broken), "error: the connection to the server at " + target +
                                " broke before it answered (a write may have been applied; read it back): " +
                                broken);
  for (const char* server : {"storage unavailable", "not ready: waiting for providers",
                             "server shutting down", "store is shutting down"})
    EXPECT_EQ(line(server), std::string("Error from server (ServiceUnavailable): ") + server);
}

// The messages of this build's gRPC for a socket nobody listens on and a
// refused TCP port both read as "cannot reach".
TEST(ErrorLine, RealConnectionFailuresCannotReach) {
  char tmpl[] = "/tmp/devicectl-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  Environment env = ProcessEnvironment();
  env.server_env.clear();
  for (const std::string& target : {"unix://" + dir + "/none.sock", std::string("127.0.0.1:1")}) {
    std::ostringstream out, err;
    const std::vector<std::string> args = {"--server", target, "--request-timeout", "5s",
                                           "get", "gpus"};
    EXPECT_EQ(cli::Run(args, out, err, env), kExitError);
    EXPECT_EQ(err.str().rfind("error: cannot reach the server at " + target + ": ", 0), 0u)
        << err.str();
  }
  std::filesystem::remove_all(dir);
}

TEST_F(DevicectlTest, LabelAddsOverwritesRemoves) {
  CreateSample("gpu-0", 0);
  Result add = Run({"label", "gpu", "gpu-0", "rack=12", "drained=yes"});
  ASSERT_EQ(add.code, 0) << add.err;
  EXPECT_EQ(add.out, "gpu/gpu-0 labeled\n");
  ExpectOneLineError(Run({"label", "gpu", "gpu-0", "rack=13"}), kExitError, "--overwrite");
  ASSERT_EQ(Run({"label", "gpu", "gpu-0", "rack=13", "--overwrite", "drained-"}).code, 0);
  StatusOr<Gpu> g = fake_.Get("gpu-0");
  EXPECT_EQ(g->metadata().labels().at("rack"), "13");
  EXPECT_EQ(g->metadata().labels().count("drained"), 0u);
}

TEST_F(DevicectlTest, CreateFromStdinJsonAndDelete) {
  std::string json = R"({"metadata":{"name":"gpu-7"},"spec":{"uuid":"GPU-00000007-1111-2222-3333-444444444444"}})";
  Result c = Run({"create", "-f", "-"}, json);
  ASSERT_EQ(c.code, 0) << c.err;
  EXPECT_EQ(c.out, "gpu/gpu-7 created\n");
  Result d = Run({"delete", "gpu", "gpu-7"});
  EXPECT_EQ(d.code, 0);
  EXPECT_EQ(d.out, "gpu/gpu-7 deleted\n");
  ExpectOneLineError(Run({"delete", "gpu", "gpu-7"}), kExitError, "Error from server (NotFound)");
}

TEST_F(DevicectlTest, WatchStreamsRows) {
  CreateSample("gpu-0", 0);
  Result r;
  std::thread watcher([&] { r = Run({"get", "gpus", "-w", "--watch-timeout", "1", "-o", "name"}); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  Run({"set-condition", "gpu", "gpu-0", "Ready=True"});
  CreateSample("gpu-1", 1);
  watcher.join();
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "gpu/gpu-0\ngpu/gpu-0\ngpu/gpu-1\n");
}

// The AGE column of a watch is as of each event: a GPU created during the
// watch is not "<invalid>" (created after the command started), and rows
// printed later are older.
TEST_F(DevicectlTest, WatchAgeIsAsOfEachEvent) {
  const TimePoint start = std::chrono::system_clock::now();
  std::atomic<std::int64_t> offset_s{0};
  clock_ = [start, &offset_s] { return start + std::chrono::seconds(offset_s.load()); };
  CreateSample("gpu-0", 0);
  Result r;
  std::thread watcher([&] { r = Run({"get", "gpus", "-w", "--watch-timeout", "1"}); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  offset_s = 3 * 3600 + 30;  // 3h as kubectl prints it, give or take the test's own seconds
  CreateSample("gpu-1", 1);
  watcher.join();
  ASSERT_EQ(r.code, 0) << r.err;
  std::istringstream lines(r.out);
  std::string line, last;
  while (std::getline(lines, line)) last = line;
  EXPECT_EQ(last.rfind("gpu-1", 0), 0u) << r.out;
  EXPECT_NE(last.find("   3h"), std::string::npos) << r.out;
}

// A stream whose writes fail once `budget` bytes went through: a full disk,
// or a pipe whose reader is gone (with SIGPIPE ignored).
class FailingOutput : public std::streambuf {
 public:
  explicit FailingOutput(std::size_t budget) : budget_(budget) {}

 protected:
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    const auto take = std::min<std::size_t>(static_cast<std::size_t>(n), budget_);
    written_.append(s, take);
    budget_ -= take;
    return static_cast<std::streamsize>(take);
  }
  int overflow(int c) override {
    if (c == traits_type::eof()) return traits_type::not_eof(c);
    char ch = static_cast<char>(c);
    return xsputn(&ch, 1) == 1 ? c : traits_type::eof();
  }

 private:
  std::size_t budget_;
  std::string written_;
};

// Exit code 1 covers I/O errors: output lost to a full disk is not success.
TEST_F(DevicectlTest, OutputThatCannotBeWrittenExitsOne) {
  CreateSample("gpu-0", 0);
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"get", "gpus"}, {"get", "gpus", "-o", "yaml"}, {"version", "--client"}}) {
    FailingOutput buf(0);
    std::ostream out(&buf);
    Result r = RunTo(args, out);
    EXPECT_EQ(r.code, 1) << args[0] << " " << args[1];
    EXPECT_NE(r.err.find("cannot write the output"), std::string::npos) << r.err;
  }
}

// A watch ends at the first event it cannot write, not when the server ends
// it: a watch piped into `head -1` does not outlive its reader.
TEST_F(DevicectlTest, WatchEndsWhenItsOutputFails) {
  CreateSample("gpu-0", 0);
  const std::size_t first_page = Run({"get", "gpus"}).out.size();
  FailingOutput buf(first_page);
  std::ostream out(&buf);
  Result r;
  const auto t0 = std::chrono::steady_clock::now();
  std::thread watcher([&] { r = RunTo({"get", "gpus", "-w", "--watch-timeout", "30"}, out); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  Run({"set-condition", "gpu", "gpu-0", "Ready=False"});
  watcher.join();
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find("cannot write the output"), std::string::npos) << r.err;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
}

TEST_F(DevicectlTest, HealthAndVersion) {
  Result h = Run({"health"});
  EXPECT_EQ(h.code, 0) << h.out << h.err;
  EXPECT_NE(h.out.find("health:  SERVING"), std::string::npos) << h.out;
  EXPECT_NE(h.out.find("ready:   true"), std::string::npos) << h.out;
  // FakeClient's health service sends no version: the server's is unknown.
  Result v = Run({"version"});
  EXPECT_EQ(v.code, 0) << v.err;
  EXPECT_EQ(v.out, std::string("Client Version: ") + build::kVersion +
                       "\nServer Version: <unknown>\n");
}

TEST_F(DevicectlTest, HelpExitsZero) {
  Result h = Run({"--help"});
  EXPECT_EQ(h.code, 0);
  EXPECT_NE(h.out.find("Subcommands:"), std::string::npos);
  Result g = Run({"get", "--help"});
  EXPECT_EQ(g.code, 0);
  EXPECT_NE(g.out.find("--watch"), std::string::npos) << g.out;
}

// kubectl's rule: without -n a command reads and writes the namespace
// "default"; -A reads all of them and adds a NAMESPACE column.
TEST_F(DevicectlTest, NamespaceDefaultsToDefaultAndAllNeedsDashA) {
  CreateSample("gpu-0", 0);
  CreateSample("gpu-1", 1, "", "team-a");
  EXPECT_EQ(Run({"get", "gpus", "-o", "name"}).out, "gpu/gpu-0\n");
  Result table = Run({"get", "gpus"});
  EXPECT_EQ(table.out.rfind("NAME    UUID", 0), 0u) << table.out;
  EXPECT_EQ(table.out.find("gpu-1"), std::string::npos) << table.out;
  EXPECT_EQ(Run({"get", "gpus", "-n", "team-a", "-o", "name"}).out, "gpu/gpu-1\n");
  Result all = Run({"get", "gpus", "-A"});
  EXPECT_EQ(all.out.rfind("NAMESPACE   NAME", 0), 0u) << all.out;
  EXPECT_NE(all.out.find("team-a      gpu-1"), std::string::npos) << all.out;
  EXPECT_NE(all.out.find("default     gpu-0"), std::string::npos) << all.out;
  Result json = Run({"get", "gpus", "-o", "json"});
  EXPECT_EQ(json.out.find("team-a"), std::string::npos) << json.out;
  Result none = Run({"get", "gpus", "-n", "empty"});
  EXPECT_EQ(none.err, "No resources found in empty namespace.\n");
  EXPECT_NE(Run({"describe", "gpu", "-n", "team-a"}).out.find("Name:               gpu-1"),
            std::string::npos);
  EXPECT_EQ(Run({"describe", "gpu"}).out.find("gpu-1"), std::string::npos);
  ExpectOneLineError(Run({"delete", "gpu", "gpu-1"}), kExitError, "(NotFound)");
  EXPECT_EQ(Run({"delete", "gpu", "gpu-1", "-n", "team-a"}).out, "gpu/gpu-1 deleted\n");
}

TEST_F(DevicectlTest, GetSeveralNames) {
  CreateSample("gpu-0", 0);
  CreateSample("gpu-1", 1);
  CreateSample("gpu-2", 2);
  EXPECT_EQ(Run({"get", "gpu", "gpu-2", "gpu-0", "-o", "name"}).out, "gpu/gpu-2\ngpu/gpu-0\n");
  Result table = Run({"get", "gpu", "gpu-1", "gpu-0"});
  EXPECT_NE(table.out.find("gpu-1   GPU"), std::string::npos) << table.out;
  EXPECT_LT(table.out.find("gpu-1   GPU"), table.out.find("gpu-0   GPU")) << table.out;
  // A list gathered by the client, as kubectl prints one.
  Result json = Run({"get", "gpu", "gpu-0", "gpu-1", "-o", "json"});
  EXPECT_EQ(json.out.rfind("{\n  \"apiVersion\": \"v1\",\n  \"kind\": \"List\",", 0), 0u)
      << json.out;
  EXPECT_NE(json.out.find("\"kind\": \"Gpu\""), std::string::npos);
  // The ones found are printed, each missing one is an error line, exit 1.
  Result partial = Run({"get", "gpu", "gpu-0", "missing", "-o", "name"});
  EXPECT_EQ(partial.code, kExitError);
  EXPECT_EQ(partial.out, "gpu/gpu-0\n");
  EXPECT_EQ(partial.err.rfind("Error from server (NotFound)", 0), 0u) << partial.err;
}

TEST_F(DevicectlTest, JsonAndYamlCarryApiVersionAndKind) {
  CreateSample("gpu-0", 0);
  Result list = Run({"get", "gpus", "-o", "yaml"});
  EXPECT_EQ(list.out.rfind("apiVersion: device.nvidia.com/v1alpha1\nkind: GpuList\n", 0), 0u)
      << list.out;
  EXPECT_NE(list.out.find("- apiVersion: device.nvidia.com/v1alpha1\n  kind: Gpu\n"),
            std::string::npos) << list.out;
  Result one = Run({"get", "gpu", "gpu-0", "-o", "json"});
  EXPECT_EQ(one.out.rfind("{\n  \"apiVersion\": \"device.nvidia.com/v1alpha1\",\n  \"kind\": \"Gpu\",", 0),
            0u) << one.out;
}

TEST_F(DevicectlTest, DeleteByNamesSelectorOrAll) {
  for (int i = 0; i < 5; ++i) CreateSample("gpu-" + std::to_string(i), i);
  CreateSample("other-0", 9, "", "team-a");
  Result two = Run({"delete", "gpus", "gpu-0", "missing", "gpu-1"});
  EXPECT_EQ(two.code, kExitError);
  EXPECT_EQ(two.out, "gpu/gpu-0 deleted\ngpu/gpu-1 deleted\n");
  EXPECT_EQ(two.err.rfind("Error from server (NotFound)", 0), 0u) << two.err;
  Result zone_b = Run({"delete", "gpus", "-l", "zone=b"});  // gpu-3 (gpu-1 is gone)
  EXPECT_EQ(zone_b.code, 0) << zone_b.err;
  EXPECT_EQ(zone_b.out, "gpu/gpu-3 deleted\n");
  EXPECT_EQ(Run({"delete", "gpus", "-l", "zone=b"}).out, "No resources found\n");
  Result all = Run({"delete", "gpus", "--all"});
  EXPECT_EQ(all.code, 0) << all.err;
  EXPECT_EQ(all.out, "gpu/gpu-2 deleted\ngpu/gpu-4 deleted\n");
  // --all stays in its namespace.
  EXPECT_EQ(Run({"get", "gpus", "-A", "-o", "name"}).out, "gpu/other-0\n");
}

TEST_F(DevicectlTest, DescribeBySelectorOrAll) {
  CreateSample("gpu-0", 0);
  CreateSample("gpu-1", 1);
  Result b = Run({"describe", "gpus", "-l", "zone=b"});
  EXPECT_EQ(b.code, 0) << b.err;
  EXPECT_EQ(b.out.rfind("Name:               gpu-1\n", 0), 0u) << b.out;
  EXPECT_EQ(b.out.find("gpu-0"), std::string::npos);
  Result all = Run({"describe", "gpus"});
  EXPECT_NE(all.out.find("\n\nName:               gpu-1\n"), std::string::npos) << all.out;
  Result none = Run({"describe", "gpus", "-l", "zone=c"});
  EXPECT_EQ(none.code, 0);
  EXPECT_EQ(none.err, "No resources found in default namespace.\n");
  Result named = Run({"describe", "gpu", "gpu-1", "gpu-0"});
  EXPECT_LT(named.out.find("gpu-1"), named.out.find("gpu-0"));
}

TEST_F(DevicectlTest, TableColumnsAndSorting) {
  CreateSample("gpu-0", 0, "    rack: \"12\"\n");
  CreateSample("gpu-1", 1, "    rack: \"7\"\n");
  CreateSample("gpu-2", 2);
  Result plain = Run({"get", "gpus", "--no-headers", "-o", "wide"});
  EXPECT_EQ(plain.out.rfind("gpu-0   GPU-", 0), 0u) << plain.out;
  Result labels = Run({"get", "gpus", "--show-labels"});
  EXPECT_NE(labels.out.find("   LABELS\n"), std::string::npos) << labels.out;
  EXPECT_NE(labels.out.find("rack=12,zone=a\n"), std::string::npos) << labels.out;
  Result columns = Run({"get", "gpus", "-L", "example.com/rack,zone", "-L", "rack"});
  EXPECT_NE(columns.out.find("   RACK   ZONE   RACK\n"), std::string::npos) << columns.out;
  EXPECT_NE(columns.out.find("          b      7\n"), std::string::npos) << columns.out;
  // The value as a number: 7 before 12; a GPU without the label first.
  EXPECT_EQ(Run({"get", "gpus", "--sort-by", ".metadata.labels.rack", "-o", "name"}).out,
            "gpu/gpu-2\ngpu/gpu-1\ngpu/gpu-0\n");
  EXPECT_EQ(Run({"get", "gpus", "--sort-by", "{.metadata.labels.zone}", "-o", "name"}).out,
            "gpu/gpu-0\ngpu/gpu-2\ngpu/gpu-1\n");
  Result sorted_json = Run({"get", "gpus", "--sort-by", "metadata.labels.zone", "-o", "json"});
  EXPECT_LT(sorted_json.out.find("\"gpu-2\""), sorted_json.out.find("\"gpu-1\""));
}

// Each -L takes one value (key1,key2 for several): a name after it stays a name.
TEST_F(DevicectlTest, LabelColumnsTakeOneValueEach) {
  CreateSample("gpu-0", 0, "    rack: \"12\"\n");
  CreateSample("gpu-1", 1, "    rack: \"7\"\n");
  Result one = Run({"get", "gpus", "-L", "zone", "gpu-1"});
  ASSERT_EQ(one.code, 0) << one.err;
  EXPECT_NE(one.out.find("   ZONE\n"), std::string::npos) << one.out;
  EXPECT_EQ(one.out.find("GPU-1"), std::string::npos) << one.out;  // no column named after it
  EXPECT_EQ(one.out.find("gpu-0"), std::string::npos) << one.out;
  EXPECT_NE(one.out.find("\ngpu-1 "), std::string::npos) << one.out;
  Result two = Run({"get", "gpus", "-L", "zone,rack", "gpu-0", "-L", "rack", "gpu-1"});
  ASSERT_EQ(two.code, 0) << two.err;
  EXPECT_NE(two.out.find("   ZONE   RACK   RACK\n"), std::string::npos) << two.out;
  EXPECT_NE(two.out.find("   a      12     12\n"), std::string::npos) << two.out;
  EXPECT_NE(two.out.find("   b      7      7\n"), std::string::npos) << two.out;
  Result assigned = Run({"get", "gpus", "--label-columns=rack", "gpu-0", "-o", "wide"});
  ASSERT_EQ(assigned.code, 0) << assigned.err;
  EXPECT_EQ(assigned.out.find("gpu-1"), std::string::npos) << assigned.out;
  EXPECT_NE(assigned.out.find("   RACK   LABELS\n"), std::string::npos) << assigned.out;
  ExpectOneLineError(Run({"get", "gpus", "-L"}), kExitUsage, "error:");
}

TEST_F(DevicectlTest, RequestTimeoutIsADuration) {
  Run({"get", "gpus"});
  EXPECT_EQ(last_timeout_, std::chrono::seconds(10));
  Run({"--request-timeout", "1m30s", "get", "gpus"});
  EXPECT_EQ(last_timeout_, std::chrono::seconds(90));
  Run({"--request-timeout=250ms", "get", "gpus"});
  EXPECT_EQ(last_timeout_, std::chrono::milliseconds(250));
  Run({"--request-timeout", "30", "get", "gpus"});
  EXPECT_EQ(last_timeout_, std::chrono::seconds(30));
  Run({"--timeout", "7", "get", "gpus"});  // the older flag, in seconds
  EXPECT_EQ(last_timeout_, std::chrono::seconds(7));
}

// -w prints the objects themselves; --output-watch-events wraps each in its
// event; --watch-only leaves out the objects listed first.
TEST_F(DevicectlTest, WatchPrintsObjectsOrEvents) {
  CreateSample("gpu-0", 0);
  auto watch = [&](std::vector<std::string> flags) {
    Result r;
    std::vector<std::string> args = {"get", "gpus", "--watch-timeout", "1"};
    args.insert(args.end(), flags.begin(), flags.end());
    std::thread watcher([&] { r = Run(args); });
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    Run({"label", "gpu", "gpu-0", "rack=" + std::to_string(++label_value_), "--overwrite"});
    watcher.join();
    EXPECT_EQ(r.code, 0) << r.err;
    return r.out;
  };
  std::string objects = watch({"-w", "-o", "json"});
  EXPECT_EQ(objects.rfind("{\n  \"apiVersion\"", 0), 0u) << objects;
  EXPECT_EQ(objects.find("\"type\""), std::string::npos) << objects;
  std::string events = watch({"-w", "-o", "json", "--output-watch-events"});
  EXPECT_EQ(events.rfind("{\n  \"type\": \"ADDED\",\n  \"object\": {", 0), 0u) << events;
  EXPECT_NE(events.find("\"type\": \"MODIFIED\""), std::string::npos) << events;
  EXPECT_EQ(watch({"-w", "-o", "name", "--output-watch-events"}),
            "ADDED gpu/gpu-0\nMODIFIED gpu/gpu-0\n");
  EXPECT_EQ(watch({"--watch-only", "-o", "name"}), "gpu/gpu-0\n");
  std::string table = watch({"--watch-only", "--output-watch-events"});
  EXPECT_EQ(table.rfind("EVENT      NAME    UUID", 0), 0u) << table;
  EXPECT_NE(table.find("\nMODIFIED   gpu-0   GPU-"), std::string::npos) << table;
  EXPECT_EQ(watch({"-w", "--no-headers", "-o", "wide"}).find("NAME"), std::string::npos);
}

TEST_F(DevicectlTest, VersionOfClientAndServer) {
  Result client = Run({"version", "--client"});
  EXPECT_EQ(client.code, 0);
  EXPECT_EQ(client.out, std::string("Client Version: ") + build::kVersion + "\n");
  Result json = Run({"version", "-o", "json"});
  EXPECT_EQ(json.code, 0) << json.err;
  EXPECT_NE(json.out.find("\"clientVersion\": {\n    \"version\": \""), std::string::npos)
      << json.out;
  EXPECT_NE(json.out.find("\"serverVersion\""), std::string::npos) << json.out;
  Result yaml = Run({"version", "--client", "-o", "yaml"});
  EXPECT_EQ(yaml.out.rfind("clientVersion:\n  version: ", 0), 0u) << yaml.out;
}

// Bad input to each command: usage errors exit 2, failures exit 1, and each
// error is one line.
TEST_F(DevicectlTest, BadInputToEveryCommand) {
  CreateSample("gpu-0", 0);
  // Usage (2).
  ExpectOneLineError(Run({}), kExitUsage, "error:");
  ExpectOneLineError(Run({"frobnicate"}), kExitUsage, "error:");
  ExpectOneLineError(Run({"--timeout", "0", "get", "gpus"}), kExitUsage, "--timeout");
  ExpectOneLineError(Run({"--timeout", "abc", "get", "gpus"}), kExitUsage, "error:");
  ExpectOneLineError(Run({"get"}), kExitUsage, "error:");
  ExpectOneLineError(Run({"get", "pods"}), kExitUsage, "pods");
  ExpectOneLineError(Run({"get", "gpus", "-o", "xml"}), kExitUsage, "xml");
  ExpectOneLineError(Run({"get", "gpus", "gpu-0", "-l", "a=b"}), kExitUsage, "selector");
  ExpectOneLineError(Run({"get", "gpus", "--bogus"}), kExitUsage, "error:");
  ExpectOneLineError(Run({"get", "gpus", "-w", "--watch-timeout", "-3"}), kExitUsage, "error:");
  ExpectOneLineError(Run({"describe", "gpu", "gpu-0", "-l", "a=b"}), kExitUsage, "selector");
  ExpectOneLineError(Run({"describe", "node", "x"}), kExitUsage, "node");
  ExpectOneLineError(Run({"create"}), kExitUsage, "error:");
  ExpectOneLineError(Run({"delete", "gpu"}), kExitUsage, "no name was specified");
  ExpectOneLineError(Run({"delete", "gpu", "gpu-0", "--all"}), kExitUsage, "--all");
  ExpectOneLineError(Run({"delete", "gpu", "-l", "a", "--all"}), kExitUsage, "--all");
  ExpectOneLineError(Run({"--request-timeout", "soon", "get", "gpus"}), kExitUsage, "soon");
  ExpectOneLineError(Run({"--request-timeout", "0", "get", "gpus"}), kExitUsage, "duration");
  ExpectOneLineError(Run({"--request-timeout", "2h", "get", "gpus"}), kExitUsage, "duration");
  ExpectOneLineError(Run({"get", "gpus", "--sort-by", ".a..b"}), kExitUsage, "--sort-by");
  ExpectOneLineError(Run({"get", "gpus", "--output-watch-events"}), kExitUsage, "--watch");
  ExpectOneLineError(Run({"version", "-o", "xml"}), kExitUsage, "xml");
  ExpectOneLineError(Run({"label", "gpu", "gpu-0"}), kExitUsage, "error:");
  ExpectOneLineError(Run({"label", "gpu", "gpu-0", "novalue"}), kExitUsage, "novalue");
  ExpectOneLineError(Run({"label", "gpu", "gpu-0", "=v"}), kExitUsage, "empty key");
  ExpectOneLineError(Run({"set-condition", "gpu-0"}), kExitUsage, "error:");
  ExpectOneLineError(Run({"set-condition", "gpu", "gpu-0", "Ready"}), kExitUsage, "TYPE=STATUS");
  ExpectOneLineError(Run({"set-condition", "gpu", "gpu-0", "Ready=Maybe"}), kExitUsage, "Maybe");
  ExpectOneLineError(Run({"version", "extra"}), kExitUsage, "error:");

  // Failures (1), with the server's message.
  ExpectOneLineError(Run({"get", "gpus", "missing"}), kExitError, "Error from server (NotFound)");
  ExpectOneLineError(Run({"get", "gpus", "-l", "zone in ("}), kExitError,
                     "Error from server (Invalid)");
  ExpectOneLineError(Run({"describe", "gpu", "missing"}), kExitError, "(NotFound)");
  ExpectOneLineError(Run({"create", "-f", dir_ + "/nope.yaml"}), kExitError, "cannot read");
  ExpectOneLineError(Run({"create", "-f", Write("bad.yaml", "metadata:\n\tname: x\n")}),
                     kExitError, "tabs");
  ExpectOneLineError(Run({"create", "-f", Write("bad.json", "{\"metadata\": ")}), kExitError,
                     "not valid JSON");
  ExpectOneLineError(Run({"create", "-f", Write("kind.yaml", "kind: Pod\n")}), kExitError,
                     "kind");
  ExpectOneLineError(
      Run({"create", "-f", Write("uuid.yaml", "metadata:\n  name: gpu-x\nspec:\n  uuid: nope\n")}),
      kExitError, "Error from server (Invalid)");
  ExpectOneLineError(Run({"create", "-f", Write("dup.yaml",
                                                "metadata:\n  name: gpu-0\nspec:\n  uuid: "
                                                "GPU-00000000-1111-2222-3333-444444444444\n")}),
                     kExitError, "(AlreadyExists)");
  ExpectOneLineError(Run({"delete", "gpu", "missing"}), kExitError, "(NotFound)");
  ExpectOneLineError(Run({"label", "gpu", "missing", "a=b"}), kExitError, "(NotFound)");
  ExpectOneLineError(Run({"label", "gpu", "gpu-0", "bad key!=v"}), kExitError, "(Invalid)");
  ExpectOneLineError(Run({"set-condition", "gpu", "missing", "Ready=True"}), kExitError,
                     "(NotFound)");
  ExpectOneLineError(Run({"set-condition", "gpu", "gpu-0", "not camel=True"}), kExitError,
                     "(Invalid)");
  ExpectOneLineError(Run({"get", "gpus", "--sort-by", ".metadata.nmae"}), kExitError,
                     "couldn't find any field");
}

}  // namespace
}  // namespace deviceapi::cli
