// RawFlags -> Config: parses every value, checks ranges and cross-flag rules
// (port collisions, TLS pairs, loopback-only plaintext TCP), resolves the
// socket group and reads TLS files. On failure returns false with one line in
// `error`: `--flag "value": reason`.
#pragma once

#include <string>

#include "server/config.h"
#include "server/raw_flags.h"

namespace deviceapi::server {

bool BuildConfig(const RawFlags& raw, Config* config, std::string* error);

}  // namespace deviceapi::server
