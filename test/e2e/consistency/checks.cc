#include "checks.h"

#include <algorithm>
#include <set>
#include <unordered_map>

namespace deviceapi::consistency {
namespace {

std::string Show(const Observed& o) {
  return o.key + "@" + std::to_string(o.rv) + "=" + std::to_string(o.counter);
}

// Each GPU's versions in revision order, to find the state at any revision.
class Versions {
 public:
  Versions(const std::vector<WatchEvent>& reference, const States& initial) {
    for (const auto& [key, o] : initial) by_key_[key].push_back(o);
    for (const WatchEvent& e : reference) by_key_[e.object.key].push_back(e.object);
  }
  // Whether `seen` is a version of its GPU, and the revision of the next
  // version (0 when it is the last one).
  bool Known(const Observed& seen, std::uint64_t* next) const {
    auto k = by_key_.find(seen.key);
    if (k == by_key_.end()) return false;
    const auto& versions = k->second;
    auto it = std::lower_bound(versions.begin(), versions.end(), seen.rv,
                               [](const Observed& o, std::uint64_t r) { return o.rv < r; });
    if (it == versions.end() || !(*it == seen)) return false;
    *next = std::next(it) == versions.end() ? 0 : std::next(it)->rv;
    return true;
  }
  // Every GPU as it was at `revision` (those created by then).
  std::vector<Observed> At(std::uint64_t revision) const {
    std::vector<Observed> out;
    for (const auto& [key, versions] : by_key_) {
      auto it = std::upper_bound(versions.begin(), versions.end(), revision,
                                 [](std::uint64_t r, const Observed& o) { return r < o.rv; });
      if (it != versions.begin()) out.push_back(*std::prev(it));
    }
    return out;
  }

