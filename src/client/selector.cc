// The SDK's LabelSelector: a handle on the shared labels library's parsed
// selector, so that client and server can never disagree on the language.
#include "deviceapi/selector.h"

#include "labels/selector.h"

namespace deviceapi {

StatusOr<LabelSelector> LabelSelector::Parse(std::string_view text) {
  labels::ParsedSelector parsed = labels::Selector::Parse(text);
  if (!parsed.ok()) return Status(grpc::StatusCode::INVALID_ARGUMENT, parsed.error());
  LabelSelector out;
  if (!parsed->Empty()) out.selector_ = std::make_shared<const labels::Selector>(std::move(*parsed));
  return out;
}

bool LabelSelector::Empty() const { return !selector_ || selector_->Empty(); }

std::string LabelSelector::ToString() const { return selector_ ? selector_->ToString() : std::string(); }

bool LabelSelector::MatchesWith(const void* context, Lookup lookup) const {
  if (!selector_) return true;
  std::string key;
  return selector_->MatchesWith([&](std::string_view k) {
    key.assign(k);
    return lookup(context, key);
  });
}

}  // namespace deviceapi
