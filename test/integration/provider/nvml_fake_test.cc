// The real loader, enumeration, probe and event code against the fake NVML,
// loaded through a driver root exactly as the provider binary loads it.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "control_client.h"
#include "nvml/event_watcher.h"
#include "nvml/nvml_devices.h"

namespace deviceapi::nvml {
namespace {

namespace fs = std::filesystem;
const std::string kRoot = std::string(DEVICEAPI_BINARY_DIR) + "/fake-driver-root";

class FakeNvmlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("fake-nvml-it-" + std::to_string(getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
    ctl_ = (dir_ / "ctl.sock").string();
    setenv("FAKE_NVML_CONTROL", ctl_.c_str(), 1);
    unsetenv("FAKE_NVML_SCENARIO");
    unsetenv("FAKE_NVML_GPUS");
  }
  void TearDown() override {
    devices_.reset();
    fs::remove_all(dir_);
  }
  void Open() {
    std::string err;
    NvmlLoadOptions o;
    o.driver_root = kRoot;
    o.allow_default_search = false;
    auto lib = NvmlLibrary::Load(o, &err);
    ASSERT_TRUE(lib) << err;
    EXPECT_EQ(lib->path(), kRoot + "/usr/lib64/libnvidia-ml.so.1");
    devices_ = NvmlDevices::Open(std::move(lib), &err);
    ASSERT_TRUE(devices_) << err;
  }
  std::string Ctl(const std::string& json) { return fakenvml::SendControl(ctl_, json); }

  fs::path dir_;
  std::string ctl_;
  std::unique_ptr<NvmlDevices> devices_;
};

TEST_F(FakeNvmlTest, MissingLibraryIsAClearError) {
  std::string err;
  NvmlLoadOptions o;
  o.driver_root = (dir_ / "nowhere").string();
  o.allow_default_search = false;
  EXPECT_EQ(NvmlLibrary::Load(o, &err), nullptr);
  EXPECT_NE(err.find("libnvidia-ml.so.1 not found"), std::string::npos) << err;
  EXPECT_NE(err.find((dir_ / "nowhere/usr/lib64/libnvidia-ml.so.1").string()), std::string::npos) << err;
  EXPECT_NE(err.find("usr/lib/aarch64-linux-gnu"), std::string::npos) << err;
}

TEST_F(FakeNvmlTest, NotALibraryIsAClearError) {
  fs::create_directories(dir_ / "root/usr/lib64");
  std::ofstream(dir_ / "root/usr/lib64/libnvidia-ml.so.1") << "not an ELF file";
  std::string err;
  NvmlLoadOptions o;
  o.driver_root = (dir_ / "root").string();
  o.allow_default_search = false;
  EXPECT_EQ(NvmlLibrary::Load(o, &err), nullptr);
  EXPECT_NE(err.find("root/usr/lib64/libnvidia-ml.so.1:"), std::string::npos) << err;
}

TEST_F(FakeNvmlTest, EnumeratesEightRealisticGpus) {
  Open();
  std::vector<std::string> warnings;
  auto gpus = devices_->Enumerate(&warnings);
  ASSERT_EQ(gpus.size(), 8u);
  EXPECT_TRUE(warnings.empty());
  std::set<std::string> uuids;
  for (auto& g : gpus) {
    EXPECT_EQ(g.name, "NVIDIA H100 80GB HBM3");
    EXPECT_EQ(g.uuid.size(), 40u) << g.uuid;
    EXPECT_EQ(g.uuid.rfind("GPU-", 0), 0u);
    uuids.insert(g.uuid);
    EXPECT_EQ(g.architecture, "Hopper");
    EXPECT_EQ(g.memory_total_bytes, 85520809984ULL);
    EXPECT_EQ(g.driver_version, "550.127.08");
    EXPECT_EQ(g.cuda_driver_version, "12.4");
    EXPECT_EQ(g.minor_number, static_cast<int>(g.index));
    EXPECT_FALSE(g.serial.empty());
  }
  EXPECT_EQ(uuids.size(), 8u);
  EXPECT_EQ(gpus[0].pci_bus_id, "00000000:18:00.0");
}

TEST_F(FakeNvmlTest, ScenarioAndNotSupported) {
  auto sc = dir_ / "scenario.json";
  std::ofstream(sc) << R"({"gpus":[{"volatile_dbe":2},{"remap_pending":true,"recovery_action":2},{}],
                           "not_supported":["nvmlDeviceGetSerial","nvmlDeviceGetFieldValues"]})";
  setenv("FAKE_NVML_SCENARIO", sc.c_str(), 1);
  Open();
  auto gpus = devices_->Enumerate(nullptr);
  ASSERT_EQ(gpus.size(), 3u);
  EXPECT_EQ(gpus[0].serial, "");  // NOT_SUPPORTED reads as absent
  bool lost = false;
  auto p0 = devices_->Probe(gpus[0].handle, &lost);
  ASSERT_TRUE(p0);
  EXPECT_EQ(p0->volatile_uncorrected_ecc, 2u);
  EXPECT_FALSE(p0->recovery_action.has_value());  // field values unsupported
  auto p1 = devices_->Probe(gpus[1].handle, &lost);
  EXPECT_TRUE(p1->row_remap_pending);
  EXPECT_TRUE(devices_->Probe(gpus[2].handle, &lost)->clean());
  EXPECT_EQ(Ctl(R"({"op":"unsupported","call":"nvmlDeviceGetFieldValues","on":false})"), "ok");
  EXPECT_EQ(devices_->ReadRecoveryAction(gpus[1].handle), RecoveryAction::kNodeReboot);
}

