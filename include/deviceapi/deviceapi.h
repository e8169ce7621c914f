// Umbrella header of the device API C++ SDK.
#pragma once

#include "deviceapi/client.h"
#include "deviceapi/conditions.h"
#include "deviceapi/informer.h"
#include "deviceapi/lease.h"
#include "deviceapi/lister.h"
#include "deviceapi/retry.h"
#include "deviceapi/selector.h"
#include "deviceapi/status.h"
#include "deviceapi/types.h"
