// A linearizability checker for the counter the consistency test keeps per
// GPU: a register read by Get/List and changed only by compare-and-swap
// (UpdateGpuStatus with the resource_version read before, S5), each
// successful swap adding one.
//
// The algorithm is Wing & Gong's search with Lowe's memoization, as
// porcupine (github.com/anishathalye/porcupine) implements it: walk the
// history's call and return events in time order, linearize a pending call
// whenever the model accepts it, backtrack at a return whose call is not
// linearized yet, and never revisit a (set of linearized ops, state) pair
// already explored. Histories are checked one key at a time (P-compositional:
// linearizability is local).
//
// Not thread-safe; pure function of its input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace deviceapi::consistency {

// One operation on one key. Times are from one monotonic clock.
struct CounterOp {
  enum class Kind { kRead, kCas };
  // kOk: read returned `value` / swap applied; kFailed: swap refused
  // (ABORTED, S5); kUnknown: swap outcome unknown (error, deadline, server
  // killed): it may have applied, at any time after its call.
  enum class Outcome { kOk, kFailed, kUnknown };
  Kind kind = Kind::kRead;
  Outcome outcome = Outcome::kOk;
  std::int64_t value = 0;  // read: the value seen; swap: the value expected (sets value + 1)
  std::int64_t call_ns = 0;
  std::int64_t return_ns = 0;  // ignored for kUnknown (never returned)
  std::string label;           // for messages: who did what
};

struct LinearizabilityResult {
  bool linearizable = false;
  bool gave_up = false;  // the search exceeded its step budget
  // When not linearizable: the operations the search could not place, at its
  // deepest point, for a message.
  std::string explanation;
};

// Checks one key's history from `initial` value. `max_steps` bounds the
// search (each try of an operation is a step).
LinearizabilityResult CheckCounterHistory(const std::vector<CounterOp>& ops, std::int64_t initial,
                                          std::size_t max_steps = 50'000'000);

}  // namespace deviceapi::consistency