// Only NOT_SUPPORTED and FUNCTION_NOT_FOUND mean "this GPU has no such counter"; any other
// error leaves the probe unclean, so a post-reset check cannot clear faults on a blind read.
TEST_F(FakeNvmlTest, ProbeErrorsOtherThanNotSupportedAreUnclean) {
  Open();
  auto gpus = devices_->Enumerate(nullptr);
  ASSERT_FALSE(gpus.empty());
  bool lost = false;
  for (const char* call : {"nvmlDeviceGetTotalEccErrors", "nvmlDeviceGetRemappedRows",
                           "nvmlDeviceGetRetiredPagesPendingStatus", "nvmlDeviceGetFieldValues"}) {
    for (int code : {NVML_ERROR_UNKNOWN, NVML_ERROR_RESET_REQUIRED, NVML_ERROR_NO_PERMISSION,
                     NVML_ERROR_UNINITIALIZED, NVML_ERROR_NOT_SUPPORTED, NVML_ERROR_FUNCTION_NOT_FOUND}) {
      ASSERT_EQ(Ctl(R"({"op":"fail","call":")" + std::string(call) + R"(","code":)" + std::to_string(code) + "}"),
                "ok");
      auto p = devices_->Probe(gpus[0].handle, &lost);
      ASSERT_TRUE(p) << call << " " << code;
      const bool clean_expected = code == NVML_ERROR_NOT_SUPPORTED || code == NVML_ERROR_FUNCTION_NOT_FOUND;
      EXPECT_EQ(p->clean(), clean_expected) << call << " " << code;
    }
    ASSERT_EQ(Ctl(R"({"op":"fail","call":")" + std::string(call) + R"(","on":false})"), "ok");
  }
  EXPECT_TRUE(devices_->Probe(gpus[0].handle, &lost)->clean());
}

TEST_F(FakeNvmlTest, MalformedScenarioFailsInit) {
  auto sc = dir_ / "bad.json";
  for (const char* text : {"{not json", "[1,2]", R"({"gpus":"many"})", R"({"gpus":[1]})", R"({"gpus":100000})"}) {
    std::ofstream(sc) << text;
    setenv("FAKE_NVML_SCENARIO", sc.c_str(), 1);
    std::string err;
    NvmlLoadOptions o;
    o.driver_root = kRoot;
    auto lib = NvmlLibrary::Load(o, &err);
    ASSERT_TRUE(lib) << err;
    EXPECT_EQ(NvmlDevices::Open(std::move(lib), &err), nullptr) << text;
    EXPECT_NE(err.find("nvmlInit_v2 failed"), std::string::npos) << err;
  }
}

