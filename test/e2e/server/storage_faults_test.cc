// Storage faults with the real server on real file systems (S26): a tmpfs
// that fills up, a read-only file system, an unreadable file, a corrupted
// file, a second server on one file, a newer schema.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "test_support.h"

namespace deviceapi::testing {
namespace {

using namespace std::chrono_literals;

// A tmpfs mounted for the test's lifetime (needs root and CAP_SYS_ADMIN).
class Tmpfs {
 public:
  Tmpfs(const std::string& path, const std::string& options) : path_(path) {
    std::filesystem::create_directories(path);
    mounted_ = ::mount("tmpfs", path.c_str(), "tmpfs", 0, options.c_str()) == 0;
    if (!mounted_) error_ = std::strerror(errno);
  }
  ~Tmpfs() {
    if (mounted_) ::umount2(path_.c_str(), MNT_DETACH);
  }
  bool Remount(unsigned long flags, const std::string& options) {
    return ::mount("tmpfs", path_.c_str(), "tmpfs", MS_REMOUNT | flags, options.c_str()) == 0;
  }
  bool mounted() const { return mounted_; }
  const std::string& error() const { return error_; }

 private:
  std::string path_;
  bool mounted_ = false;
  std::string error_;
};

std::vector<std::string> Sqlite(const std::string& path) {
  return {"--storage-type=sqlite", "--storage-endpoint=sqlite://" + path};
}

// A status write of about `bytes` that differs every time.
v1::Gpu BigStatus(const std::string& name, int n, std::size_t bytes) {
  v1::Gpu g;
  g.mutable_metadata()->set_name(name);
  for (int i = 0; bytes > 0; ++i) {
    auto* c = g.mutable_status()->add_conditions();
    c->set_type("example.com/Load" + std::to_string(i));
    c->set_status("True");
    c->set_reason("Filling");
    const std::size_t len = std::min<std::size_t>(bytes, 30000);
    std::string message(len, 'a' + static_cast<char>((n + i) % 26));
    message.replace(0, std::to_string(n).size(), std::to_string(n));
    c->set_message(message);
    bytes -= len;
  }
  return g;
}

grpc::Status WriteStatus(const std::shared_ptr<grpc::Channel>& channel, const v1::Gpu& gpu, v1::Gpu* out) {
  auto stub = v1::GpuService::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 5s);
  v1::UpdateGpuStatusRequest req;
  *req.mutable_gpu() = gpu;
  return stub->UpdateGpuStatus(&ctx, req, out);
}

grpc::Status GetGpu(const std::shared_ptr<grpc::Channel>& channel, const std::string& name, v1::Gpu* out) {
  auto stub = v1::GpuService::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 5s);
  v1::GetGpuRequest req;
  req.set_name(name);
  v1::GetGpuResponse resp;
  auto s = stub->GetGpu(&ctx, req, &resp);
  *out = resp.gpu();
  return s;
}

bool WaitReadyz(int port, int want, std::string* body, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  do {
    if (HttpGet(port, "/readyz", body) == want) return true;
    std::this_thread::sleep_for(50ms);
  } while (std::chrono::steady_clock::now() < deadline);
  return false;
}

