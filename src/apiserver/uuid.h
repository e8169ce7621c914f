// Random (version 4) UUIDs for metadata.uid (S3).
#pragma once

#include <string>

namespace deviceapi::apiserver {

// "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx", lowercase, from a per-thread
// generator seeded by std::random_device. Thread-safe.
std::string NewUuidV4();

}  // namespace deviceapi::apiserver
