// Tries to bind a TCP address (SO_REUSEADDR as gRPC sets it, never
// SO_REUSEPORT) and releases it at once, so a port that is taken becomes one
// clear start-up error ("address already in use") instead of gRPC's generic
// failure and its log lines. The listener itself may still lose a race; that
// is reported too, only less precisely.
#pragma once

#include <string>

#include "base/listen_address.h"

namespace deviceapi::server {

bool CheckTcpBindable(const base::TcpAddress& address, std::string* error);

}  // namespace deviceapi::server