// One line on stderr, naming the cause, and exit code 2.
void ExpectRefused(const ExitResult& r, const std::string& cause) {
  EXPECT_TRUE(r.exited);
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find(cause), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

// S26: disk full. The write answers UNAVAILABLE "storage unavailable" and
// changes nothing, /readyz says why, reads go on, and once space is back
// the server recovers by itself.
TEST(StorageFaults, FullFileSystemRefusesWritesAndRecoversS26) {
  TempDir dir;
  Tmpfs fs(dir.File("state"), "size=2m");
  if (!fs.mounted()) GTEST_SKIP() << "cannot mount a tmpfs here (" << fs.error() << "); needs root";
  auto server = StartServer(dir.File("api.sock"), Sqlite(dir.File("state/state.db")));
  ASSERT_TRUE(server) << server.process->Stderr();
  auto channel = UnixChannel(server.socket);
  ASSERT_TRUE(CreateGpu(channel, "gpu-0").ok());

  v1::Gpu last_acked;
  grpc::Status failed;
  for (int n = 0; n < 200; ++n) {
    v1::Gpu out;
    grpc::Status s = WriteStatus(channel, BigStatus("gpu-0", n, 120000), &out);
    if (!s.ok()) {
      failed = s;
      break;
    }
    last_acked = out;
  }
  ASSERT_EQ(failed.error_code(), grpc::StatusCode::UNAVAILABLE) << failed.error_message();
  EXPECT_EQ(failed.error_message(), "storage unavailable");
  ASSERT_TRUE(last_acked.has_metadata());

  // Nothing of the failed write is visible; reads keep serving.
  v1::Gpu now;
  ASSERT_TRUE(GetGpu(channel, "gpu-0", &now).ok());
  EXPECT_EQ(now.metadata().resource_version(), last_acked.metadata().resource_version());
  std::string body;
  EXPECT_TRUE(WaitReadyz(server.metrics_port, 503, &body, 3s));
  EXPECT_NE(body.find("storage unavailable"), std::string::npos) << body;
  EXPECT_TRUE(server.process->WaitForLog("storage unavailable", 3s));

  // Space comes back: recovery without a restart or a client write.
  ASSERT_TRUE(fs.Remount(0, "size=64m"));
  EXPECT_TRUE(WaitReadyz(server.metrics_port, 200, &body, 5s)) << body;
  v1::Gpu out;
  EXPECT_TRUE(WriteStatus(channel, BigStatus("gpu-0", 1000, 1000), &out).ok());
  EXPECT_GT(std::stoull(out.metadata().resource_version()), std::stoull(last_acked.metadata().resource_version()));
}

// S26: a read-only file system. Linux refuses to remount a file system
// read-only while the server holds its database open for writing ("mount
// point is busy"), so this is the fault as a restart meets it: exit 2 with
// one line, never an empty start.
TEST(StorageFaults, ReadOnlyFileSystemRefusesToStartS26) {
  TempDir dir;
  Tmpfs fs(dir.File("state"), "size=8m");
  if (!fs.mounted()) GTEST_SKIP() << "cannot mount a tmpfs here (" << fs.error() << "); needs root";
  {
    auto server = StartServer(dir.File("api.sock"), Sqlite(dir.File("state/state.db")));
    ASSERT_TRUE(server) << server.process->Stderr();
    ASSERT_TRUE(CreateGpu(UnixChannel(server.socket), "gpu-0").ok());
    server.process->Signal(SIGTERM);
    ASSERT_EQ(server.process->Wait(10s).code, 0);
  }
  ASSERT_TRUE(fs.Remount(MS_RDONLY, "")) << std::strerror(errno);
  auto args = BaseArgs(dir.File("api.sock"));
  for (auto& a : Sqlite(dir.File("state/state.db"))) args.push_back(a);
  ExpectRefused(RunToExit(args), "Read-only file system");
}

// S26: a database the server's user cannot read.
TEST(StorageFaults, UnreadableFileRefusesToStartS26) {
  TempDir dir;
  ASSERT_EQ(::chmod(dir.path().c_str(), 0777), 0);  // the unprivileged server needs its socket dir
  const std::string db = dir.File("state.db");
  {
    std::ofstream f(db);
  }
  ASSERT_EQ(::chmod(db.c_str(), 0), 0);
  // Root reads anything: run the server as nobody, as the chart does.
  const std::string wrapper = dir.File("as-nobody.sh");
  {
    std::ofstream w(wrapper);
    w << "#!/bin/sh\nexec setpriv --reuid=65534 --regid=65534 --clear-groups " << ServerBinary() << " \"$@\"\n";
  }
  ASSERT_EQ(::chmod(wrapper.c_str(), 0755), 0);
  if (::geteuid() != 0 || std::system("command -v setpriv >/dev/null") != 0) {
    GTEST_SKIP() << "needs root and setpriv to run the server as another user";
  }
  auto args = BaseArgs(dir.File("api.sock"));
  for (auto& a : Sqlite(db)) args.push_back(a);
  ServerProcess p(args, {}, wrapper);
  ExitResult r = p.Wait(10s);
  ExpectRefused(r, "Permission denied");
}

// S26: a corrupted file: exit 2 and the documented recovery.
TEST(StorageFaults, CorruptedFileRefusesToStartWithRecoveryS26) {
  TempDir dir;
  const std::string db = dir.File("state.db");
  {
    auto server = StartServer(dir.File("api.sock"), Sqlite(db));
    ASSERT_TRUE(server) << server.process->Stderr();
    ASSERT_TRUE(CreateGpu(UnixChannel(server.socket), "gpu-0").ok());
    server.process->Signal(SIGTERM);
    ASSERT_EQ(server.process->Wait(10s).code, 0);
  }
  {
    std::fstream f(db, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(0);
    f << std::string(100, '\x42');
  }
  auto args = BaseArgs(dir.File("api.sock"));
  for (auto& a : Sqlite(db)) args.push_back(a);
  ExitResult r = RunToExit(args);
  ExpectRefused(r, "is corrupted");
  EXPECT_NE(r.err.find("move the file aside"), std::string::npos) << r.err;
}

// S26: two servers never open one file.
TEST(StorageFaults, SecondServerOnOneFileExits2S26) {
  TempDir dir;
  const std::string db = dir.File("state.db");
  auto first = StartServer(dir.File("api.sock"), Sqlite(db));
  ASSERT_TRUE(first) << first.process->Stderr();
  auto args = BaseArgs(dir.File("other.sock"));
  for (auto& a : Sqlite(db)) args.push_back(a);
  ExpectRefused(RunToExit(args), "in use by another device-api-server");
  EXPECT_TRUE(CreateGpu(UnixChannel(first.socket), "gpu-0").ok());  // the first one is unharmed
}

// S26: a file from a newer server is refused, not rewritten.
TEST(StorageFaults, NewerSchemaRefusesToStartS26) {
  TempDir dir;
  const std::string db = dir.File("state.db");
  {
    auto server = StartServer(dir.File("api.sock"), Sqlite(db));
    ASSERT_TRUE(server) << server.process->Stderr();
    server.process->Signal(SIGTERM);
    ASSERT_EQ(server.process->Wait(10s).code, 0);
  }
  sqlite3* handle = nullptr;
  ASSERT_EQ(sqlite3_open(db.c_str(), &handle), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(handle, "PRAGMA user_version = 99", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(handle);
  auto args = BaseArgs(dir.File("api.sock"));
  for (auto& a : Sqlite(db)) args.push_back(a);
  ExpectRefused(RunToExit(args), "schema version 99, newer than this server's");
}

}  // namespace
}  // namespace deviceapi::testing
