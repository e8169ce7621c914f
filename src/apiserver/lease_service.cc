#include "apiserver/lease_service.h"

namespace deviceapi::apiserver {

LeaseServiceImpl::LeaseServiceImpl(store::Store& store, Readiness& readiness, ServiceLimits limits)
    : strategy_(limits), service_(store, readiness, strategy_) {}

}  // namespace deviceapi::apiserver
