#include "bench/compare.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include "bench/proc_stats.h"
#include "bench/scenarios.h"
#include "bench/server_process.h"

namespace deviceapi::bench {

namespace {

const double kNaN = std::nan("");

int FreeTcpPort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
    port = ntohs(addr.sin_port);
  close(fd);
  return port;
}

std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string one, five, fifteen;
  in >> one >> five >> fifteen;
  return one + " " + five + " " + fifteen;
}

// The figures of one server in one round, by metric key.
using Figures = std::map<std::string, double>;

class Collector {
 public:
  // Declares a metric (in report order) and records `value` for this run.
  void Put(const std::string& scenario, const std::string& name, bool higher_is_better,
           double value) {
    const std::string key = scenario + "\n" + name;
    if (!index_.count(key)) {
      index_[key] = metrics_.size();
      metrics_.push_back({scenario, name, higher_is_better, {}});
    }
    current_[key] = value;
  }
  // Closes the run of `label` in `round` (of `rounds`).
  void EndRun(const std::string& label, int round, int rounds) {
    for (auto& [key, value] : current_) {
      auto& v = metrics_[index_[key]].values[label];
      v.resize(static_cast<std::size_t>(rounds), kNaN);
      v[static_cast<std::size_t>(round)] = value;
    }
    current_.clear();
  }
  const std::vector<CompareMetric>& metrics() const { return metrics_; }

 private:
  std::map<std::string, std::size_t> index_;
  std::vector<CompareMetric> metrics_;
  Figures current_;
};

const Result* FindRow(const std::vector<Result>& rows, const std::string& op) {
  for (auto& r : rows)
    if (r.op == op) return &r;
  return nullptr;
}

double Extra(const Result& r, const char* key) {
  return r.extra.contains(key) && r.extra[key].is_number() ? r.extra[key].get<double>() : kNaN;
}

// Runs compare scenario `name` with its parameters on `o` (which `ctx`
// reads), records its figures and reports what went wrong.
void RunScenario(const std::string& name, Options& o, const Options& base, BenchContext& ctx,
                 Collector* out, std::vector<std::string>* problems) {
  o.concurrency = 1;
  o.watchers = base.watchers;
  o.rate = base.rate;
  o.requests = 0;
  std::vector<Result> rows;
  if (name == "get") {
    rows = RunGet(ctx);
  } else if (name == "update-status") {
    o.concurrency = 8;
    rows = RunUpdateStatus(ctx);
  } else if (name == "list") {
    rows = RunList(ctx);
  } else if (name == "watch-fanout" || name == "burst" || name == "burst-max") {
    o.concurrency = name == "watch-fanout" ? 2 : 4;
    o.rate = name == "burst" ? base.burst_rate : name == "burst-max" ? 0 : base.rate;
    rows = RunWatchFanout(ctx);
  } else if (name == "memory") {
    o.concurrency = 4;
    o.conditions = base.memory_conditions;
    o.requests = base.requests > 0 ? base.requests : 6000;
    ctx.MarkDirty();
    rows = RunMemory(ctx);
    o.conditions = base.conditions;
    ctx.MarkDirty();
  }
  for (auto& r : rows) {
    if (!r.available) problems->push_back(r.name() + ": unavailable: " + r.note);
    else if (r.errors > 0)
      problems->push_back(r.name() + ": " + std::to_string(r.errors) + " errors" +
                          (r.first_error.empty() ? "" : " (" + r.first_error + ")") +
                          (r.extra.contains("lost") ? ", lost " + r.extra["lost"].dump() : ""));
  }
  auto ok = [](const Result* r) { return r && r->available && r->ops > 0; };
  if (name == "get" || name == "list") {
    const Result* r = FindRow(rows, name);
    if (ok(r)) out->Put(name, "p50 ms (1 client)", false, r->latency.p50_ms);
  } else if (name == "update-status") {
    const Result* r = FindRow(rows, name);
    if (ok(r)) {
      out->Put(name, "ops/s (8 clients)", true, r->ops_per_s());
      out->Put(name, "p50 ms (8 clients)", false, r->latency.p50_ms);
    }
  } else if (name == "watch-fanout" || name == "burst" || name == "burst-max") {
    const Result* w = FindRow(rows, "update-status");
    const Result* d = FindRow(rows, "delivery");
    if (ok(w)) out->Put(name, "writes/s acknowledged", true, w->ops_per_s());
    if (ok(d)) {
      out->Put(name, "delivery p99 ms", false, d->latency.p99_ms);
      // From the write's start: what a server gains by answering its writer
      // late does not show here.
      out->Put(name, "delivery p99 from send ms", false, Extra(*d, "p99_from_send_ms"));
      out->Put(name, "events lost", false, Extra(*d, "lost"));
      out->Put(name, "server CPU %", false, Extra(*d, "server_cpu_percent"));
    }
  } else if (name == "memory") {
    const Result* r = FindRow(rows, "memory");
    if (r && r->available) {
      out->Put(name, "RssAnon MiB", false, Extra(*r, "server_rss_anon_mib"));
      out->Put(name, "RSS MiB", false, Extra(*r, "server_rss_mib"));
      out->Put(name, "events lost", false, Extra(*r, "lost"));
    }
  }
}

