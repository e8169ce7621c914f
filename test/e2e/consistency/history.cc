#include "history.h"

namespace deviceapi::consistency {

void History::AddOp(const std::string& key, CounterOp op) {
  std::lock_guard<std::mutex> lock(mu_);
  ops[key].push_back(std::move(op));
}

void History::AddRead(const std::string& who, const Observed& seen) {
  std::lock_guard<std::mutex> lock(mu_);
  reads.emplace_back(who, seen);
}

void History::AddAckedWrite(const Observed& written) {
  std::lock_guard<std::mutex> lock(mu_);
  acked_writes.push_back(written);
}

void History::AddUnknownWrite(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  ++unknown_writes[key];
}

void History::AddList(ListRecord list) {
  std::lock_guard<std::mutex> lock(mu_);
  lists.push_back(std::move(list));
}

void History::AddGetAt(GetAtRecord get) {
  std::lock_guard<std::mutex> lock(mu_);
  gets_at.push_back(std::move(get));
}

void History::AddWatcher(WatcherRecord watcher) {
  std::lock_guard<std::mutex> lock(mu_);
  watchers.push_back(std::move(watcher));
}

}  // namespace deviceapi::consistency
