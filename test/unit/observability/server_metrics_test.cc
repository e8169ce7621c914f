// Server metric families: every one present, values read at scrape time from
// the sources, output valid for the strict parser.
#include <gtest/gtest.h>

#include <atomic>
#include <nlohmann/json.hpp>

#include "metrics/registry.h"
#include "metrics/text_parser.h"
#include "server/server_metrics.h"

namespace deviceapi::server {
namespace {

using metrics::ParseText;

TEST(ServerMetricsTest, AllFamiliesFromSources) {
  metrics::Registry r;
  store::StoreStats stats;
  stats.objects = 8;
  stats.current_revision = 1234567;
  stats.history_events = 100;
  stats.history_bytes = 4096;
  stats.oldest_retained_revision = 1234000;
  stats.creates = 8;
  stats.updates = 50;
  stats.deletes = 1;
  stats.noop_updates = 3;
  stats.active_watchers = 2;
  stats.events_delivered = 99;
  stats.watchers_evicted = 1;
  stats.watches_expired = 4;
  std::atomic<bool> ready{false};
  ConditionCounts conditions{{{"Ready", "True"}, 7}, {{"Ready", "False"}, 1}};
  ServerMetricsSources sources;
  sources.store_stats = [&] { return stats; };
  sources.ready = [&] { return ready.load(); };
  sources.gpu_conditions = [&] { return conditions; };
  std::map<std::string, std::size_t> actions{{"RESET_GPU", 2}, {"RESTART_BM", 1}};
  sources.gpu_recommended_actions = [&] { return actions; };
  RegisterServerMetrics(r, sources, BuildInfo{"1.2.3", "abc\"def", "2026-01-01T00:00:00Z", "GNU 12"});

  auto res = ParseText(r.Serialize());
  ASSERT_TRUE(res.ok) << res.error;
  const auto& e = res.exposition;
  EXPECT_EQ(e.Value("device_apiserver_build_info", {{"version", "1.2.3"},
                                                     {"commit", "abc\"def"},
                                                     {"build_date", "2026-01-01T00:00:00Z"},
                                                     {"compiler", "GNU 12"}}),
            1.0);
  EXPECT_GT(*e.Value("device_apiserver_start_time_seconds"), 1.6e9);
  EXPECT_EQ(e.Value("device_apiserver_ready"), 0.0);
  EXPECT_EQ(e.Value("device_apiserver_store_objects"), 8.0);
  EXPECT_EQ(e.Value("device_apiserver_store_revision"), 1234567.0);
  EXPECT_EQ(e.Value("device_apiserver_history_events"), 100.0);
  EXPECT_EQ(e.Value("device_apiserver_history_bytes"), 4096.0);
  EXPECT_EQ(e.Value("device_apiserver_history_oldest_revision"), 1234000.0);
  EXPECT_EQ(e.Value("device_apiserver_store_writes_total", {{"verb", "create"}}), 8.0);
  EXPECT_EQ(e.Value("device_apiserver_store_writes_total", {{"verb", "update"}}), 50.0);
  EXPECT_EQ(e.Value("device_apiserver_store_writes_total", {{"verb", "delete"}}), 1.0);
  EXPECT_EQ(e.Value("device_apiserver_store_noop_updates_total"), 3.0);
  EXPECT_EQ(e.Value("device_apiserver_watchers"), 2.0);
  EXPECT_EQ(e.Value("device_apiserver_watch_events_sent_total"), 99.0);
  EXPECT_EQ(e.Value("device_apiserver_watchers_evicted_total"), 1.0);  // S16 is counted
  EXPECT_EQ(e.Value("device_apiserver_watches_expired_total"), 4.0);   // S14 refusals counted
  EXPECT_EQ(e.Value("device_apiserver_gpus", {{"condition", "Ready"}, {"status", "True"}}), 7.0);
  EXPECT_EQ(e.Value("device_apiserver_gpus", {{"condition", "Ready"}, {"status", "False"}}), 1.0);
  EXPECT_EQ(e.Value("device_apiserver_gpus_recommended_action", {{"action", "RESET_GPU"}}), 2.0);
  EXPECT_EQ(e.Value("device_apiserver_gpus_recommended_action", {{"action", "RESTART_BM"}}), 1.0);
  EXPECT_EQ(e.Family("device_apiserver_gpus_recommended_action")->type, "gauge");
  EXPECT_EQ(e.Family("device_apiserver_store_writes_total")->type, "counter");
  EXPECT_EQ(e.Family("device_apiserver_watchers")->type, "gauge");
  for (const auto& f : e.families) EXPECT_FALSE(f.help.empty()) << f.name;

  // Values are read at scrape time (S21: ready flips to 1).
  ready = true;
  stats.objects = 9;
  stats.watchers_evicted = 5;
  conditions = {{{"Ready", "True"}, 9}};
  auto res2 = ParseText(r.Serialize());
  ASSERT_TRUE(res2.ok) << res2.error;
  EXPECT_EQ(res2.exposition.Value("device_apiserver_ready"), 1.0);
  EXPECT_EQ(res2.exposition.Value("device_apiserver_store_objects"), 9.0);
  EXPECT_EQ(res2.exposition.Value("device_apiserver_watchers_evicted_total"), 5.0);
  EXPECT_FALSE(res2.exposition.Value("device_apiserver_gpus", {{"condition", "Ready"}, {"status", "False"}}));
}

// A lease watcher evicted as too slow is counted like a GPU watcher (S16):
// the write and watch families sum both stores; objects, revision and
// history stay the GPU store's, so revision - oldest still means something.
TEST(ServerMetricsTest, LeaseStoreAddsToWriteAndWatchFamiliesS16) {
  metrics::Registry r;
  store::StoreStats gpus, leases;
  gpus.objects = 8;
  gpus.current_revision = 100;
  gpus.oldest_retained_revision = 90;
  gpus.history_events = 10;
  gpus.creates = 8;
  gpus.active_watchers = 2;
  gpus.watchers_evicted = 1;
  leases.objects = 2;
  leases.current_revision = 7;
  leases.oldest_retained_revision = 1;
  leases.history_events = 7;
  leases.creates = 2;
  leases.updates = 5;
  leases.noop_updates = 1;
  leases.active_watchers = 3;
  leases.events_delivered = 4;
  leases.watchers_evicted = 2;
  leases.watches_expired = 1;
  leases.revision_waiters = 1;
  ServerMetricsSources sources;
  sources.store_stats = [&] { return gpus; };
  sources.lease_store_stats = [&] { return leases; };
  RegisterServerMetrics(r, sources);

  auto res = ParseText(r.Serialize());
  ASSERT_TRUE(res.ok) << res.error;
  const auto& e = res.exposition;
  const std::pair<const char*, double> want[] = {
      {"device_apiserver_watchers_evicted_total", 3},  {"device_apiserver_watchers", 5},
      {"device_apiserver_watch_events_sent_total", 4}, {"device_apiserver_watches_expired_total", 1},
      {"device_apiserver_waiting_reads", 1},           {"device_apiserver_store_noop_updates_total", 1},
      {"device_apiserver_store_objects", 8},           {"device_apiserver_store_revision", 100},
      {"device_apiserver_history_oldest_revision", 90}, {"device_apiserver_history_events", 10},
  };
  for (const auto& [family, value] : want) EXPECT_EQ(e.Value(family), value) << family;
  EXPECT_EQ(e.Value("device_apiserver_store_writes_total", {{"verb", "create"}}), 10.0);
  EXPECT_EQ(e.Value("device_apiserver_store_writes_total", {{"verb", "update"}}), 5.0);
}

TEST(ServerMetricsTest, NullSourcesRegisterOnlyBuildInfo) {
  metrics::Registry r;
  RegisterServerMetrics(r, {});
  EXPECT_TRUE(r.Has("device_apiserver_build_info"));
  EXPECT_FALSE(r.Has("device_apiserver_store_objects"));
  EXPECT_FALSE(r.Has("device_apiserver_ready"));
  EXPECT_TRUE(ParseText(r.Serialize()).ok);
  EXPECT_THROW(RegisterServerMetrics(r, {}), std::invalid_argument);  // twice: programming error
}

TEST(ServerMetricsTest, BuildInfoJson) {
  auto j = nlohmann::json::parse(BuildInfo::Current().ToJson());
  EXPECT_FALSE(j["version"].get<std::string>().empty());
  EXPECT_TRUE(j.contains("commit"));
  EXPECT_TRUE(j.contains("buildDate"));
  EXPECT_TRUE(j.contains("compiler"));
}

}  // namespace
}  // namespace deviceapi::server