// One server started afresh, every scenario run against it, stopped.
void RunServer(const Options& base, const Options::Server& server, Collector* out,
               std::vector<std::string>* problems) {
  char tmpl[] = "/tmp/dab-compare-XXXXXX";
  if (!mkdtemp(tmpl)) {
    problems->push_back("mkdtemp failed");
    return;
  }
  const std::string dir = tmpl, socket = dir + "/api.sock";
  std::vector<std::string> argv = {server.binary};
  bool has_socket = false;
  for (auto& a : server.args) has_socket = has_socket || a.find("{socket}") != std::string::npos;
  if (!has_socket) argv.insert(argv.end(), {"--bind-address", "unix://" + socket});
  for (auto& a : server.args) argv.push_back(ExpandServerArg(a, socket, dir));

  ServerProcess process;
  std::string error;
  const bool ready = process.Start(argv, dir + "/server.log", &error) &&
                     process.WaitReady(socket, std::chrono::seconds(60), &error);
  const double ready_ms = static_cast<double>(NowNs() - process.started_ns()) / 1e6;
  if (!ready) {
    problems->push_back("start: " + error);
  } else {
    std::this_thread::sleep_for(std::chrono::seconds(1));
    const ProcSnapshot idle = ReadProc(process.pid());
    bool wanted = false;
    for (auto& s : base.scenarios) wanted = wanted || s == "startup";
    if (wanted) {
      out->Put("startup", "exec to ready ms", false, ready_ms);
      out->Put("startup", "idle RSS MiB", false, idle.ok ? idle.rss_mib : kNaN);
      out->Put("startup", "idle RssAnon MiB", false, idle.ok ? idle.anon_mib : kNaN);
    }
    Options o = base;
    o.target = "unix://" + socket;
    o.server_pid = process.pid();
    o.request_shape = server.request_shape;
    o.progress = false;
    Connection conn(o.target, false, false,
                    o.request_shape == "pr-head" ? RequestShape::kPrHead : RequestShape::kMerged);
    BenchContext ctx(o, conn);
    for (auto& name : base.scenarios) {
      if (name == "startup") continue;
      std::cerr << "  " << server.label << ": " << name << "\n";
      RunScenario(name, o, base, ctx, out, problems);
    }
  }
  const int code = process.Stop();
  if (ready && code != 0)
    problems->push_back("exit code " + std::to_string(code) + " after SIGTERM: " + process.LogTail());
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

std::string Format(double v) {
  if (!std::isfinite(v)) return "-";
  char buf[32];
  if (std::fabs(v) >= 100) std::snprintf(buf, sizeof buf, "%.0f", v);
  else if (std::fabs(v) >= 10) std::snprintf(buf, sizeof buf, "%.1f", v);
  else std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}

}  // namespace

