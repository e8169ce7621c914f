#include "nvml/provider_config.h"

#include <gtest/gtest.h>

#include <map>

namespace deviceapi::nvml {
namespace {

ParseOutcome Parse(std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
  std::vector<const char*> argv{"nvml-provider"};
  for (auto& a : args) argv.push_back(a.c_str());
  return ParseProviderFlags(static_cast<int>(argv.size()), argv.data(), [env](const char* n) -> std::optional<std::string> {
    auto it = env.find(n);
    if (it == env.end()) return std::nullopt;
    return it->second;
  });
}

// Durations use the server's parser (absl::ParseDuration): fractions are
// fine, a unit is required, a week is the most any of these knobs takes.
TEST(ProviderFlags, DurationsUseTheServerSyntax) {
  using std::chrono::milliseconds;
  for (auto [text, want] : std::vector<std::pair<std::string, milliseconds>>{
           {"500ms", milliseconds(500)}, {"30s", milliseconds(30000)}, {"1m30s", milliseconds(90000)},
           {"2h", milliseconds(7200000)}, {"1.5s", milliseconds(1500)}}) {
    auto o = Parse({"--reconcile-interval", text});
    ASSERT_TRUE(o.config) << text << ": " << o.output;
    EXPECT_EQ(o.config->reconcile_interval, want) << text;
  }
  for (const char* bad : {"", "15", "s", "10x", "-1s", "99999999999999999999s", "1000h", "0"}) {
    auto o = Parse({"--reconcile-interval", bad});
    EXPECT_FALSE(o.config) << bad;
    EXPECT_EQ(o.exit_code, 2) << bad;
    EXPECT_NE(o.output.find("--reconcile-interval"), std::string::npos) << o.output;
  }
}

// "--admin-address=" is the empty value (admin off), as the docs and Go's flag package read
// it; it must not take the next argument as the address.
TEST(ProviderFlags, EmptyAssignmentIsTheEmptyValue) {
  auto o = Parse({"--admin-address=", "--driver-root", "/opt/driver"});
  ASSERT_TRUE(o.config) << o.output;
  EXPECT_EQ(o.config->admin_address, "");
  EXPECT_EQ(o.config->driver_root, "/opt/driver");
}

TEST(ProviderFlags, Defaults) {
  auto o = Parse({});
  ASSERT_TRUE(o.config) << o.output;
  EXPECT_EQ(o.config->reconcile_interval, std::chrono::seconds(30));
  EXPECT_EQ(o.config->driver_root, "/");
  EXPECT_TRUE(o.config->xids.use_default_ignores);
  EXPECT_TRUE(o.config->xids.ignore.empty());
}

TEST(ProviderFlags, FlagsAndEnvironment) {
  auto o = Parse({"--reconcile-interval", "2s", "--fatal-xids", "13", "--ignore-xids=95,109"},
                 {{"NVIDIA_DRIVER_ROOT", "/run/nvidia/driver"}, {"DEVICE_API_SERVER", "unix:///tmp/x.sock"},
                  {"NVML_PROVIDER_FATAL_XIDS", "8"}, {"DP_DISABLE_HEALTHCHECKS", "48"}});
  ASSERT_TRUE(o.config) << o.output;
  EXPECT_EQ(o.config->reconcile_interval, std::chrono::seconds(2));
  EXPECT_EQ(o.config->driver_root, "/run/nvidia/driver");
  EXPECT_EQ(o.config->server, "unix:///tmp/x.sock");
  EXPECT_EQ(o.config->xids.fatal, (std::set<uint32_t>{13}));  // the flag wins over the variable
  EXPECT_EQ(o.config->xids.ignore, (std::set<uint32_t>{48, 95, 109}));
}

TEST(ProviderFlags, BadInputIsAUsageError) {
  for (auto args : std::vector<std::vector<std::string>>{{"--reconcile-interval", "soon"},
                                                         {"--reconcile-interval", "0s"},
                                                         {"--ignore-xids", "13,abc"},
                                                         {"--log-level", "loud"},
                                                         {"--event-wait-timeout", "1m"},
                                                         {"--admin-address", "8082"},
                                                         {"--admin-address", ":99999"},
                                                         {"--no-such-flag"}}) {
    auto o = Parse(args);
    EXPECT_FALSE(o.config) << args[0];
    EXPECT_EQ(o.exit_code, 2);
    EXPECT_FALSE(o.output.empty());
  }
  // The device plugin skips what it cannot read in its variables; so does the provider, and
  // says so, instead of refusing to start on a setting copied from the plugin.
  auto o = Parse({}, {{"DP_ENABLE_HEALTHCHECKS", "x;y"}, {"DP_DISABLE_HEALTHCHECKS", "All"}});
  ASSERT_TRUE(o.config) << o.output;
  EXPECT_TRUE(o.config->xids.ignore_all);
  ASSERT_EQ(o.warnings.size(), 1u);
  EXPECT_NE(o.warnings[0].find("DP_ENABLE_HEALTHCHECKS: skipped 'x;y'"), std::string::npos) << o.warnings[0];
}

// S28: the provider lease's knobs; 0 turns the lease off.
TEST(ProviderFlags, LeaseFlags) {
  auto d = Parse({});
  ASSERT_TRUE(d.config) << d.output;
  EXPECT_EQ(d.config->lease_duration, std::chrono::seconds(40));
  EXPECT_EQ(d.config->lease_renew_period, std::chrono::seconds(10));
  EXPECT_EQ(d.config->lease_name, "nvml-provider");
  auto o = Parse({"--lease-duration", "2s", "--lease-renew-period", "400ms"}, {{"POD_NAME", "pod-7"}});
  ASSERT_TRUE(o.config) << o.output;
  EXPECT_EQ(o.config->lease_duration, std::chrono::seconds(2));
  EXPECT_EQ(o.config->lease_renew_period, std::chrono::milliseconds(400));
  EXPECT_EQ(o.config->lease_holder, "pod-7");
  for (const char* zero : {"0", "0s", "0ms", "0m"}) {
    auto off = Parse({"--lease-duration", zero});
    ASSERT_TRUE(off.config) << zero << ": " << off.output;
    EXPECT_EQ(off.config->lease_duration.count(), 0);
  }
  // Half the duration is the longest renew period: with a renewal up to 10 % late and a call
  // to the server, more lets a healthy provider's lease expire now and then.
  EXPECT_TRUE(Parse({"--lease-duration", "2s", "--lease-renew-period", "1s"}).config);
  for (auto args : std::vector<std::vector<std::string>>{{"--lease-duration", "1500ms"},
                                                         {"--lease-duration", "2h"},
                                                         {"--lease-duration", "soon"},
                                                         {"--lease-duration", "10s", "--lease-renew-period", "10s"},
                                                         {"--lease-duration", "2s", "--lease-renew-period", "1900ms"},
                                                         {"--lease-renew-period", "0s"}}) {
    auto bad = Parse(args);
    EXPECT_FALSE(bad.config) << args[0] << " " << args[1];
    EXPECT_EQ(bad.exit_code, 2);
    EXPECT_NE(bad.output.find("--lease"), std::string::npos) << bad.output;
  }
}

TEST(ProviderFlags, Help) {
  auto o = Parse({"--help"});
  EXPECT_FALSE(o.config);
  EXPECT_EQ(o.exit_code, 0);
  EXPECT_NE(o.output.find("--reconcile-interval"), std::string::npos);
}

TEST(ProviderFlags, VersionIsTheBuildDocument) {
  auto o = Parse({"--version"});
  EXPECT_FALSE(o.config);
  EXPECT_EQ(o.exit_code, 0);
  for (const char* key : {"\"version\":", "\"commit\":", "\"buildDate\":", "\"compiler\":"})
    EXPECT_NE(o.output.find(key), std::string::npos) << key << " in " << o.output;
  EXPECT_EQ(o.output.front(), '{');
  EXPECT_EQ(o.output.back(), '}');
}

}  // namespace
}  // namespace deviceapi::nvml