TEST_F(FakeNvmlTest, EventsArriveClassified) {
  Open();
  auto gpus = devices_->Enumerate(nullptr);
  std::mutex mu;
  std::condition_variable cv;
  std::vector<NvmlEvent> got;
  EventWatcher w(*devices_, gpus, [&](const NvmlEvent& e) {
    std::lock_guard<std::mutex> lk(mu);
    got.push_back(e);
    cv.notify_all();
  }, nullptr, 50);
  std::string err;
  ASSERT_TRUE(w.Start(&err)) << err;
  for (auto m : w.accepted()) EXPECT_EQ(EventWatcher::MaskNames(m),
                                        "XidCriticalError,SingleBitEccError,DoubleBitEccError,GpuUnavailableError,GpuRecoveryAction");
  EXPECT_EQ(Ctl(R"({"op":"xid","gpu":3,"xid":48})"), "ok");
  EXPECT_EQ(Ctl(R"({"op":"ecc","gpu":1,"kind":"dbe"})"), "ok");
  EXPECT_EQ(Ctl(R"({"op":"recovery","gpu":2,"action":1})"), "ok");
  EXPECT_EQ(Ctl(R"({"op":"lost","gpu":5})"), "ok");
  std::unique_lock<std::mutex> lk(mu);
  ASSERT_TRUE(cv.wait_for(lk, std::chrono::seconds(5), [&] { return got.size() >= 4; }));
  EXPECT_EQ(got[0].kind, NvmlEvent::Kind::kXid);
  EXPECT_EQ(got[0].gpu, 3u);
  EXPECT_EQ(got[0].data, 48u);
  EXPECT_EQ(got[1].kind, NvmlEvent::Kind::kDoubleBitEcc);
  EXPECT_EQ(got[1].gpu, 1u);
  EXPECT_EQ(got[2].kind, NvmlEvent::Kind::kRecoveryAction);
  EXPECT_EQ(got[2].data, 1u);
  EXPECT_EQ(got[3].kind, NvmlEvent::Kind::kGpuLost);
  EXPECT_EQ(got[3].gpu, 5u);
  lk.unlock();
  auto t0 = std::chrono::steady_clock::now();
  w.Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(500));  // prompt stop
}

// A set holding a lost GPU answers GPU_IS_LOST to every wait, but only once the events queued
// before the loss are read: a fault just before a GPU falls off the bus is not dropped.
TEST_F(FakeNvmlTest, EventsQueuedBeforeALossAreReadFirst) {
  Open();
  auto gpus = devices_->Enumerate(nullptr);
  const NvmlApi& a = devices_->api();
  nvmlEventSet_t set = nullptr;
  ASSERT_EQ(a.EventSetCreate(&set), NVML_SUCCESS);
  ASSERT_EQ(a.DeviceRegisterEvents(gpus[3].handle, nvmlEventTypeXidCriticalError, set), NVML_SUCCESS);
  ASSERT_EQ(a.DeviceRegisterEvents(gpus[5].handle, nvmlEventTypeXidCriticalError, set), NVML_SUCCESS);
  EXPECT_EQ(Ctl(R"({"op":"xid","gpu":3,"xid":48})"), "ok");
  EXPECT_EQ(Ctl(R"({"op":"lost","gpu":5})"), "ok");
  nvmlEventData_t d{};
  ASSERT_EQ(a.EventSetWait(set, &d, 50), NVML_SUCCESS);
  EXPECT_EQ(d.device, gpus[3].handle);
  EXPECT_EQ(d.eventData, 48u);
  EXPECT_EQ(a.EventSetWait(set, &d, 50), NVML_ERROR_GPU_IS_LOST);
  EXPECT_EQ(a.EventSetWait(set, &d, 50), NVML_ERROR_GPU_IS_LOST);
  a.EventSetFree(set);
}

