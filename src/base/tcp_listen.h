// A non-blocking TCP listening socket, as both daemons' own listeners (the admin HTTP
// server, the health-probe guard) open it.
#pragma once

#include <sys/socket.h>

#include <string>

namespace deviceapi::base {

// Listens on host:port (a numeric address; port 0 picks a free one). SO_REUSEADDR is set,
// as gRPC sets it, so a restart binds while old connections sit in TIME_WAIT; SO_REUSEPORT
// never is, so a second server fails to bind instead of sharing the port. IPv6 sockets
// accept IPv4 too. Returns 0 with *fd (non-blocking, close-on-exec) and *bound_port set,
// or an errno value.
int ListenTcp(const std::string& host, int port, int* fd, int* bound_port);

// An accepted peer's IP address, the key of per-peer connection caps ("127.0.0.1" for an
// IPv4-mapped IPv6 address too).
std::string PeerAddress(const sockaddr_storage& ss);

}  // namespace deviceapi::base
