#include "linearizability.h"

#include <algorithm>
#include <functional>
#include <unordered_map>

namespace deviceapi::consistency {
namespace {

// A call or return event in the doubly linked list the search walks.
struct Entry {
  bool is_call = false;
  std::size_t op = 0;
  std::int64_t time = 0;
  Entry* match = nullptr;  // call <-> return
  Entry* prev = nullptr;
  Entry* next = nullptr;
};

class Bitset {
 public:
  explicit Bitset(std::size_t n) : words_((n + 63) / 64, 0) {}
  void Set(std::size_t i) { words_[i / 64] |= std::uint64_t{1} << (i % 64); }
  void Clear(std::size_t i) { words_[i / 64] &= ~(std::uint64_t{1} << (i % 64)); }
  std::size_t Hash() const {
    std::size_t h = 0;
    for (std::uint64_t w : words_) h = h * 1000003u ^ std::hash<std::uint64_t>()(w);
    return h;
  }
  bool operator==(const Bitset& other) const { return words_ == other.words_; }

 private:
  std::vector<std::uint64_t> words_;
};

// The model: returns whether `op` may take effect in `state`, and the state after.
bool Step(const CounterOp& op, std::int64_t state, std::int64_t* next) {
  *next = state;
  if (op.kind == CounterOp::Kind::kRead) return op.value == state;
  switch (op.outcome) {
    case CounterOp::Outcome::kOk:
      if (state != op.value) return false;
      *next = state + 1;
      return true;
    case CounterOp::Outcome::kFailed:
      return state != op.value;
    case CounterOp::Outcome::kUnknown:
      // Applied if it took effect where the value matched; a swap that never
      // reached the server is one placed at the end, where nothing sees it.
      if (state == op.value) *next = state + 1;
      return true;
  }
  return false;
}

void Lift(Entry* e) {
  e->prev->next = e->next;
  if (e->next) e->next->prev = e->prev;
  Entry* m = e->match;
  m->prev->next = m->next;
  if (m->next) m->next->prev = m->prev;
}

void Unlift(Entry* e) {
  Entry* m = e->match;
  m->prev->next = m;
  if (m->next) m->next->prev = m;
  e->prev->next = e;
  if (e->next) e->next->prev = e;
}

std::string Describe(const CounterOp& op) {
  std::string kind = op.kind == CounterOp::Kind::kRead ? "read " : "cas from ";
  std::string outcome = op.outcome == CounterOp::Outcome::kOk       ? "ok"
                        : op.outcome == CounterOp::Outcome::kFailed ? "failed"
                                                                    : "unknown";
  return op.label + ": " + kind + std::to_string(op.value) + " " + outcome + " [" +
         std::to_string(op.call_ns) + ", " +
         (op.outcome == CounterOp::Outcome::kUnknown ? std::string("?")
                                                     : std::to_string(op.return_ns)) +
         "]";
}

}  // namespace

LinearizabilityResult CheckCounterHistory(const std::vector<CounterOp>& ops, std::int64_t initial,
                                          std::size_t max_steps) {
  LinearizabilityResult result;
  const std::size_t n = ops.size();
  std::vector<Entry> entries(2 * n);
  for (std::size_t i = 0; i < n; ++i) {
    Entry& call = entries[2 * i];
    Entry& ret = entries[2 * i + 1];
    call.is_call = true;
    call.op = ret.op = i;
    call.time = ops[i].call_ns;
    ret.time = ops[i].outcome == CounterOp::Outcome::kUnknown
                   ? std::numeric_limits<std::int64_t>::max()
                   : std::max(ops[i].return_ns, ops[i].call_ns);
    call.match = &ret;
    ret.match = &call;
  }
  std::vector<Entry*> order;
  order.reserve(entries.size());
  for (Entry& e : entries) order.push_back(&e);
  // Calls before returns at equal times: such operations overlap.
  std::sort(order.begin(), order.end(), [](const Entry* a, const Entry* b) {
    if (a->time != b->time) return a->time < b->time;
    return a->is_call && !b->is_call;
  });
  Entry head;
  Entry* last = &head;
  for (Entry* e : order) {
    last->next = e;
    e->prev = last;
    last = e;
  }

  struct Seen {
    Bitset linearized;
    std::int64_t state;
  };
  std::unordered_map<std::size_t, std::vector<Seen>> cache;
  auto remember = [&](const Bitset& b, std::int64_t state) {
    auto& bucket = cache[b.Hash() * 31 + std::hash<std::int64_t>()(state)];
    for (const Seen& s : bucket) {
      if (s.state == state && s.linearized == b) return false;
    }
    bucket.push_back({b, state});
    return true;
  };

  Bitset linearized(n);
  std::vector<std::pair<Entry*, std::int64_t>> calls;  // linearized calls, state before each
  std::int64_t state = initial;
  std::size_t deepest = 0;
  std::string stuck;
  std::size_t steps = 0;
  Entry* entry = head.next;
  while (head.next != nullptr) {
    if (++steps > max_steps) {
      result.gave_up = true;
      result.explanation = "search exceeded " + std::to_string(max_steps) + " steps";
      return result;
    }
    if (entry->is_call) {
      std::int64_t next = 0;
      if (Step(ops[entry->op], state, &next)) {
        Bitset with = linearized;
        with.Set(entry->op);
        if (remember(with, next)) {
          calls.emplace_back(entry, state);
          state = next;
          linearized = std::move(with);
          Lift(entry);
          entry = head.next;
          continue;
        }
      }
      entry = entry->next;
    } else {
      // A return whose call could not be placed before it: backtrack.
      if (calls.size() >= deepest) {
        deepest = calls.size();
        stuck = "after " + std::to_string(deepest) + " operations linearized (value " +
                std::to_string(state) + "), cannot place " + Describe(ops[entry->op]);
      }
      if (calls.empty()) {
        result.explanation = stuck;
        return result;
      }
      auto [call, before] = calls.back();
      calls.pop_back();
      state = before;
      linearized.Clear(call->op);
      Unlift(call);
      entry = call->next;
    }
  }
  result.linearizable = true;
  return result;
}

}  // namespace deviceapi::consistency