// When a GPU is lost the set is made again without it. An Xid on another GPU while that
// happens (here: while the new set is being filled) reaches the old set only: it must still be
// delivered, and each GPU left is reported rewatched so that the provider probes it.
TEST_F(FakeNvmlTest, XidWhileTheEventSetIsMadeAgainIsDelivered) {
  setenv("FAKE_NVML_GPUS", "3", 1);
  Open();
  auto gpus = devices_->Enumerate(nullptr);
  std::mutex mu;
  std::condition_variable cv;
  std::vector<NvmlEvent> got;
  EventWatcher w(*devices_, gpus, [&](const NvmlEvent& e) {
    std::lock_guard<std::mutex> lk(mu);
    got.push_back(e);
    cv.notify_all();
  }, nullptr, 50);
  std::string err;
  ASSERT_TRUE(w.Start(&err)) << err;
  EXPECT_EQ(Ctl(R"({"op":"xid_on_call","call":"nvmlDeviceGetSupportedEventTypes","gpu":2,"xid":48})"), "ok");
  EXPECT_EQ(Ctl(R"({"op":"lost","gpu":1})"), "ok");
  const auto has = [&](NvmlEvent::Kind kind, size_t gpu) {
    for (auto& e : got)
      if (e.kind == kind && e.gpu == gpu) return true;
    return false;
  };
  std::unique_lock<std::mutex> lk(mu);
  // Each GPU left is reported in turn: wait for the last one too.
  EXPECT_TRUE(cv.wait_for(lk, std::chrono::seconds(3), [&] {
    return has(NvmlEvent::Kind::kXid, 2) && has(NvmlEvent::Kind::kRewatched, 0) &&
           has(NvmlEvent::Kind::kRewatched, 2);
  }));
  EXPECT_TRUE(has(NvmlEvent::Kind::kGpuLost, 1));
  EXPECT_TRUE(has(NvmlEvent::Kind::kXid, 2)) << "the Xid sent while the set was made again was lost";
  EXPECT_TRUE(has(NvmlEvent::Kind::kRewatched, 0));
  EXPECT_TRUE(has(NvmlEvent::Kind::kRewatched, 2));
  EXPECT_FALSE(has(NvmlEvent::Kind::kRewatched, 1));
  lk.unlock();
  w.Stop();
}

// GPUs NVML identifies only after Start() are watched once added, with the next indexes.
TEST_F(FakeNvmlTest, GpusAddedAfterStartAreWatched) {
  setenv("FAKE_NVML_GPUS", "3", 1);
  Open();
  auto gpus = devices_->Enumerate(nullptr);
  std::mutex mu;
  std::condition_variable cv;
  std::vector<NvmlEvent> got;
  EventWatcher w(*devices_, {}, [&](const NvmlEvent& e) {
    std::lock_guard<std::mutex> lk(mu);
    got.push_back(e);
    cv.notify_all();
  }, nullptr, 50);
  std::string err;
  ASSERT_TRUE(w.Start(&err)) << err;
  w.Add({gpus[0], gpus[2], gpus[1]});
  std::unique_lock<std::mutex> lk(mu);
  ASSERT_TRUE(cv.wait_for(lk, std::chrono::seconds(3), [&] { return got.size() >= 3; }));
  lk.unlock();
  EXPECT_EQ(Ctl(R"({"op":"xid","gpu":1,"xid":48})"), "ok");
  lk.lock();
  ASSERT_TRUE(cv.wait_for(lk, std::chrono::seconds(3), [&] { return got.back().kind == NvmlEvent::Kind::kXid; }));
  EXPECT_EQ(got.back().gpu, 2u);  // gpus[1] was added second
  lk.unlock();
  w.Stop();
}

TEST_F(FakeNvmlTest, HostileControlInput) {
  Open();
  for (const char* bad : {"", "garbage", "[]", R"({"op":"xid"})", R"({"op":"xid","gpu":99,"xid":1})",
                          R"({"op":"xid","gpu":0,"xid":-4})", R"({"op":"xid","gpu":0,"xid":"x"})",
                          R"({"op":"recovery","gpu":0,"action":9})", R"({"op":"nope","gpu":0})"}) {
    EXPECT_EQ(Ctl(bad).rfind("error", 0), 0u) << bad;
  }
  EXPECT_EQ(Ctl(R"({"op":"ping"})"), "ok");
}

TEST_F(FakeNvmlTest, UnsupportedEventTypesAreMaskedOut) {
  auto sc = dir_ / "scenario.json";
  std::ofstream(sc) << R"({"gpus":2,"supported_events":["xid","dbe"]})";
  setenv("FAKE_NVML_SCENARIO", sc.c_str(), 1);
  Open();
  auto gpus = devices_->Enumerate(nullptr);
  EventWatcher w(*devices_, gpus, [](const NvmlEvent&) {}, nullptr, 50);
  std::string err;
  ASSERT_TRUE(w.Start(&err));
  EXPECT_EQ(EventWatcher::MaskNames(w.accepted()[0]), "XidCriticalError,DoubleBitEccError");
}

}  // namespace
}  // namespace deviceapi::nvml