 private:
  std::map<std::string, std::vector<Observed>> by_key_;
};

std::string ShowAll(const std::vector<Observed>& items) {
  std::string out;
  for (const auto& o : items) out += (out.empty() ? "" : " ") + Show(o);
  return "[" + out + "]";
}

std::vector<Observed> Sorted(std::vector<Observed> items) {
  std::sort(items.begin(), items.end(), [](const Observed& a, const Observed& b) { return a.key < b.key; });
  return items;
}

}  // namespace

std::vector<std::string> CheckReference(const std::vector<WatchEvent>& reference, const States& initial) {
  std::vector<std::string> problems;
  std::map<std::string, std::int64_t> counter;
  std::uint64_t last = 0;
  for (const auto& [key, o] : initial) {
    counter[key] = o.counter;
    last = std::max(last, o.rv);
  }
  for (const WatchEvent& e : reference) {
    const Observed& o = e.object;
    if (e.type != "MODIFIED") problems.push_back("reference: unexpected " + e.type + " " + Show(o));
    if (o.rv <= last) problems.push_back("reference: revision " + std::to_string(o.rv) + " after " + std::to_string(last));
    last = o.rv;
    auto it = counter.find(o.key);
    if (it == counter.end()) {
      problems.push_back("reference: unknown GPU " + Show(o));
      continue;
    }
    if (o.counter != it->second + 1) {
      problems.push_back("reference: " + Show(o) + " follows counter " + std::to_string(it->second));
    }
    it->second = o.counter;
  }
  return problems;
}

std::vector<std::string> CheckNoLostWrites(const History& history, const std::vector<WatchEvent>& reference,
                                           const States& initial, const States& final_state) {
  std::vector<std::string> problems;
  std::unordered_map<std::uint64_t, Observed> by_rv;
  for (const WatchEvent& e : reference) by_rv[e.object.rv] = e.object;
  std::map<std::string, int> acked;
  for (const Observed& w : history.acked_writes) {
    ++acked[w.key];
    auto it = by_rv.find(w.rv);
    if (it == by_rv.end() || !(it->second == w)) {
      problems.push_back("acknowledged write " + Show(w) + " is not in the server's history" +
                         (it == by_rv.end() ? "" : " (it has " + Show(it->second) + ")"));
    }
  }
  for (const auto& [key, start] : initial) {
    auto f = final_state.find(key);
    if (f == final_state.end()) {
      problems.push_back(key + ": gone at the end");
      continue;
    }
    const std::int64_t applied = f->second.counter - start.counter;
    auto u = history.unknown_writes.find(key);
    const int unknown = u == history.unknown_writes.end() ? 0 : u->second;
    if (applied < acked[key] || applied > acked[key] + unknown) {
      problems.push_back(key + ": final counter " + std::to_string(f->second.counter) + " after " +
                         std::to_string(acked[key]) + " acknowledged and " + std::to_string(unknown) +
                         " unknown increments from " + std::to_string(start.counter));
    }
  }
  return problems;
}

std::vector<std::string> CheckLinearizable(const History& history, const States& initial,
                                           bool refused_swaps) {
  std::vector<std::string> problems;
  for (auto [key, ops] : history.ops) {
    if (!refused_swaps) {
      std::erase_if(ops, [](const CounterOp& op) { return op.outcome == CounterOp::Outcome::kFailed; });
    }
    auto start = initial.find(key);
    if (start == initial.end()) {
      problems.push_back("operations on unknown GPU " + key);
      continue;
    }
    LinearizabilityResult r = CheckCounterHistory(ops, start->second.counter);
    if (!r.linearizable) {
      problems.push_back(key + ": " + std::to_string(ops.size()) + " operations are " +
                         (r.gave_up ? "too many to check: " : "not linearizable: ") + r.explanation);
    }
  }
  return problems;
}

std::vector<std::string> CheckReadsAt(const History& history, const std::vector<WatchEvent>& reference,
                                      const States& initial) {
  std::vector<std::string> problems;
  const Versions versions(reference, initial);
  for (const auto& [who, seen] : history.reads) {
    std::uint64_t next = 0;
    if (!versions.Known(seen, &next)) {
      problems.push_back(who + ": read " + Show(seen) + ", a version the server's history does not have");
    }
  }
  for (const GetAtRecord& g : history.gets_at) {
    // Not older than N: the version seen was still current at N.
    std::uint64_t next = 0;
    if (!versions.Known(g.seen, &next)) {
      problems.push_back(g.who + ": Get at " + std::to_string(g.asked) + " answered " + Show(g.seen) +
                         ", a version the server's history does not have");
    } else if (next != 0 && next <= g.asked) {
      problems.push_back(g.who + ": Get at " + std::to_string(g.asked) + " answered " + Show(g.seen) +
                         ", replaced at " + std::to_string(next));
    }
  }
  for (const ListRecord& l : history.lists) {
    const std::string what = l.who + ": List" + (l.exact ? " Exact at " : " at ") + std::to_string(l.asked);
    if (l.exact ? l.revision != l.asked : l.revision < l.asked) {
      problems.push_back(what + " answered revision " + std::to_string(l.revision));
    }
    const auto want = versions.At(l.revision);
    const auto got = Sorted(l.items);
    if (got != want) {
      problems.push_back(what + " (revision " + std::to_string(l.revision) + ") is " + ShowAll(got) +
                         ", the state then was " + ShowAll(want));
    }
  }
  return problems;
}

std::vector<std::string> CheckWatchers(const History& history, const std::vector<WatchEvent>& reference,
                                       const States& initial,
                                       const std::map<std::string, std::vector<std::string>>& selected) {
  std::vector<std::string> problems;
  const Versions versions(reference, initial);
  for (const WatcherRecord& w : history.watchers) {
    auto keys_it = selected.find(w.selector);
    if (keys_it == selected.end()) {
      problems.push_back(w.name + ": unknown selector " + w.selector);
      continue;
    }
    const std::set<std::string> keys(keys_it->second.begin(), keys_it->second.end());
    std::vector<Observed> want_list;
    for (const Observed& o : versions.At(w.list.revision)) {
      if (keys.count(o.key)) want_list.push_back(o);
    }
    if (Sorted(w.list.items) != want_list) {
      problems.push_back(w.name + ": list at " + std::to_string(w.list.revision) + " is " +
                         ShowAll(Sorted(w.list.items)) + ", the state then was " + ShowAll(want_list));
    }
    std::vector<WatchEvent> got;
    std::uint64_t resume = w.list.revision;
    for (const WatchSegment& s : w.segments) {
      if (s.from != resume) {
        problems.push_back(w.name + ": re-watched from " + std::to_string(s.from) + ", not " + std::to_string(resume));
      }
      got.insert(got.end(), s.events.begin(), s.events.end());
      if (!s.events.empty()) resume = s.events.back().object.rv;
      if (s.code == 11 /* OUT_OF_RANGE */) problems.push_back(w.name + ": watch ended: " + s.message);
    }
    std::vector<WatchEvent> want;
    for (const WatchEvent& e : reference) {
      if (e.object.rv > w.list.revision && e.object.rv <= resume && keys.count(e.object.key)) want.push_back(e);
    }
    std::size_t i = 0;
    while (i < got.size() && i < want.size() && got[i].type == want[i].type && got[i].object == want[i].object) ++i;
    if (i < got.size() || i < want.size()) {
      problems.push_back(w.name + ": event " + std::to_string(i) + " of " + std::to_string(want.size()) + " is " +
                         (i < got.size() ? got[i].type + " " + Show(got[i].object) : std::string("missing")) +
                         ", the server's history has " +
                         (i < want.size() ? want[i].type + " " + Show(want[i].object) : std::string("nothing more")));
    }
  }
  return problems;
}

}  // namespace deviceapi::consistency