std::string ExpandServerArg(const std::string& arg, const std::string& socket,
                            const std::string& dir) {
  std::string out;
  for (std::size_t i = 0; i < arg.size();) {
    if (arg.compare(i, 8, "{socket}") == 0) {
      out += socket;
      i += 8;
    } else if (arg.compare(i, 5, "{dir}") == 0) {
      out += dir;
      i += 5;
    } else if (arg.compare(i, 6, "{port}") == 0) {
      out += std::to_string(FreeTcpPort());
      i += 6;
    } else {
      out += arg[i++];
    }
  }
  return out;
}

double Median(std::vector<double> v) {
  v.erase(std::remove_if(v.begin(), v.end(), [](double x) { return !std::isfinite(x); }), v.end());
  if (v.empty()) return kNaN;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

nlohmann::json CompareReport(const Options& o, const std::vector<CompareMetric>& metrics,
                             const nlohmann::json& machine, const std::vector<std::string>& problems) {
  using nlohmann::json;
  auto num = [](double v) { return std::isfinite(v) ? json(v) : json(nullptr); };
  json report;
  report["mode"] = "compare";
  report["baseline"] = o.baseline;
  report["rounds"] = o.rounds;
  report["machine"] = machine;
  report["servers"] = json::array();
  for (auto& s : o.servers) {
    json a = json::array();
    for (auto& x : s.args) a.push_back(x);
    report["servers"].push_back(
        {{"label", s.label}, {"binary", s.binary}, {"args", a}, {"request_shape", s.request_shape}});
  }
  report["metrics"] = json::array();
  for (auto& m : metrics) {
    json j = {{"scenario", m.scenario}, {"metric", m.name},
              {"better", m.higher_is_better ? "higher" : "lower"}};
    const auto base_it = m.values.find(o.baseline);
    for (auto& s : o.servers) {
      auto it = m.values.find(s.label);
      std::vector<double> v = it == m.values.end() ? std::vector<double>() : it->second;
      v.resize(static_cast<std::size_t>(o.rounds), kNaN);
      json per = json::array();
      for (double x : v) per.push_back(num(x));
      j["values"][s.label] = per;
      j["median"][s.label] = num(Median(v));
      if (s.label == o.baseline || base_it == m.values.end()) continue;
      std::vector<double> ratios;
      json rj = json::array();
      for (std::size_t r = 0; r < v.size(); ++r) {
        const double b = r < base_it->second.size() ? base_it->second[r] : kNaN;
        const double ratio = std::isfinite(v[r]) && std::isfinite(b) && b != 0 ? v[r] / b : kNaN;
        rj.push_back(num(ratio));
        if (std::isfinite(ratio)) ratios.push_back(ratio);
      }
      json& rr = j["ratio"][s.label];
      rr["per_round"] = rj;
      rr["median"] = num(Median(ratios));
      rr["min"] = ratios.empty() ? json(nullptr) : json(*std::min_element(ratios.begin(), ratios.end()));
      rr["max"] = ratios.empty() ? json(nullptr) : json(*std::max_element(ratios.begin(), ratios.end()));
    }
    report["metrics"].push_back(j);
  }
  report["problems"] = problems;
  return report;
}

std::string CompareTable(const nlohmann::json& report, bool markdown) {
  const std::string base = report["baseline"];
  std::vector<std::string> labels, others;
  for (auto& s : report["servers"]) {
    labels.push_back(s["label"]);
    if (s["label"] != base) others.push_back(s["label"]);
  }
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> head = {"scenario", "metric"};
  for (auto& l : labels) head.push_back(l + " (median)");
  for (auto& l : others) {
    head.push_back(l + "/" + base + " median [range]");
    head.push_back(l + "/" + base + " per round");
  }
  rows.push_back(head);
  auto value = [](const nlohmann::json& j) { return j.is_number() ? j.get<double>() : kNaN; };
  for (auto& m : report["metrics"]) {
    std::vector<std::string> row = {m["scenario"], m["metric"]};
    for (auto& l : labels) row.push_back(Format(value(m["median"][l])));
    for (auto& l : others) {
      if (!m.contains("ratio") || !m["ratio"].contains(l)) {
        row.insert(row.end(), {"-", "-"});
        continue;
      }
      const auto& r = m["ratio"][l];
      std::string per;
      for (auto& x : r["per_round"]) per.append(per.empty() ? "" : " ").append(Format(value(x)));
      row.push_back(Format(value(r["median"])) + " [" + Format(value(r["min"])) + "–" +
                    Format(value(r["max"])) + "]");
      row.push_back(per);
    }
    rows.push_back(row);
  }
  std::string out;
  if (markdown) {
    for (std::size_t i = 0; i < rows.size(); ++i) {
      out += "|";
      for (auto& c : rows[i]) out += " " + c + " |";
      out += "\n";
      if (i == 0) {
        out += "|";
        for (std::size_t k = 0; k < rows[i].size(); ++k) out += k < 2 ? "---|" : "--:|";
        out += "\n";
      }
    }
    return out;
  }
  // Display widths (the range dash is one column, three bytes).
  auto width = [](const std::string& s) {
    std::size_t w = 0;
    for (unsigned char c : s) w += (c & 0xc0) != 0x80;
    return w;
  };
  std::vector<std::size_t> widths(head.size(), 0);
  for (auto& r : rows)
    for (std::size_t k = 0; k < r.size(); ++k) widths[k] = std::max(widths[k], width(r[k]));
  for (auto& r : rows) {
    for (std::size_t k = 0; k < r.size(); ++k) {
      out += r[k] + std::string(widths[k] - width(r[k]) + 2, ' ');
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    out += "\n";
  }
  return out;
}

int RunCompare(const Options& o) {
  Collector collector;
  std::vector<std::string> problems;
  nlohmann::json machine;
  machine["nproc"] = std::thread::hardware_concurrency();
  machine["load_before"] = LoadAverage();
  machine["load_per_round"] = nlohmann::json::array();
  const int n = static_cast<int>(o.servers.size());
  for (int round = 0; round < o.rounds; ++round) {
    for (int k = 0; k < n; ++k) {
      // Interleaved: A B, then B A, ...
      const auto& server = o.servers[static_cast<std::size_t>(round % 2 ? n - 1 - k : k)];
      std::cerr << "round " << round + 1 << "/" << o.rounds << ": " << server.label << "\n";
      std::vector<std::string> mine;
      RunServer(o, server, &collector, &mine);
      collector.EndRun(server.label, round, o.rounds);
      for (auto& p : mine)
        problems.push_back(server.label + " round " + std::to_string(round + 1) + ": " + p);
    }
    machine["load_per_round"].push_back(LoadAverage());
  }
  const auto report = CompareReport(o, collector.metrics(), machine, problems);
  if (o.json) {
    std::cout << report.dump() << "\n";  // one line, like the JSON of the other modes
  } else {
    std::cout << (o.markdown ? "" : "\n") << CompareTable(report, o.markdown);
    std::cout << (o.markdown ? "\n" : "") << "nproc " << machine["nproc"].dump()
              << ", load average before: " << machine["load_before"].get<std::string>()
              << ", after each round (1/5/15 min):";
    for (auto& l : machine["load_per_round"]) std::cout << " [" << l.get<std::string>() << "]";
    std::cout << "\n";
    for (auto& p : problems) std::cout << "problem: " << p << "\n";
  }
  return problems.empty() ? 0 : 1;
}

}  // namespace deviceapi::bench
