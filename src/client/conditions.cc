#include "deviceapi/conditions.h"

#include <google/protobuf/util/message_differencer.h>
#include <google/protobuf/util/time_util.h>

namespace deviceapi {

const Condition* FindCondition(const GpuStatus& status, std::string_view type) {
  for (const auto& c : status.conditions())
    if (c.type() == type) return &c;
  return nullptr;
}

Condition* FindCondition(GpuStatus* status, std::string_view type) {
  for (auto& c : *status->mutable_conditions())
    if (c.type() == type) return &c;
  return nullptr;
}

bool IsConditionTrue(const GpuStatus& status, std::string_view type) {
  const Condition* c = FindCondition(status, type);
  return c != nullptr && c->status() == kConditionTrue;
}

bool SetCondition(GpuStatus* status, const Condition& condition,
                  std::chrono::system_clock::time_point now) {
  using google::protobuf::util::MessageDifferencer;
  using google::protobuf::util::TimeUtil;
  Condition next = condition;
  Condition* existing = FindCondition(status, condition.type());
  if (existing != nullptr && existing->status() == condition.status()) {
    // Same status: the transition happened earlier; keep its time (S6).
    *next.mutable_last_transition_time() = existing->last_transition_time();
  } else if (!condition.has_last_transition_time()) {
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch());
    *next.mutable_last_transition_time() = TimeUtil::MicrosecondsToTimestamp(us.count());
  }
  if (existing == nullptr) {
    *status->add_conditions() = std::move(next);
    return true;
  }
  if (MessageDifferencer::Equals(*existing, next)) return false;
  *existing = std::move(next);
  return true;
}

bool RemoveCondition(GpuStatus* status, std::string_view type) {
  auto* conds = status->mutable_conditions();
  for (int i = 0; i < conds->size(); ++i) {
    if (conds->Get(i).type() == type) {
      conds->erase(conds->begin() + i);
      return true;
    }
  }
  return false;
}

Condition MakeCondition(std::string_view type, std::string_view status,
                        std::string_view reason, std::string_view message) {
  Condition c;
  c.set_type(std::string(type));
  c.set_status(std::string(status));
  c.set_reason(std::string(reason));
  c.set_message(std::string(message));
  return c;
}

}  // namespace deviceapi
