// The checks the consistency test runs on a recorded History, against the
// server's own log of changes: every event since the workload started, read
// back at the end by one watch from the starting revision (the "reference").
// Each returns the problems found, one line each; empty means it holds.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "history.h"

namespace deviceapi::consistency {

// The state every check starts from: each GPU as created, counter 0.
using States = std::map<std::string, Observed>;

// The reference itself: revisions strictly increase (S1, S2) and each GPU's
// counter goes up by exactly one per event, from its initial value (every
// change is one applied compare-and-swap, S5).
std::vector<std::string> CheckReference(const std::vector<WatchEvent>& reference, const States& initial);

// No acknowledged write is lost (S5, S24): each is in the reference with the
// counter it wrote, and each GPU's final counter is its acknowledged swaps
// plus at most the swaps whose outcome is unknown.
std::vector<std::string> CheckNoLostWrites(const History& history, const std::vector<WatchEvent>& reference,
                                           const States& initial, const States& final_state);

// Reads are linearizable (S8) per GPU, with the swaps as writes. A refused
// swap (ABORTED) is an observation too: the value had changed by then,
// unless `refused_swaps` is false.
std::vector<std::string> CheckLinearizable(const History& history, const States& initial,
                                           bool refused_swaps = true);

// Get at N answers a version not older than N (S9); a List is the state at
// its revision (S10) and that revision is at least the one asked for; an
// exact List is the state exactly at the revision asked for (S9).
std::vector<std::string> CheckReadsAt(const History& history, const std::vector<WatchEvent>& reference,
                                      const States& initial);

// Every watcher saw every revision of its GPUs after its list once, in
// order, with no gap across its re-watches (S12, S16); its list was the
// state at the list's revision. `selected` maps each selector to the GPUs it
// matches ("" matches all).
std::vector<std::string> CheckWatchers(const History& history, const std::vector<WatchEvent>& reference,
                                       const States& initial,
                                       const std::map<std::string, std::vector<std::string>>& selected);

}  // namespace deviceapi::consistency
